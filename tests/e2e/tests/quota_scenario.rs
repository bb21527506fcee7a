//! Milo conformance (issue 5): the scenario
//! ../shared/milo/scenarios/quota-core-functionality, step by step as its
//! chainsaw-test.yaml runs it, with kubectl against the running stack: a
//! registration Active, a claim policy Ready, an organization with a grant
//! of 2 projects, two projects created in the organization's context with
//! Granted claims, the third refused with nothing left behind, and the
//! claims gone with their projects.

use e2e::{Kubeconfig, Stack};
use serde_json::Value;

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/milo/scenarios/quota-core-functionality"
);
const ORG: &str = "core-test-basic-quota-org";
const NS: &str = "organization-core-test-basic-quota-org";

fn file(name: &str) -> String {
    format!("{SCENARIO}/{name}")
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).expect("kubectl -o json")
}

/// The scenario's names are fixed: a rerun on the same stack starts by
/// removing what an earlier run left.
fn clean(platform: &Kubeconfig, org: &Kubeconfig) {
    for p in [
        "core-test-basic-project-1",
        "core-test-basic-project-2",
        "core-test-exceeds-project-1",
    ] {
        org.kubectl(&["delete", "project", p, "--ignore-not-found"], None);
    }
    platform.kubectl(
        &[
            "delete",
            "-f",
            &file("basic-quota-grant.yaml"),
            "--ignore-not-found",
        ],
        None,
    );
    platform.kubectl(&["delete", "organization", ORG, "--ignore-not-found"], None);
    for f in [
        "project-creation-policy.yaml",
        "01-resource-registration.yaml",
    ] {
        platform.kubectl(&["delete", "-f", &file(f), "--ignore-not-found"], None);
    }
}

fn wait(kube: &Kubeconfig, what: &str, namespace: Option<&str>, condition: &str) {
    let mut args = vec!["wait", condition, what, "--timeout=30s"];
    if let Some(ns) = namespace {
        args.extend(["-n", ns]);
    }
    let out = kube.ok(&args, None);
    assert!(out.contains("condition met"), "{what}: {out}");
}

#[test]
fn milo_quota_core_functionality_scenario() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let org = stack.kubeconfig(&stack.organization_url(ORG), &stack.token);
    clean(&platform, &org);

    // setup-base-infrastructure
    platform.ok(
        &["create", "-f", &file("01-resource-registration.yaml")],
        None,
    );
    wait(
        &platform,
        "resourceregistration/core-test-projects-per-org",
        None,
        "--for=condition=Active",
    );

    // setup-claim-creation-policy
    platform.ok(
        &["create", "-f", &file("project-creation-policy.yaml")],
        None,
    );
    wait(
        &platform,
        "claimcreationpolicy/core-test-project-quota-policy",
        None,
        "--for=condition=Ready",
    );

    // setup-basic-organization
    platform.ok(
        &["create", "-f", &file("02-basic-quota-organization.yaml")],
        None,
    );
    wait(
        &platform,
        &format!("namespace/{NS}"),
        None,
        "--for=jsonpath={.status.phase}=Active",
    );

    // create-basic-resource-grant
    platform.ok(&["create", "-f", &file("basic-quota-grant.yaml")], None);
    wait(
        &platform,
        "resourcegrant/core-test-basic-quota-org-grant",
        Some(NS),
        "--for=condition=Active",
    );

    // test-projects-within-quota (in the organization's context)
    org.ok(
        &[
            "create",
            "-f",
            &file("test-data/projects-within-quota.yaml"),
        ],
        None,
    );
    for p in ["core-test-basic-project-1", "core-test-basic-project-2"] {
        wait(&org, &format!("project/{p}"), None, "--for=condition=Ready");
    }

    // verify-resource-claims: assertions/assert-resource-claims.yaml
    let claims = json(&platform.ok(
        &[
            "get",
            "resourceclaims",
            "-n",
            NS,
            "-l",
            "quota.miloapis.com/auto-created=true",
            "-o",
            "json",
        ],
        None,
    ));
    let items = claims["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{claims}");
    for (claim, project) in items
        .iter()
        .zip(["core-test-basic-project-1", "core-test-basic-project-2"])
    {
        assert_eq!(
            claim["metadata"]["labels"]["quota.miloapis.com/test"],
            "true"
        );
        let owner = &claim["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["name"].as_str()),
            (Some("Project"), Some(project))
        );
        assert_eq!(owner["controller"], false);
        assert_eq!(claim["spec"]["consumerRef"]["name"], ORG);
        assert_eq!(claim["spec"]["resourceRef"]["name"], project);
        assert_eq!(
            claim["spec"]["requests"][0]["resourceType"],
            "test.corefunction.miloapis.com/projects"
        );
        let granted = claim["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Granted"))
            .expect("Granted");
        assert_eq!(granted["status"], "True");
        assert_eq!(granted["reason"], "QuotaAvailable");
        assert_eq!(
            granted["message"],
            "All 1 resource requests have been granted"
        );
    }

    // test-quota-enforcement
    let denied = org.kubectl(
        &[
            "create",
            "-f",
            &file("test-data/project-exceeds-quota.yaml"),
        ],
        None,
    );
    assert!(!denied.ok, "the project over quota was created: {denied:?}");
    assert!(denied.stderr.contains("Forbidden"), "{denied:?}");
    assert!(denied.stderr.contains("limit 2"), "{denied:?}");

    // verify-denied-claim-cleanup: no claim was ever written for it
    let none = platform.ok(
        &[
            "get",
            "resourceclaims",
            "-n",
            NS,
            "-l",
            "quota.miloapis.com/resource-name=core-test-exceeds-project-1",
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(json(&none)["items"], serde_json::json!([]));

    // The bucket shows the usage (`kubectl get allowancebuckets`).
    let buckets = platform.ok(&["get", "allowancebuckets", "-n", NS], None);
    assert!(
        buckets.contains("LIMIT") && buckets.contains("ALLOCATED"),
        "{buckets}"
    );

    // delete-successful-projects
    for p in ["core-test-basic-project-1", "core-test-basic-project-2"] {
        org.ok(&["delete", "project", p], None);
    }

    // verify-complete-cleanup
    let left = platform.ok(
        &[
            "get",
            "resourceclaims",
            "-n",
            NS,
            "-l",
            "quota.miloapis.com/auto-created=true",
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(json(&left)["items"], serde_json::json!([]));

    clean(&platform, &org);
}
