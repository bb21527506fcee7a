//! Hierarchical IAM (#20) through the API, against DynamoDB Local: deny by
//! default, tenants isolated, grants inherited down the hierarchy (ten
//! folders deep), a move or a revoke in force on the next request (on a
//! second instance too), groups, escalation refused, Kubernetes RBAC.

mod common;

use common::{api, names, token_for, Api, G};
use serde_json::{json, Value};

const IAM: &str = "/apis/iam.miloapis.com/v1alpha1";
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

fn org_plane(org: &str) -> String {
    format!("{G}/organizations/{org}/control-plane")
}

fn project_plane(project: &str) -> String {
    format!("{G}/projects/{project}/control-plane")
}

/// A ClusterRole granting everything, in the platform (where roles shared
/// by every context live).
async fn everything_role(api: &Api) {
    let r = api
        .post(
            &format!("{RBAC}/clusterroles"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "tenant-admin"},
                   "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// `user` administers everything in an organization's context and below.
async fn tenant_admin(api: &Api, org: &str, user: &str) {
    let r = api
        .post(
            &format!("{}{RBAC}/clusterrolebindings", org_plane(org)),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": format!("{user}-admin")},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tenant-admin"},
                   "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A Milo Role in the platform's `milo-system` namespace.
async fn milo_role(api: &Api, name: &str, permissions: &[&str]) {
    let ns = api
        .post(
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "milo-system"}}),
        )
        .await;
    assert!(ns.status == 201 || ns.status == 409, "{}", ns.body);
    let r = api
        .post(
            &format!("{IAM}/namespaces/milo-system/roles"),
            json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "Role",
                   "metadata": {"name": name, "namespace": "milo-system"},
                   "spec": {"launchStage": "Beta", "includedPermissions": permissions}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A User object, as Milo's bindings name users.
async fn make_user(api: &Api, name: &str) {
    let r = api
        .post(
            &format!("{IAM}/users"),
            json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "User",
                   "metadata": {"name": name}, "spec": {"email": format!("{name}@example.com")}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let got = api.get(&format!("{IAM}/users/{name}")).await;
    assert_eq!(got.status, 200, "{}", got.body);
}

fn policy_binding(name: &str, role: &str, subject: Value, selector: Value) -> Value {
    json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "PolicyBinding",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"roleRef": {"name": role, "namespace": "milo-system"},
                    "subjects": [subject],
                    "resourceSelector": selector}})
}

fn on(kind: &str, name: &str) -> Value {
    json!({"resourceRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": kind, "name": name}})
}

fn user(name: &str) -> Value {
    json!({"kind": "User", "name": name})
}

