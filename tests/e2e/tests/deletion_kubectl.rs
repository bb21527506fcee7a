//! The deletion lifecycle (#21) through kubectl against the running stack,
//! whose gc worker (`gc --watch`) collects in the background: finalizers
//! and a Terminating namespace, and `kubectl delete --cascade` with each
//! propagation policy, as Kubernetes users know them.

use e2e::{unique, until_gone, Kubeconfig, Stack};

fn org_yaml(name: &str) -> String {
    format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: {name}\nspec:\n  type: Standard\n")
}

fn project_yaml(name: &str, org: &str) -> String {
    format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: {name}\nspec:\n  ownerRef:\n    kind: Organization\n    name: {org}\n")
}

/// A project's control plane, with a fresh organization and project.
fn project(stack: &Stack) -> (Kubeconfig, Kubeconfig, String) {
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let (org, project) = (unique("del"), unique("delp"));
    platform.ok(&["create", "-f", "-"], Some(&org_yaml(&org)));
    platform.ok(&["create", "-f", "-"], Some(&project_yaml(&project, &org)));
    let kube = stack.kubeconfig(&stack.project_url(&project), &stack.token);
    (platform, kube, org)
}

fn configmap(name: &str, owner: Option<(&str, &str)>, finalizer: Option<&str>) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n"
    );
    if let Some((owner, uid)) = owner {
        yaml += &format!("  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {uid}\n    blockOwnerDeletion: true\n");
    }
    if let Some(finalizer) = finalizer {
        yaml += &format!("  finalizers:\n  - {finalizer}\n");
    }
    yaml + "data:\n  k: v\n"
}

fn uid_of(kube: &Kubeconfig, name: &str) -> String {
    kube.ok(
        &[
            "get",
            "configmap",
            name,
            "-n",
            "default",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    )
}

/// An owner and its dependent, created with kubectl.
fn owner_and_dependent(kube: &Kubeconfig, owner: &str, dependent: &str) {
    kube.ok(&["create", "-f", "-"], Some(&configmap(owner, None, None)));
    let uid = uid_of(kube, owner);
    kube.ok(
        &["create", "-f", "-"],
        Some(&configmap(dependent, Some((owner, &uid)), None)),
    );
}

#[test]
fn kubectl_delete_cascade_background_foreground_and_orphan() {
    let stack = Stack::from_env();
    let (_, kube, _) = project(&stack);

    owner_and_dependent(&kube, "bg-owner", "bg-dependent");
    kube.ok(
        &[
            "delete",
            "configmap",
            "bg-owner",
            "-n",
            "default",
            "--cascade=background",
        ],
        None,
    );
    until_gone(&kube, &["configmap", "bg-dependent", "-n", "default"]);

    owner_and_dependent(&kube, "fg-owner", "fg-dependent");
    let out = kube.ok(
        &[
            "delete",
            "configmap",
            "fg-owner",
            "-n",
            "default",
            "--cascade=foreground",
            "--wait=false",
        ],
        None,
    );
    assert!(out.contains("deleted"), "{out}");
    until_gone(&kube, &["configmap", "fg-owner", "-n", "default"]);
    until_gone(&kube, &["configmap", "fg-dependent", "-n", "default"]);

    owner_and_dependent(&kube, "or-owner", "or-dependent");
    kube.ok(
        &[
            "delete",
            "configmap",
            "or-owner",
            "-n",
            "default",
            "--cascade=orphan",
            "--wait=false",
        ],
        None,
    );
    until_gone(&kube, &["configmap", "or-owner", "-n", "default"]);
    let owners = kube.ok(
        &[
            "get",
            "configmap",
            "or-dependent",
            "-n",
            "default",
            "-o",
            "jsonpath={.metadata.ownerReferences}",
        ],
        None,
    );
    assert_eq!(owners, "", "the orphan keeps no reference to its owner");
}

#[test]
fn kubectl_sees_a_finalizer_hold_an_object_and_a_namespace_terminate() {
    let stack = Stack::from_env();
    let (platform, kube, org) = project(&stack);
    kube.ok(
        &["create", "-f", "-"],
        Some(&configmap("held", None, Some("example.com/hold"))),
    );
    kube.ok(
        &[
            "delete",
            "configmap",
            "held",
            "-n",
            "default",
            "--wait=false",
        ],
        None,
    );
    let since = kube.ok(
        &[
            "get",
            "configmap",
            "held",
            "-n",
            "default",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ],
        None,
    );
    assert!(!since.is_empty(), "it waits, Terminating");
    // `kubectl wait --for=delete` waits while it is held, and sees it go
    // once its finalizer is released (by listing: watch comes with #22).
    let release = r#"{"metadata":{"finalizers":null}}"#;
    let waited = std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let wait = [
                "wait",
                "--for=delete",
                "configmap/held",
                "-n",
                "default",
                "--timeout=60s",
            ];
            kube.kubectl(&wait, None)
        });
        std::thread::sleep(std::time::Duration::from_secs(2));
        let patch = [
            "patch",
            "configmap",
            "held",
            "-n",
            "default",
            "--type=merge",
            "-p",
            release,
        ];
        kube.ok(&patch, None);
        waiting.join().expect("kubectl wait ran")
    });
    assert!(waited.ok, "{} {}", waited.stdout, waited.stderr);
    assert!(waited.stdout.contains("condition met"), "{}", waited.stdout);

    // A namespace with held contents shows Terminating, and outlives them.
    kube.ok(&["create", "namespace", "work"], None);
    let mut held = configmap("inside", None, Some("example.com/hold"));
    held = held.replace("namespace: default", "namespace: work");
    kube.ok(&["create", "-f", "-"], Some(&held));
    kube.ok(&["delete", "namespace", "work", "--wait=false"], None);
    let table = kube.ok(&["get", "namespace", "work"], None);
    assert!(table.contains("Terminating"), "{table}");
    kube.ok(
        &[
            "patch",
            "configmap",
            "inside",
            "-n",
            "work",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
        None,
    );
    until_gone(&kube, &["namespace", "work"]);

    platform.ok(&["delete", "organization", &org, "--wait=false"], None);
    until_gone(&platform, &["organization", &org]);
}
