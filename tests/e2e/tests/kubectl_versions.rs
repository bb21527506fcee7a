//! The README's kubectl commands with the kubectl versions people run: the
//! oldest supported (1.29, installed by localstack/install.sh into
//! .local/kubectl/1.29) and the current one on PATH. kubectl 1.32 and older
//! drop the server URL's path for `get --raw`, so the local API is served at
//! the root of its port and the kubeconfig's server is that root.

use e2e::{unique, Kubeconfig, Output, Stack};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";

fn kubectl_129() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.local/kubectl/1.29/kubectl"
    );
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is missing: localstack/install.sh installs it (x86-64 machines)"
    );
    path.to_owned()
}

fn ok(kube: &Kubeconfig, kubectl: &str, args: &[&str]) -> String {
    let out: Output = kube.kubectl_binary(kubectl, args);
    assert!(
        out.ok,
        "{kubectl} {args:?} failed:\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out.stdout
}

fn minor_version(kube: &Kubeconfig, kubectl: &str) -> u32 {
    let json: serde_json::Value =
        serde_json::from_str(&ok(kube, kubectl, &["version", "--client", "-o", "json"]))
            .expect("kubectl version -o json");
    json["clientVersion"]["minor"]
        .as_str()
        .and_then(|m| m.trim_end_matches('+').parse().ok())
        .expect("a minor version")
}

#[test]
fn the_readmes_kubectl_commands_work_with_kubectl_1_29_and_the_current_one() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let old = kubectl_129();
    assert_eq!(minor_version(&platform, &old), 29);
    let current = "kubectl".to_owned();
    assert!(minor_version(&platform, &current) >= 33);

    for kubectl in [&old, &current] {
        let org = unique("kv");
        let project = format!("{org}-p");

        // kubectl create -f ..., kubectl get organizations
        let org_yaml = format!(
            "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: {org}\nspec:\n  type: Standard\n"
        );
        let file = platform.dir.join(format!("{org}.yaml"));
        std::fs::write(&file, org_yaml).expect("write the organization's file");
        let created = ok(
            &platform,
            kubectl,
            &["create", "-f", &file.to_string_lossy()],
        );
        assert!(created.contains("created"), "{created}");
        let table = ok(&platform, kubectl, &["get", "organizations"]);
        assert!(table.contains(&org), "{table}");

        // kubectl apply -f ..., get -l ..., wait --for=condition=Ready
        let project_yaml = format!(
            "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\nspec:\n  ownerRef:\n    kind: Organization\n    name: {org}\n"
        );
        let file = platform.dir.join(format!("{project}.yaml"));
        std::fs::write(&file, project_yaml).expect("write the project's file");
        ok(
            &platform,
            kubectl,
            &["apply", "-f", &file.to_string_lossy()],
        );
        let selected = ok(
            &platform,
            kubectl,
            &[
                "get",
                "projects",
                "-l",
                &format!("resourcemanager.miloapis.com/organization-name={org}"),
                "-o",
                "name",
            ],
        );
        assert!(selected.contains(&project), "{selected}");
        let waited = ok(
            &platform,
            kubectl,
            &[
                "wait",
                "--for=condition=Ready",
                &format!("project/{project}"),
                "--timeout=60s",
            ],
        );
        assert!(waited.contains("condition met"), "{waited}");
        ok(&platform, kubectl, &["api-resources"]);

        // kubectl get --raw: the OpenAPI index and the README's quota tree.
        let openapi: serde_json::Value =
            serde_json::from_str(&ok(&platform, kubectl, &["get", "--raw", "/openapi/v3"]))
                .expect("the OpenAPI index is JSON");
        assert!(
            openapi["paths"]
                .as_object()
                .is_some_and(|p| p.contains_key("apis/resourcemanager.miloapis.com/v1alpha1")),
            "{openapi}"
        );
        let tree = ok(
            &platform,
            kubectl,
            &[
                "get",
                "--raw",
                &format!("/apis/quota.miloapis.com/v1alpha1/quotatrees/{org}?format=text"),
            ],
        );
        assert!(
            tree.contains(&format!("Organization/{org}"))
                && tree.contains(&format!("Project/{project}")),
            "{tree}"
        );

        // The organization's control plane: the server's root plus its prefix.
        let control_plane = stack.kubeconfig(
            &format!("{}{G}/organizations/{org}/control-plane", stack.kube_server),
            &stack.token,
        );
        let projects = ok(&control_plane, kubectl, &["get", "projects", "-o", "name"]);
        assert_eq!(
            projects.trim(),
            format!("project.resourcemanager.miloapis.com/{project}"),
            "{kubectl}"
        );

        ok(&platform, kubectl, &["delete", "project", &project]);
        ok(&platform, kubectl, &["delete", "organization", &org]);
    }
}
