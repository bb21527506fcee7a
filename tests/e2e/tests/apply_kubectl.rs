//! Server-side apply (#23) as the real clients drive it against the running
//! stack: `kubectl apply --server-side` creating, conflicting and forcing,
//! taking over what a client-side `kubectl apply` made, `kubectl diff
//! --server-side`, and the Python client's `server_side_apply`.

use e2e::{unique, Kubeconfig, Stack};
use serde_json::Value;

fn project(stack: &Stack) -> Kubeconfig {
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let (org, project) = (unique("ssa"), unique("ssap"));
    let org_yaml = format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: {org}\nspec:\n  type: Standard\n");
    let project_yaml = format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\nspec:\n  ownerRef:\n    kind: Organization\n    name: {org}\n");
    platform.ok(&["create", "-f", "-"], Some(&org_yaml));
    platform.ok(&["create", "-f", "-"], Some(&project_yaml));
    stack.kubeconfig(&stack.project_url(&project), &stack.token)
}

fn configmap(name: &str, data: &[(&str, &str)]) -> String {
    let data: String = data
        .iter()
        .map(|(k, v)| format!("  {k}: \"{v}\"\n"))
        .collect();
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n{data}")
}

fn get(kube: &Kubeconfig, name: &str) -> Value {
    let out = kube.ok(
        &[
            "get",
            "configmap",
            name,
            "-o",
            "json",
            "--show-managed-fields",
        ],
        None,
    );
    serde_json::from_str(&out).expect("json")
}

/// Each manager as `name:Operation`.
fn managers(object: &Value) -> Vec<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|m| {
                    format!(
                        "{}:{}",
                        m["manager"].as_str().unwrap(),
                        m["operation"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kubectl_apply_server_side_creates_conflicts_forces_and_diffs() {
    let stack = Stack::from_env();
    let kube = project(&stack);
    let first = configmap("settings", &[("a", "1"), ("b", "2")]);
    let out = kube.ok(&["apply", "--server-side", "-f", "-"], Some(&first));
    assert!(out.contains("serverside-applied"), "{out}");
    let created = get(&kube, "settings");
    assert_eq!(managers(&created), vec!["kubectl:Apply"]);
    assert_eq!(
        created["metadata"]["managedFields"][0]["fieldsV1"],
        serde_json::json!({"f:data": {"f:a": {}, "f:b": {}}})
    );

    let theirs = configmap("settings", &[("a", "9")]);
    let refused = kube.kubectl(
        &["apply", "--server-side", "--field-manager=ops", "-f", "-"],
        Some(&theirs),
    );
    assert!(!refused.ok, "a conflict: {refused:?}");
    assert!(refused.stderr.contains("conflict"), "{}", refused.stderr);
    assert!(refused.stderr.contains(".data.a"), "{}", refused.stderr);
    assert_eq!(get(&kube, "settings")["data"]["a"], "1", "nothing written");

    kube.ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=ops",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&theirs),
    );
    let forced = get(&kube, "settings");
    assert_eq!(forced["data"], serde_json::json!({"a": "9", "b": "2"}));
    assert_eq!(managers(&forced), vec!["kubectl:Apply", "ops:Apply"]);

    // kubectl diff --server-side: a dry-run apply, shown as a diff.
    let changed = configmap("settings", &[("b", "3")]);
    let diff = kube.kubectl(
        &[
            "diff",
            "--server-side",
            "--field-manager=kubectl",
            "-f",
            "-",
        ],
        Some(&changed),
    );
    assert_eq!(diff.code, Some(1), "a difference: {diff:?}");
    assert!(diff.stdout.contains("+  b: \"3\""), "{}", diff.stdout);
    assert_eq!(
        get(&kube, "settings")["data"]["b"],
        "2",
        "a diff writes nothing"
    );
}

#[test]
fn a_server_side_apply_takes_over_what_client_side_apply_made() {
    let stack = Stack::from_env();
    let kube = project(&stack);
    let made = configmap("legacy", &[("a", "1"), ("b", "2")]);
    kube.ok(&["apply", "-f", "-"], Some(&made));
    let before = get(&kube, "legacy");
    assert_eq!(managers(&before), vec!["kubectl-client-side-apply:Update"]);

    // The same file, one key dropped, applied server-side: no conflict with
    // the client-side manager, and the dropped key goes.
    let now = configmap("legacy", &[("a", "1")]);
    kube.ok(&["apply", "--server-side", "-f", "-"], Some(&now));
    let after = get(&kube, "legacy");
    assert_eq!(after["data"], serde_json::json!({"a": "1"}), "{after}");
    // kubectl moved the client-side manager's fields to its own apply, and
    // the last-applied annotation to a manager of its own.
    let managers = managers(&after);
    assert!(managers.contains(&"kubectl:Apply".to_string()), "{after}");
    assert!(
        !managers.contains(&"kubectl-client-side-apply:Update".to_string()),
        "{after}"
    );
}

#[test]
fn the_python_clients_server_side_apply_creates_and_shares() {
    let stack = Stack::from_env();
    let kube = project(&stack);
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/venv/bin/python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python_apply.py");
    let run = |manager: &str, value: &str| -> Value {
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg(&kube.path)
            .args(["py", manager, value])
            .output()
            .expect("the venv's python (localstack/install.sh installs the kubernetes client)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let created = run("py-one", "x");
    assert_eq!(created["data"]["k"], "x");
    assert_eq!(created["managers"], serde_json::json!(["py-one:Apply"]));
    // The same value from a second manager: shared, no conflict.
    let shared = run("py-two", "x");
    assert_eq!(
        shared["managers"],
        serde_json::json!(["py-one:Apply", "py-two:Apply"])
    );
}

/// Milo's samples (../shared/milo/samples: organization, project, roles,
/// protected resources, a policy binding) applied with `kubectl apply
/// --server-side`, twice: created, then applied again unchanged.
#[test]
fn milos_samples_apply_server_side() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/milo/samples");
    // The roles' namespace, as a Milo installation has it.
    let namespace = platform.kubectl(&["create", "namespace", "datum-system"], None);
    assert!(
        namespace.ok || namespace.stderr.contains("AlreadyExists"),
        "{namespace:?}"
    );
    let files = [
        "resourcemanager-organization.yaml",
        "resourcemanager-project.yaml",
        "iam-role.yaml",
        "iam-protectedresource.yaml",
        "iam-policybinding.yaml",
    ];
    for round in ["created", "again"] {
        for file in files {
            let path = format!("{samples}/{file}");
            let out = platform.ok(&["apply", "--server-side", "-f", &path], None);
            assert!(out.contains("serverside-applied"), "{round} {file}: {out}");
        }
    }
    let org = platform.ok(
        &[
            "get",
            "organization",
            "datum",
            "-o",
            "json",
            "--show-managed-fields",
        ],
        None,
    );
    let org: Value = serde_json::from_str(&org).expect("json");
    assert!(
        managers(&org).contains(&"kubectl:Apply".to_string()),
        "{org}"
    );
    assert_eq!(
        org["metadata"]["annotations"]["kubernetes.io/display-name"],
        "Datum Technology, Inc."
    );
}
