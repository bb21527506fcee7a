//! kubectl against the running stack: discovery, tables, create/apply,
//! label/annotate/patch, selectors, delete, NotFound, organization contexts.

use e2e::{unique, Stack};

fn org_yaml(name: &str) -> String {
    format!(
        "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: {name}\n  annotations:\n    kubernetes.io/display-name: Org {name}\nspec:\n  type: Standard\n"
    )
}

fn project_yaml(name: &str, org: &str, tier: &str) -> String {
    format!(
        "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: {name}\n  labels:\n    tier: {tier}\nspec:\n  ownerRef:\n    kind: Organization\n    name: {org}\n"
    )
}

#[test]
fn kubectl_manages_the_hierarchy() {
    let stack = Stack::from_env();
    let kube = stack.kubeconfig(&stack.kube_server, &stack.token);
    let org = unique("kc");

    let out = kube.ok(&["create", "-f", "-"], Some(&org_yaml(&org)));
    assert!(
        out.contains(&format!(
            "organization.resourcemanager.miloapis.com/{org} created"
        )),
        "{out}"
    );

    // Readable columns from the server's Table.
    let table = kube.ok(&["get", "organizations", &org], None);
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "DISPLAY NAME", "TYPE", "READY", "AGE"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(
        table.contains(&format!("Org {org}"))
            && table.contains("Standard")
            && table.contains("True"),
        "{table}"
    );

    let wait = kube.ok(
        &[
            "wait",
            "--for=condition=Ready",
            &format!("organization/{org}"),
            "--timeout=60s",
        ],
        None,
    );
    assert!(wait.contains("condition met"), "{wait}");

    // apply: create, then change a field in the file and apply again.
    let project = format!("{org}-web");
    let out = kube.ok(
        &["apply", "-f", "-"],
        Some(&project_yaml(&project, &org, "bronze")),
    );
    assert!(out.contains("created"), "{out}");
    let out = kube.ok(
        &["apply", "-f", "-"],
        Some(&project_yaml(&project, &org, "gold")),
    );
    assert!(out.contains("configured"), "{out}");
    let tier = kube.ok(
        &[
            "get",
            "project",
            &project,
            "-o",
            "jsonpath={.metadata.labels.tier}",
        ],
        None,
    );
    assert_eq!(tier, "gold");

    // -o json / -o yaml tell the truth.
    let json: serde_json::Value =
        serde_json::from_str(&kube.ok(&["get", "project", &project, "-o", "json"], None)).unwrap();
    assert_eq!(json["spec"]["ownerRef"]["name"], org.as_str());
    assert_eq!(
        json["metadata"]["labels"]["resourcemanager.miloapis.com/organization-name"],
        org.as_str()
    );
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&kube.ok(&["get", "organization", &org, "-o", "yaml"], None)).unwrap();
    assert_eq!(yaml["spec"]["type"].as_str(), Some("Standard"));

    // label, annotate, patch (merge and json).
    kube.ok(&["label", "project", &project, "env=prod"], None);
    kube.ok(&["annotate", "project", &project, "owner=team-web"], None);
    kube.ok(
        &[
            "patch",
            "project",
            &project,
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"cost":"low"}}}"#,
        ],
        None,
    );
    kube.ok(
        &[
            "patch",
            "project",
            &project,
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/metadata/labels/cost","value":"high"}]"#,
        ],
        None,
    );
    let got: serde_json::Value =
        serde_json::from_str(&kube.ok(&["get", "project", &project, "-o", "json"], None)).unwrap();
    assert_eq!(got["metadata"]["labels"]["env"], "prod");
    assert_eq!(got["metadata"]["labels"]["cost"], "high");
    assert_eq!(got["metadata"]["annotations"]["owner"], "team-web");

    // Label and field selectors.
    kube.ok(
        &["apply", "-f", "-"],
        Some(&project_yaml(&format!("{org}-db"), &org, "silver")),
    );
    let names = kube.ok(
        &[
            "get",
            "projects",
            "-l",
            &format!("tier in (gold,silver),resourcemanager.miloapis.com/organization-name={org}"),
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(names.lines().count(), 2, "{names}");
    let names = kube.ok(
        &["get", "projects", "-l", "env=prod,cost=high", "-o", "name"],
        None,
    );
    assert!(names.contains(&project), "{names}");
    let names = kube.ok(
        &[
            "get",
            "projects",
            "--field-selector",
            &format!("spec.ownerRef.name={org}"),
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(names.lines().count(), 2, "{names}");

    // NotFound reads as kubectl users know it.
    let missing = kube.kubectl(&["get", "project", &format!("{org}-missing")], None);
    assert!(!missing.ok);
    assert!(
        missing.stderr.contains("NotFound") || missing.stderr.contains("not found"),
        "{}",
        missing.stderr
    );

    // A parent with children stays Terminating while the gc worker
    // deletes them, then goes.
    let out = kube.ok(&["delete", "organization", &org, "--wait=false"], None);
    assert!(out.contains("deleted"), "{out}");
    e2e::until_gone(&kube, &["organization", &org]);
    e2e::until_gone(&kube, &["project", &project]);
}

#[test]
fn kubectl_in_an_organization_context_sees_its_subtree() {
    let stack = Stack::from_env();
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let (mine, theirs) = (unique("ctx"), unique("ctx"));
    platform.ok(&["create", "-f", "-"], Some(&org_yaml(&mine)));
    platform.ok(&["create", "-f", "-"], Some(&org_yaml(&theirs)));
    platform.ok(
        &["apply", "-f", "-"],
        Some(&project_yaml(&format!("{theirs}-p"), &theirs, "gold")),
    );

    let kube = stack.kubeconfig(&stack.organization_url(&mine), &stack.token);
    // No ownerRef: the organization of the context is the parent.
    let project = format!("{mine}-p");
    let yaml = format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\n");
    kube.ok(&["create", "-f", "-"], Some(&yaml));
    let folder = format!("{mine}-f");
    let yaml = format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Folder\nmetadata:\n  name: {folder}\n");
    kube.ok(&["create", "-f", "-"], Some(&yaml));

    let projects = kube.ok(&["get", "projects", "-o", "name"], None);
    assert_eq!(
        projects.trim(),
        format!("project.resourcemanager.miloapis.com/{project}")
    );
    let table = kube.ok(&["get", "folders"], None);
    assert!(
        table.contains(&folder) && table.contains("Organization"),
        "{table}"
    );
    let owner = kube.ok(
        &[
            "get",
            "project",
            &project,
            "-o",
            "jsonpath={.spec.ownerRef.name}",
        ],
        None,
    );
    assert_eq!(owner, mine);
    let hidden = kube.kubectl(&["get", "project", &format!("{theirs}-p")], None);
    assert!(
        !hidden.ok,
        "a project of another organization must not be visible here"
    );

    let resources = kube.ok(
        &[
            "api-resources",
            "--api-group=resourcemanager.miloapis.com",
            "-o",
            "name",
        ],
        None,
    );
    assert!(
        resources.contains("projects") && !resources.contains("organizations"),
        "{resources}"
    );

    let ghost = stack.kubeconfig(&stack.organization_url(&unique("ghost")), &stack.token);
    let out = ghost.kubectl(&["get", "projects"], None);
    assert!(
        !out.ok,
        "an organization that does not exist has no context"
    );
}

#[test]
fn kubectl_without_a_valid_token_is_unauthorized() {
    let stack = Stack::from_env();
    let kube = stack.kubeconfig(&stack.kube_server, "not-a-token");
    let out = kube.kubectl(&["get", "organizations"], None);
    assert!(!out.ok);
    // kubectl renders a 401 Status as "You must be logged in to the server (Unauthorized)".
    assert!(
        out.stderr.contains("logged in") || out.stderr.contains("Unauthorized"),
        "{}",
        out.stderr
    );
}

#[test]
fn kubectl_shows_the_servers_validation_errors() {
    let stack = Stack::from_env();
    let kube = stack.kubeconfig(&stack.kube_server, &stack.token);
    let org = unique("bad");
    // kubectl validates strictly on the server by default: an unknown field is refused.
    let yaml = org_yaml(&org).replace("  type: Standard\n", "  type: Standard\n  colour: blue\n");
    let out = kube.kubectl(&["create", "-f", "-"], Some(&yaml));
    assert!(
        !out.ok && out.stderr.contains("unknown field \"spec.colour\""),
        "{}",
        out.stderr
    );
    let out = kube.kubectl(&["create", "-f", "-"], Some(&org_yaml("Not_A_Name")));
    assert!(
        !out.ok && out.stderr.contains("metadata.name"),
        "{}",
        out.stderr
    );
    let out = kube.kubectl(&["get", "organization", &org], None);
    assert!(!out.ok, "nothing may have been created");
}

/// kubectl's own create commands send protobuf for the core kinds they
/// make (domain::protobuf): a namespace, a config map and a secret, read
/// as their JSON, a secret's bytes kept.
#[test]
fn kubectl_create_makes_namespaces_config_maps_and_secrets() {
    let stack = Stack::from_env();
    let kube = stack.kubeconfig(&stack.kube_server, &stack.token);
    let ns = unique("pb");

    let out = kube.ok(&["create", "namespace", &ns], None);
    assert!(out.contains(&format!("namespace/{ns} created")), "{out}");
    let out = kube.ok(
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            &ns,
            "--from-literal=mode=fast",
        ],
        None,
    );
    assert!(out.contains("configmap/settings created"), "{out}");
    let out = kube.ok(
        &[
            "create",
            "secret",
            "generic",
            "token",
            "-n",
            &ns,
            "--from-literal=password=s3cret",
        ],
        None,
    );
    assert!(out.contains("secret/token created"), "{out}");

    let mode = kube.ok(
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            &ns,
            "-o",
            "jsonpath={.data.mode}",
        ],
        None,
    );
    assert_eq!(mode, "fast");
    let password = kube.ok(
        &[
            "get",
            "secret",
            "token",
            "-n",
            &ns,
            "-o",
            "jsonpath={.data.password}",
        ],
        None,
    );
    assert_eq!(password, "czNjcmV0", "base64 of s3cret");

    kube.ok(&["delete", "configmap", "settings", "-n", &ns], None);
    kube.ok(&["delete", "secret", "token", "-n", &ns], None);
    kube.ok(&["delete", "namespace", &ns], None);
}