async fn bind(api: &Api, binding: Value) -> Value {
    let r = api
        .post(&format!("{IAM}/namespaces/default/policybindings"), binding)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

#[tokio::test]
async fn without_a_binding_every_request_is_refused() {
    let api = api().await;
    api.org("acme").await;
    let nobody = token_for("nobody", &[]);
    // A list of organizations shows those one may see: none.
    let listed = api
        .call_as(&nobody, "GET", &format!("{G}/organizations"), None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(names(&listed.body), Vec::<String>::new());
    for (method, uri) in [
        ("GET", format!("{G}/organizations/acme")),
        ("GET", format!("{}/api/v1/namespaces", org_plane("acme"))),
        (
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".to_string(),
        ),
    ] {
        let r = api.call_as(&nobody, method, &uri, None).await;
        assert_eq!(r.status, 403, "{method} {uri}: {}", r.body);
        assert_eq!(r.body["reason"], "Forbidden");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("User \"nobody\" cannot"),
            "{}",
            r.body
        );
    }
    let r = api
        .call_as(
            &nobody,
            "POST",
            &format!("{G}/folders"),
            Some(common::folder("mine", "Organization", "acme")),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(api.get(&format!("{G}/folders/mine")).await.status, 404);
}

/// Every verb on every kind and route of another organization, in every
/// context, is refused and writes nothing; the same requests in one's own
/// organization are allowed (so the refusals are the tenancy's).
#[tokio::test]
async fn a_tenant_can_neither_see_nor_touch_another_tenants_resources() {
    let api = api().await;
    everything_role(&api).await;
    for (org, project, who) in [("org-a", "proj-a", "alice"), ("org-b", "proj-b", "bob")] {
        api.org(org).await;
        assert_eq!(api.project(project, "Organization", org).await.status, 201);
        let r = api
            .post(
                &format!(
                    "{}/api/v1/namespaces/default/configmaps",
                    project_plane(project)
                ),
                configmap("settings"),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        tenant_admin(&api, org, who).await;
    }
    let alice = token_for("alice", &[]);
    let before = api
        .get(&format!(
            "{}/api/v1/namespaces/default/configmaps/settings",
            project_plane("proj-b")
        ))
        .await;

    let foreign = [
        format!("{G}/organizations/org-b"),
        format!("{G}/projects/proj-b"),
        format!("{}{G}/projects/proj-b", org_plane("org-b")),
        format!("{}/api/v1/namespaces/default", org_plane("org-b")),
        format!(
            "{}/api/v1/namespaces/default/configmaps/settings",
            project_plane("proj-b")
        ),
        format!("{}{RBAC}/clusterrolebindings/bob-admin", org_plane("org-b")),
    ];
    for uri in &foreign {
        for (method, body) in [
            ("GET", None),
            ("PATCH", Some(json!({"metadata": {"labels": {"x": "y"}}}))),
            ("PUT", Some(json!({}))),
            ("DELETE", None),
        ] {
            let r = api.call_as(&alice, method, uri, body).await;
            assert_eq!(r.status, 403, "{method} {uri}: {}", r.body);
            // It names what was asked, never what grants whom.
            let message = r.body["message"].as_str().unwrap();
            assert!(!message.contains("tenant-admin"), "{message}");
        }
        let status = api
            .call_as(
                &alice,
                "PATCH",
                &format!("{uri}/status"),
                Some(json!({"status": {}})),
            )
            .await;
        assert_eq!(status.status, 403, "PATCH {uri}/status: {}", status.body);
    }
    for (uri, body) in [
        (
            format!(
                "{}/api/v1/namespaces/default/configmaps",
                project_plane("proj-b")
            ),
            configmap("planted"),
        ),
        (
            format!("{}{G}/projects", org_plane("org-b")),
            common::project("planted", "Organization", "org-b"),
        ),
        (
            format!("{}/api/v1/namespaces", org_plane("org-b")),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "planted"}}),
        ),
    ] {
        assert_eq!(
            api.call_as(&alice, "POST", &uri, Some(body.clone()))
                .await
                .status,
            403,
            "POST {uri}"
        );
        assert_eq!(
            api.call_as(&alice, "GET", &uri, None).await.status,
            403,
            "list {uri}"
        );
    }
    let collection = format!(
        "{}/api/v1/namespaces/default/configmaps",
        project_plane("proj-b")
    );
    let r = api.call_as(&alice, "DELETE", &collection, None).await;
    assert_eq!(r.status, 403, "deletecollection: {}", r.body);
    // A context that does not exist is refused as one that does.
    let ghost = api
        .call_as(
            &alice,
            "GET",
            &format!("{}/api/v1/namespaces", project_plane("no-such")),
            None,
        )
        .await;
    assert_eq!(ghost.status, 403, "{}", ghost.body);
    // Nothing was written.
    let after = api
        .get(&format!(
            "{}/api/v1/namespaces/default/configmaps/settings",
            project_plane("proj-b")
        ))
        .await;
    assert_eq!(after.body, before.body);
    assert_eq!(
        api.get(&format!(
            "{}/api/v1/namespaces/default/configmaps/planted",
            project_plane("proj-b")
        ))
        .await
        .status,
        404
    );
    assert_eq!(api.get(&format!("{G}/projects/planted")).await.status, 404);
    assert_eq!(
        api.get(&format!("{G}/organizations/org-b")).await.status,
        200
    );

    // In her own organization alice does all of it.
    let own = format!(
        "{}/api/v1/namespaces/default/configmaps",
        project_plane("proj-a")
    );
    assert_eq!(
        api.call_as(&alice, "POST", &own, Some(configmap("mine")))
            .await
            .status,
        201
    );
    assert_eq!(
        api.call_as(&alice, "GET", &format!("{own}/settings"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.call_as(
            &alice,
            "GET",
            &format!("{}{G}/projects/proj-a", org_plane("org-a")),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.call_as(&alice, "DELETE", &format!("{own}/mine"), None)
            .await
            .status,
        200
    );
}

/// A binding on a folder reaches a project ten folders below the
/// organization, not a sibling subtree; moving a project changes who may
/// act on it on the next request.
#[tokio::test]
async fn a_grant_is_inherited_down_ten_folders_and_a_move_changes_it_at_once() {
    let api = api().await;
    api.org("deep").await;
    let mut parent = ("Organization", "deep".to_string());
    for level in 1..=10 {
        let name = format!("f{level}");
        let r = api.folder(&name, parent.0, &parent.1).await;
        assert_eq!(r.status, 201, "{}", r.body);
        parent = ("Folder", name);
    }
    assert_eq!(api.project("bottom", "Folder", "f10").await.status, 201);
    assert_eq!(api.folder("side", "Organization", "deep").await.status, 201);
    assert_eq!(api.project("aside", "Folder", "side").await.status, 201);
    milo_role(
        &api,
        "project-viewer",
        &[
            "resourcemanager.miloapis.com/projects.get",
            "core/configmaps.list",
        ],
    )
    .await;
    make_user(&api, "carol").await;
    bind(
        &api,
        policy_binding(
            "carol-f5",
            "project-viewer",
            user("carol"),
            on("Folder", "f5"),
        ),
    )
    .await;

    let carol = token_for("carol", &[]);
    let get = |p: &str| format!("{}{G}/projects/{p}", org_plane("deep"));
    assert_eq!(
        api.call_as(&carol, "GET", &get("bottom"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.call_as(&carol, "GET", &format!("{G}/projects/bottom"), None)
            .await
            .status,
        200
    );
    let inside = format!(
        "{}/api/v1/namespaces/default/configmaps",
        project_plane("bottom")
    );
    assert_eq!(api.call_as(&carol, "GET", &inside, None).await.status, 200);
    assert_eq!(
        api.call_as(&carol, "GET", &get("aside"), None).await.status,
        403
    );
    // The permission is what the role names, nothing more.
    assert_eq!(
        api.call_as(&carol, "DELETE", &get("bottom"), None)
            .await
            .status,
        403
    );

    let moved = api
        .call(
            "PATCH",
            &format!("{G}/projects/aside"),
            Some(json!({"spec": {"ownerRef": {"kind": "Folder", "name": "f7"}}})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(
        api.call_as(&carol, "GET", &get("aside"), None).await.status,
        200
    );
    let moved = api
        .call(
            "PATCH",
            &format!("{G}/projects/bottom"),
            Some(json!({"spec": {"ownerRef": {"kind": "Folder", "name": "side"}}})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(
        api.call_as(&carol, "GET", &get("bottom"), None)
            .await
            .status,
        403
    );
}

/// Deleting a binding on one instance refuses the next request on another.
#[tokio::test]
async fn a_revoke_is_in_force_on_the_next_request_on_a_second_instance() {
    let api = api().await;
    let other = api.sibling().await;
    api.org("revoked").await;
    milo_role(
        &api,
        "org-viewer",
        &["resourcemanager.miloapis.com/organizations.get"],
    )
    .await;
    make_user(&api, "dan").await;
    let dan = token_for("dan", &[]);
    let uri = format!("{G}/organizations/revoked");
    // The second instance has decided (and cached) before the grant.
    assert_eq!(other.call_as(&dan, "GET", &uri, None).await.status, 403);
    bind(
        &api,
        policy_binding(
            "dan-view",
            "org-viewer",
            user("dan"),
            on("Organization", "revoked"),
        ),
    )
    .await;
    assert_eq!(other.call_as(&dan, "GET", &uri, None).await.status, 200);
    let r = api
        .call(
            "DELETE",
            &format!("{IAM}/namespaces/default/policybindings/dan-view"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(other.call_as(&dan, "GET", &uri, None).await.status, 403);
}

/// A Group subject reaches its members through GroupMemberships; removing
/// the membership revokes on the next request.
#[tokio::test]
async fn a_group_grants_to_its_members_until_the_membership_goes() {
    let api = api().await;
    api.org("groupy").await;
    milo_role(
        &api,
        "org-viewer",
        &["resourcemanager.miloapis.com/organizations.get"],
    )
    .await;
    let plane = org_plane("groupy");
    let ns = "team";
    let r = api
        .post(
            &format!("{plane}/api/v1/namespaces"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .post(
            &format!("{plane}{IAM}/namespaces/{ns}/groups"),
            json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "Group", "metadata": {"name": "viewers", "namespace": ns}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut binding = policy_binding(
        "viewers",
        "org-viewer",
        json!({"kind": "Group", "name": "viewers", "namespace": ns}),
        on("Organization", "groupy"),
    );
    binding["metadata"]["namespace"] = json!(ns);
    let r = api
        .post(
            &format!("{plane}{IAM}/namespaces/{ns}/policybindings"),
            binding,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["status"]["conditions"][0]["status"], "True",
        "{}",
        r.body
    );
    let erin = token_for("erin", &[]);
    let uri = format!("{G}/organizations/groupy");
    assert_eq!(api.call_as(&erin, "GET", &uri, None).await.status, 403);
    let membership = format!("{plane}{IAM}/namespaces/{ns}/groupmemberships");
    let r = api
        .post(
            &membership,
            json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "GroupMembership",
                   "metadata": {"name": "erin-viewers", "namespace": ns},
                   "spec": {"userRef": {"name": "erin"}, "groupRef": {"name": "viewers", "namespace": ns}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(api.call_as(&erin, "GET", &uri, None).await.status, 200);
    assert_eq!(
        api.call("DELETE", &format!("{membership}/erin-viewers"), None)
            .await
            .status,
        200
    );
    assert_eq!(api.call_as(&erin, "GET", &uri, None).await.status, 403);
}

/// A binding may grant only what its writer holds where it applies; a
/// binding to a role that does not exist is accepted and not Ready.
#[tokio::test]
async fn escalation_is_refused_and_a_missing_role_is_not_ready() {
    let api = api().await;
    api.org("esc").await;
    milo_role(
        &api,
        "binder",
        &[
            "iam.miloapis.com/policybindings.create",
            "resourcemanager.miloapis.com/organizations.get",
        ],
    )
    .await;
    milo_role(
        &api,
        "destroyer",
        &["resourcemanager.miloapis.com/organizations.delete"],
    )
    .await;
    make_user(&api, "frank").await;
    bind(
        &api,
        policy_binding(
            "frank-binder",
            "binder",
            user("frank"),
            json!({"resourceKind": {"apiGroup": "iam.miloapis.com", "kind": "PolicyBinding"}}),
        ),
    )
    .await;
    let frank = token_for("frank", &[]);
    let uri = format!("{IAM}/namespaces/default/policybindings");
    let r = api
        .call_as(
            &frank,
            "POST",
            &uri,
            Some(policy_binding(
                "frank-destroys",
                "destroyer",
                user("frank"),
                on("Organization", "esc"),
            )),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("organizations.delete"),
        "{}",
        r.body
    );
    assert_eq!(api.get(&format!("{uri}/frank-destroys")).await.status, 404);

    let missing = bind(
        &api,
        policy_binding(
            "dangling",
            "no-such-role",
            user("frank"),
            on("Organization", "esc"),
        ),
    )
    .await;
    let ready = &missing["status"]["conditions"][0];
    assert_eq!(ready["type"], "Ready", "{missing}");
    assert_eq!(ready["status"], "False", "{missing}");
    assert!(
        ready["message"].as_str().unwrap().contains("no-such-role"),
        "{missing}"
    );
}

/// Kubernetes RBAC: a RoleBinding grants in its namespace only.
#[tokio::test]
async fn a_role_binding_grants_in_its_namespace_only() {
    let api = api().await;
    api.org("rbac").await;
    assert_eq!(
        api.project("rbac-p", "Organization", "rbac").await.status,
        201
    );
    let plane = project_plane("rbac-p");
    let ns = api
        .post(
            &format!("{plane}/api/v1/namespaces"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
        )
        .await;
    assert_eq!(ns.status, 201, "{}", ns.body);
    let role = api
        .post(
            &format!("{plane}{RBAC}/namespaces/team/roles"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "cm-editor", "namespace": "team"},
                   "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create"]}]}),
        )
        .await;
    assert_eq!(role.status, 201, "{}", role.body);
    let binding = api
        .post(
            &format!("{plane}{RBAC}/namespaces/team/rolebindings"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "gus-cm", "namespace": "team"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-editor"},
                   "subjects": [{"kind": "User", "name": "gus", "apiGroup": "rbac.authorization.k8s.io"}]}),
        )
        .await;
    assert_eq!(binding.status, 201, "{}", binding.body);
    let gus = token_for("gus", &[]);
    let team = format!("{plane}/api/v1/namespaces/team/configmaps");
    assert_eq!(
        api.call_as(&gus, "POST", &team, Some(configmap("c")))
            .await
            .status,
        201
    );
    let listed = api.call_as(&gus, "GET", &team, None).await;
    assert_eq!(names(&listed.body), ["c"]);
    assert_eq!(
        api.call_as(&gus, "DELETE", &format!("{team}/c"), None)
            .await
            .status,
        403
    );
    let default = format!("{plane}/api/v1/namespaces/default/configmaps");
    assert_eq!(api.call_as(&gus, "GET", &default, None).await.status, 403);
}

/// A role is stored with what it grants (Milo's effectivePermissions) and
/// says what in it grants nothing, as Milo accepts such roles.
#[tokio::test]
async fn a_role_says_what_it_grants_and_what_grants_nothing() {
    let api = api().await;
    let ns = api
        .post(
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "milo-system"}}),
        )
        .await;
    assert!(ns.status == 201 || ns.status == 409, "{}", ns.body);
    let r = api
        .post(
            &format!("{IAM}/namespaces/milo-system/roles"),
            json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "Role",
                   "metadata": {"name": "mixed", "namespace": "milo-system"},
                   "spec": {"launchStage": "Beta",
                            "includedPermissions": ["resourcemanager.miloapis.com/projects.get", "not-a-permission", "billing.miloapis.com/invoices.get"],
                            "inheritedRoles": [{"name": "mixed"}]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = &r.body["status"];
    assert_eq!(
        status["effectivePermissions"],
        json!([
            "billing.miloapis.com/invoices.get",
            "resourcemanager.miloapis.com/projects.get"
        ])
    );
    let ready = &status["conditions"][0];
    assert_eq!(ready["reason"], "ReadyWithProblems", "{status}");
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("not-a-permission"), "{message}");
    assert!(
        message.contains("billing.miloapis.com/invoices.get: no resource"),
        "{message}"
    );
    assert!(message.contains("cycle"), "{message}");
    let bad_stage = api
        .post(
            &format!("{IAM}/namespaces/milo-system/roles"),
            json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "Role",
                   "metadata": {"name": "staged", "namespace": "milo-system"},
                   "spec": {"launchStage": "Someday", "includedPermissions": []}}),
        )
        .await;
    assert_eq!(bad_stage.status, 422, "{}", bad_stage.body);
    assert_eq!(
        api.get(&format!("{IAM}/namespaces/milo-system/roles/staged"))
            .await
            .status,
        404
    );
}

/// A tenant granted everything in its organization still cannot raise its
/// own quota: a wildcard never grants quota's limits; the platform's
/// administrators do, and whoever a role naming them is bound to.
#[tokio::test]
async fn a_tenant_cannot_raise_its_own_quota() {
    let api = api().await;
    everything_role(&api).await;
    api.org("greedy").await;
    assert_eq!(
        api.project("greedy-p", "Organization", "greedy")
            .await
            .status,
        201
    );
    tenant_admin(&api, "greedy", "gina").await;
    let gina = token_for("gina", &[]);
    let grant = json!({"apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ResourceGrant",
                       "metadata": {"name": "more", "namespace": "default"},
                       "spec": {"consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "greedy-p"},
                                "allowances": [{"resourceType": "example.com/widgets", "buckets": [{"amount": 1000}]}]}});
    let grants = format!(
        "{}/apis/quota.miloapis.com/v1alpha1/namespaces/default/resourcegrants",
        project_plane("greedy-p")
    );
    let r = api
        .call_as(&gina, "POST", &grants, Some(grant.clone()))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("resourcegrants.create"),
        "{}",
        r.body
    );
    // Nor give quota back by releasing a claim (refused before any read).
    let claim = format!(
        "{}/apis/quota.miloapis.com/v1alpha1/namespaces/default/resourceclaims/any",
        project_plane("greedy-p")
    );
    let r = api.call_as(&gina, "DELETE", &claim, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("resourceclaims.delete"),
        "{}",
        r.body
    );
    // Reading them is hers; so is everything else in her project.
    assert_eq!(api.call_as(&gina, "GET", &grants, None).await.status, 200);
    let registrations = "/apis/quota.miloapis.com/v1alpha1/resourceregistrations";
    let r = api.call_as(&gina, "GET", registrations, None).await;
    assert_eq!(
        r.status, 403,
        "the platform's registrations are not hers: {}",
        r.body
    );
}

/// The routes that are not a stored kind's verbs are authorized too: the
/// graph reads, the quota tree, a `/status` write, the admission function's
/// review and audit; each refused without a grant, answered with one.
#[tokio::test]
async fn every_route_is_authorized() {
    let api = api().await;
    api.org("routes").await;
    let nobody = token_for("nobody", &[]);
    let admin = &api.token;
    for uri in [
        "/apis/graph.miloapis.com/v1alpha1/relationships?urn=urn:milo:Organization:x".to_string(),
        "/apis/graph.miloapis.com/v1alpha1/traversals?urn=urn:milo:Organization:x".to_string(),
        "/apis/quota.miloapis.com/v1alpha1/quotatrees/routes".to_string(),
    ] {
        let r = api.call_as(&nobody, "GET", &uri, None).await;
        assert_eq!(r.status, 403, "{uri}: {}", r.body);
        let r = api.call_as(admin, "GET", &uri, None).await;
        assert_ne!(r.status, 403, "{uri}: {}", r.body);
    }
    let status = api
        .call_as(
            &nobody,
            "PATCH",
            &format!("{G}/organizations/routes/status"),
            Some(json!({"status": {"conditions": []}})),
        )
        .await;
    assert_eq!(status.status, 403, "{}", status.body);
    assert!(
        status.body["message"]
            .as_str()
            .unwrap()
            .contains("organizations/status"),
        "{}",
        status.body
    );
    for path in ["/review", "/audit"] {
        let r = api.admission(path, &json!({}), Some(&nobody)).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        let r = api.admission(path, &json!({}), Some(admin)).await;
        assert_ne!(r.status, 403, "{path}: {}", r.body);
    }
}

/// With each User comes its self-manage binding (as Milo's webhook): the
/// user reads and changes their own User, nobody else's; it goes with them.
#[tokio::test]
async fn a_user_manages_their_own_user_and_no_other() {
    let api = api().await;
    make_user(&api, "hana").await;
    make_user(&api, "ivan").await;
    let hana = token_for("hana", &[]);
    let binding = format!("{IAM}/namespaces/milo-system/policybindings/user-self-manage-hana");
    let r = api.get(&binding).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["ownerReferences"][0]["name"], "hana");
    assert_eq!(
        api.call_as(&hana, "GET", &format!("{IAM}/users/hana"), None)
            .await
            .status,
        200
    );
    let renamed = api
        .call_as(
            &hana,
            "PATCH",
            &format!("{IAM}/users/hana"),
            Some(json!({"spec": {"givenName": "Hana"}})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(
        api.call_as(&hana, "GET", &format!("{IAM}/users/ivan"), None)
            .await
            .status,
        403
    );
    assert_eq!(
        api.call_as(&hana, "DELETE", &format!("{IAM}/users/hana"), None)
            .await
            .status,
        403
    );
    assert_eq!(
        api.call("DELETE", &format!("{IAM}/users/hana"), None)
            .await
            .status,
        200
    );
    // The User waits for its membership-cleanup finalizer (#21), then goes
    // with its binding.
    while apiserver::gc::sweep(&api.server).await.unwrap().deletes > 0 {}
    assert_eq!(api.get(&format!("{IAM}/users/hana")).await.status, 404);
    assert_eq!(api.get(&binding).await.status, 404);
}

/// A SelfSubjectAccessReview is decided as the request it describes, and
/// says why; sent as protobuf (kubectl ≥ 1.32) or JSON alike.
#[tokio::test]
async fn an_access_review_is_decided_as_its_request_and_says_why() {
    let api = api().await;
    api.org("asked").await;
    milo_role(
        &api,
        "org-viewer",
        &["resourcemanager.miloapis.com/organizations.get"],
    )
    .await;
    make_user(&api, "kim").await;
    bind(
        &api,
        policy_binding(
            "kim-view",
            "org-viewer",
            user("kim"),
            on("Organization", "asked"),
        ),
    )
    .await;
    let kim = token_for("kim", &[]);
    let review = |verb: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
               "spec": {"resourceAttributes": {"namespace": "default", "verb": verb,
                        "group": "resourcemanager.miloapis.com", "resource": "organizations", "name": "asked"}}})
    };
    let uri = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let yes = api.call_as(&kim, "POST", uri, Some(review("get"))).await;
    assert_eq!(yes.status, 201, "{}", yes.body);
    assert_eq!(yes.body["status"]["allowed"], true, "{}", yes.body);
    let reason = yes.body["status"]["reason"].as_str().unwrap();
    assert!(reason.contains("kim-view"), "{reason}");
    // A cluster-scoped kind has no namespace, whatever kubectl sends.
    assert!(!reason.contains("default/asked"), "{reason}");
    let no = api.call_as(&kim, "POST", uri, Some(review("delete"))).await;
    assert_eq!(no.body["status"]["allowed"], false, "{}", no.body);
    let whoami = api
        .call_as(
            &kim,
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            Some(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})),
        )
        .await;
    assert_eq!(
        whoami.body["status"]["userInfo"]["username"], "kim",
        "{}",
        whoami.body
    );
}

/// A binding whose uids name nothing grants nothing, whatever status a
/// client writes on it afterwards (Milo's suites mark bindings Ready).
#[tokio::test]
async fn a_status_written_on_a_binding_grants_nothing() {
    let api = api().await;
    api.org("marked").await;
    milo_role(
        &api,
        "org-viewer",
        &["resourcemanager.miloapis.com/organizations.get"],
    )
    .await;
    make_user(&api, "lea").await;
    let mut binding = policy_binding(
        "lea-view",
        "org-viewer",
        user("lea"),
        on("Organization", "marked"),
    );
    binding["spec"]["resourceSelector"]["resourceRef"]["uid"] = json!("not-the-organizations-uid");
    let created = bind(&api, binding).await;
    assert_eq!(
        created["status"]["conditions"][0]["reason"],
        "ReferenceNotFound"
    );
    let marked = api
        .call(
            "PATCH",
            &format!("{IAM}/namespaces/default/policybindings/lea-view/status"),
            Some(json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "TestReady",
                "message": "marked", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
        )
        .await;
    assert_eq!(marked.status, 200, "{}", marked.body);
    let lea = token_for("lea", &[]);
    let r = api
        .call_as(&lea, "GET", &format!("{G}/organizations/marked"), None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}
