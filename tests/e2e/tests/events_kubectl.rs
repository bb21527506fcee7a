//! Event recording (#22) as kubectl shows it against the running stack:
//! `kubectl describe` lists an object's Events (it selects them by
//! involvedObject name, namespace, kind and uid), and `kubectl get events
//! --field-selector involvedObject.name=X` finds them.

use e2e::quota_docs::{organization_grant, project_claim_policy, project_registration};
use e2e::{unique, Kubeconfig, Stack};
use serde_json::json;

fn yaml(doc: &serde_json::Value) -> String {
    serde_yaml::to_string(doc).expect("yaml")
}

fn organization(name: &str) -> String {
    format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: {name}\nspec:\n  type: Standard\n")
}

fn project(name: &str, org: &str) -> String {
    format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: {name}\nspec:\n  ownerRef:\n    kind: Organization\n    name: {org}\n")
}

/// The section of `kubectl describe` after its `Events:` heading.
fn events_section(described: &str) -> &str {
    described
        .split_once("Events:")
        .map(|(_, events)| events)
        .unwrap_or_else(|| panic!("no Events: section in\n{described}"))
}

#[test]
fn a_quota_denial_shows_in_kubectl_describe_and_get_events() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let org = unique("evq");
    let resource_type = format!("events.e2e.miloapis.com/{org}");
    for doc in [
        project_registration(&org, &resource_type),
        project_claim_policy(&org, &resource_type, &org),
    ] {
        platform.ok(&["create", "-f", "-"], Some(&yaml(&doc)));
    }
    platform.ok(&["create", "-f", "-"], Some(&organization(&org)));
    let grant = organization_grant(&org, &org, &resource_type, 1);
    platform.ok(&["create", "-f", "-"], Some(&yaml(&grant)));
    let in_org = stack.kubeconfig(&stack.organization_url(&org), &stack.token);
    in_org.ok(
        &["create", "-f", "-"],
        Some(&project(&format!("{org}-a"), &org)),
    );

    let refused = in_org.kubectl(
        &["create", "-f", "-"],
        Some(&project(&format!("{org}-b"), &org)),
    );
    assert!(!refused.ok, "over quota: {refused:?}");
    assert!(refused.stderr.contains("Forbidden"), "{}", refused.stderr);

    let described = platform.ok(&["describe", "organization", &org], None);
    let events = events_section(&described);
    for part in ["Warning", "QuotaExceeded", "create of projects", "limit 1"] {
        assert!(events.contains(part), "{part:?} in\n{described}");
    }
    let selector = format!("involvedObject.name={org}");
    let listed = platform.ok(
        &["get", "events", "-A", "--field-selector", &selector],
        None,
    );
    assert!(listed.contains("QuotaExceeded"), "{listed}");
    // Another object's name selects none of them.
    let other = platform.ok(
        &[
            "get",
            "events",
            "-A",
            "--field-selector",
            "involvedObject.name=nothing-here",
        ],
        None,
    );
    assert!(!other.contains("QuotaExceeded"), "{other}");
    cleanup(&platform, &org);
}

#[test]
fn an_admission_warning_shows_in_kubectl_describe_project_in_its_organization() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let org = unique("evw");
    let name = format!("{org}-policy");
    // Only this test's organization's projects match: the stack is shared.
    let policy = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": name},
    "spec": {
        "matchConstraints": {"resourceRules": [{"apiGroups": ["resourcemanager.miloapis.com"],
            "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["projects"]}]},
        "matchConditions": [{"name": "this-test", "expression": format!("object.metadata.name.startsWith('{org}')")}],
        "validations": [{"expression": "false", "message": "projects here are reviewed"}]
    }});
    let binding = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name}, "spec": {"policyName": name, "validationActions": ["Warn"]}});
    platform.ok(&["create", "-f", "-"], Some(&yaml(&policy)));
    platform.ok(&["create", "-f", "-"], Some(&yaml(&binding)));
    platform.ok(&["create", "-f", "-"], Some(&organization(&org)));
    let in_org = stack.kubeconfig(&stack.organization_url(&org), &stack.token);
    let reviewed = format!("{org}-p");
    in_org.ok(&["create", "-f", "-"], Some(&project(&reviewed, &org)));

    let described = in_org.ok(&["describe", "project", &reviewed], None);
    let events = events_section(&described);
    for part in ["Warning", "AdmissionWarning", "projects here are reviewed"] {
        assert!(events.contains(part), "{part:?} in\n{described}");
    }
    platform.ok(&["delete", "validatingadmissionpolicybinding", &name], None);
    platform.ok(&["delete", "validatingadmissionpolicy", &name], None);
    cleanup(&platform, &org);
}

fn cleanup(platform: &Kubeconfig, org: &str) {
    platform.kubectl(&["delete", "organization", org, "--wait=false"], None);
}
