//! Milo conformance (issue 4): the scenario
//! ../shared/milo/scenarios/admission-validating-admission-policy, step by
//! step as its chainsaw-test.yaml runs it, with kubectl against the running
//! stack: the policy and two organizations applied in the platform context,
//! then in each organization's context a badly named project refused and a
//! well named one created, Ready, owned by its organization.

use e2e::{Kubeconfig, Stack};

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/milo/scenarios/admission-validating-admission-policy"
);

fn file(name: &str) -> String {
    format!("{SCENARIO}/{name}")
}

/// The scenario's names are fixed, so a rerun on the same stack starts by
/// removing what an earlier run left.
fn clean(platform: &Kubeconfig, orgs: &[(&str, Kubeconfig)]) {
    for (suffix, kube) in orgs {
        kube.kubectl(
            &[
                "delete",
                "project",
                &format!("vap-ok-good-{suffix}"),
                "--ignore-not-found",
            ],
            None,
        );
        platform.kubectl(
            &[
                "delete",
                "organization",
                &format!("test-vap-org-{suffix}"),
                "--ignore-not-found",
            ],
            None,
        );
    }
    platform.kubectl(
        &[
            "delete",
            "-f",
            &file("resources/policy.yaml"),
            "--ignore-not-found",
        ],
        None,
    );
}

#[test]
fn milo_validating_admission_policy_scenario() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let orgs: Vec<(&str, Kubeconfig)> = ["a", "b"]
        .into_iter()
        .map(|suffix| {
            let url = stack.organization_url(&format!("test-vap-org-{suffix}"));
            (suffix, stack.kubeconfig(&url, &stack.token))
        })
        .collect();
    clean(&platform, &orgs);

    // apply-policy-and-orgs
    platform.ok(&["apply", "-f", &file("resources/policy.yaml")], None);
    std::thread::sleep(std::time::Duration::from_secs(2));
    for (suffix, _) in &orgs {
        platform.ok(
            &[
                "apply",
                "-f",
                &file(&format!("resources/org-{suffix}.yaml")),
            ],
            None,
        );
    }

    for (suffix, kube) in &orgs {
        // deny-projects-with-bad-names-org{A,B}
        let bad = kube.kubectl(
            &[
                "apply",
                "-f",
                &file(&format!("resources/project-bad-{suffix}.yaml")),
            ],
            None,
        );
        assert!(!bad.ok, "a badly named project was created: {bad:?}");
        assert!(
            bad.stderr
                .contains("Project name must start with 'vap-ok-'."),
            "{bad:?}"
        );
        assert!(
            bad.stderr
                .contains("ValidatingAdmissionPolicy 'project-name-requires-ok-prefix'"),
            "{bad:?}"
        );

        // allow-projects-with-ok-prefix-org{A,B}
        let project = format!("vap-ok-good-{suffix}");
        kube.ok(
            &[
                "apply",
                "-f",
                &file(&format!("resources/project-good-{suffix}.yaml")),
            ],
            None,
        );
        let wait = kube.ok(
            &[
                "wait",
                "--for=condition=Ready",
                &format!("project/{project}"),
                "--timeout=30s",
            ],
            None,
        );
        assert!(wait.contains("condition met"), "{wait}");
        // assertions/assert-project-{a,b}-owner.yaml
        let got: serde_json::Value =
            serde_json::from_str(&kube.ok(&["get", "project", &project, "-o", "json"], None))
                .expect("json");
        let org = format!("test-vap-org-{suffix}");
        assert_eq!(
            got["metadata"]["labels"]["resourcemanager.miloapis.com/organization-name"],
            org.as_str()
        );
        let owner = &got["metadata"]["ownerReferences"][0];
        assert_eq!(
            (&owner["apiVersion"], &owner["kind"], &owner["name"]),
            (
                &serde_json::json!("resourcemanager.miloapis.com/v1alpha1"),
                &serde_json::json!("Organization"),
                &serde_json::json!(org)
            )
        );
        assert_eq!(got["spec"]["ownerRef"]["kind"], "Organization");
        assert_eq!(got["spec"]["ownerRef"]["name"], org.as_str());
    }

    // The binding selects by label: a project without the scenario's label
    // is not subject to the policy.
    let (_, kube) = &orgs[0];
    let unlabelled = "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: no-prefix-unlabelled\n";
    kube.ok(&["apply", "-f", "-"], Some(unlabelled));
    kube.ok(&["delete", "project", "no-prefix-unlabelled"], None);

    clean(&platform, &orgs);
}
