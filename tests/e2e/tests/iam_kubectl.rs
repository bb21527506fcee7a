//! Authorization (#20) as real clients meet it, over the local Lambda
//! emulator: `kubectl auth can-i` (one request and `--list`) and `kubectl
//! auth whoami` as two users who are not administrators, a service's
//! SubjectAccessReview over HTTP, and `kubectl get` of another tenant's
//! organization refused.
//!
//! The kubectl on PATH (1.33) sends the review kinds as protobuf
//! (`application/vnd.kubernetes.protobuf`), which the server reads for
//! them (domain::protobuf); older ones send JSON.

use e2e::{unique, Kubeconfig, Output, Stack};
use serde_json::{json, Value};

const IAM_VERSION: &str = "iam.miloapis.com/v1alpha1";
const RM: &str = "resourcemanager.miloapis.com";

/// A kubectl `auth` command.
fn auth(kube: &Kubeconfig, args: &[&str]) -> Output {
    let mut all = vec!["auth"];
    all.extend_from_slice(args);
    kube.kubectl(&all, None)
}

fn auth_ok(kube: &Kubeconfig, args: &[&str]) -> String {
    let out = auth(kube, args);
    assert!(out.ok, "kubectl auth {args:?}: {out:?}");
    out.stdout
}

fn org_yaml(name: &str) -> String {
    format!(
        "apiVersion: {RM}/v1alpha1\nkind: Organization\nmetadata:\n  name: {name}\nspec:\n  type: Standard\n"
    )
}

fn user_yaml(name: &str) -> String {
    format!(
        "apiVersion: {IAM_VERSION}\nkind: User\nmetadata:\n  name: {name}\nspec:\n  email: {name}@example.com\n"
    )
}

/// A Milo Role in the platform's `milo-system` namespace.
fn role_yaml(name: &str, permissions: &[&str]) -> String {
    let list: String = permissions.iter().map(|p| format!("    - {p}\n")).collect();
    format!(
        "apiVersion: {IAM_VERSION}\nkind: Role\nmetadata:\n  name: {name}\n  namespace: milo-system\nspec:\n  launchStage: Beta\n  includedPermissions:\n{list}"
    )
}

/// A PolicyBinding of `role` to `user` on an organization.
fn binding_yaml(name: &str, role: &str, user: &str, org: &str) -> String {
    format!(
        "apiVersion: {IAM_VERSION}\nkind: PolicyBinding\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  roleRef:\n    name: {role}\n    namespace: milo-system\n  subjects:\n  - kind: User\n    name: {user}\n  resourceSelector:\n    resourceRef:\n      apiGroup: {RM}\n      kind: Organization\n      name: {org}\n"
    )
}

/// Two users who are not administrators, each with a token and a
/// kubeconfig (the platform's, and their own organization's control plane
/// for A), and an organization on which only A holds a binding.
struct Tenants {
    stack: Stack,
    admin: Kubeconfig,
    org: String,
    binding: String,
    a: String,
    b: String,
    a_token: String,
    b_token: String,
    a_kube: Kubeconfig,
    b_kube: Kubeconfig,
}

impl Tenants {
    fn new() -> Self {
        let stack = Stack::from_env();
        let admin = stack.kubeconfig(&stack.kube_server, &stack.token);
        let org = unique("iamkc");
        let (a, b) = (unique("alice"), unique("bob"));
        let role = unique("org-viewer");
        let binding = format!("{a}-viewer");
        admin.ok(&["create", "-f", "-"], Some(&org_yaml(&org)));
        for user in [&a, &b] {
            admin.ok(&["create", "-f", "-"], Some(&user_yaml(user)));
        }
        admin.ok(
            &["create", "-f", "-"],
            Some(&role_yaml(
                &role,
                &[
                    &format!("{RM}/organizations.get"),
                    &format!("{RM}/projects.get"),
                    &format!("{RM}/projects.list"),
                ],
            )),
        );
        admin.ok(
            &["create", "-f", "-"],
            Some(&binding_yaml(&binding, &role, &a, &org)),
        );
        let a_token = Stack::token_for(&a, &["team-a"]);
        let b_token = Stack::token_for(&b, &["team-b"]);
        let a_kube = stack.kubeconfig(&stack.kube_server, &a_token);
        let b_kube = stack.kubeconfig(&stack.kube_server, &b_token);
        Self {
            stack,
            admin,
            org,
            binding,
            a,
            b,
            a_token,
            b_token,
            a_kube,
            b_kube,
        }
    }
}

#[test]
fn kubectl_auth_can_i_and_whoami_answer_for_each_user() {
    let t = Tenants::new();
    let question = ["can-i", "get", &format!("organizations/{}", t.org)];

    let a = auth(&t.a_kube, &question);
    assert_eq!(a.code, Some(0), "A: {a:?}");
    assert_eq!(a.stdout.trim(), "yes", "A: {a:?}");
    let b = auth(&t.b_kube, &question);
    assert_eq!(b.code, Some(1), "B: {b:?}");
    // kubectl prints the server's reason after "no - ".
    assert!(b.stdout.starts_with("no"), "B: {b:?}");
    // What A may not do, A is told so too.
    let delete = auth(
        &t.a_kube,
        &["can-i", "delete", &format!("organizations/{}", t.org)],
    );
    assert_eq!(delete.code, Some(1), "A delete: {delete:?}");

    // In the organization's control plane, A's rules include the role's.
    let a_org = t
        .stack
        .kubeconfig(&t.stack.organization_url(&t.org), &t.a_token);
    let list = auth_ok(&a_org, &["can-i", "--list"]);
    let b_org = t
        .stack
        .kubeconfig(&t.stack.organization_url(&t.org), &t.b_token);
    let b_list = auth_ok(&b_org, &["can-i", "--list"]);
    // A row's verbs, e.g. "[get create]" (None: no row for the resource).
    let verbs = |list: &str, resource: &str| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(resource))
            .and_then(|l| l.rsplit_once('['))
            .map(|(_, verbs)| {
                verbs
                    .trim_end_matches(']')
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
    };
    let organizations = format!("organizations.{RM}");
    let projects = format!("projects.{RM}");
    // Everyone may create an organization (system:basic-user); only A's
    // binding adds get, and get and list of projects.
    let a_orgs = verbs(&list, &organizations).unwrap_or_default();
    assert!(a_orgs.contains(&"get".to_string()), "{list}");
    let mut a_projects = verbs(&list, &projects).unwrap_or_default();
    a_projects.sort();
    assert_eq!(a_projects, ["get", "list"], "{list}");
    let b_orgs = verbs(&b_list, &organizations).unwrap_or_default();
    assert!(!b_orgs.contains(&"get".to_string()), "{b_list}");
    assert_eq!(verbs(&b_list, &projects), None, "{b_list}");

    let whoami = auth_ok(&t.a_kube, &["whoami"]);
    let field = |name: &str| {
        whoami
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name}:\n{whoami}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("Username"), t.a, "{whoami}");
    let groups = field("Groups");
    assert!(
        groups.contains("team-a") && groups.contains("system:authenticated"),
        "{whoami}"
    );
    assert!(!groups.contains("system:masters"), "{whoami}");
}

/// A service allowed to create SubjectAccessReviews asks about A and B.
#[tokio::test]
async fn a_services_subject_access_review_answers_with_the_granting_binding() {
    let t = tokio::task::spawn_blocking(Tenants::new)
        .await
        .expect("fixture");
    let service = unique("authz-svc");
    let role = unique("access-reviewer");
    let clusterrole = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {role}\nrules:\n- apiGroups: [authorization.k8s.io]\n  resources: [subjectaccessreviews]\n  verbs: [create]\n"
    );
    let binding = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {role}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {role}\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: {service}\n"
    );
    t.admin.ok(&["create", "-f", "-"], Some(&clusterrole));
    t.admin.ok(&["create", "-f", "-"], Some(&binding));

    let http = reqwest::Client::new();
    let review = |user: &str| {
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "resourceAttributes": {"group": RM, "resource": "organizations", "verb": "get", "name": t.org}
            }
        })
    };
    let post = |token: String, body: Value| {
        let request = http
            .post(format!(
                "{}/apis/authorization.k8s.io/v1/subjectaccessreviews",
                t.stack.base_url
            ))
            .bearer_auth(token)
            .json(&body);
        async move {
            let response = request.send().await.expect("the stack answers");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("a JSON answer");
            (status, body)
        }
    };
    let service_token = Stack::token_for(&service, &[]);

    let (status, about_a) = post(service_token.clone(), review(&t.a)).await;
    assert_eq!(status, 201, "{about_a}");
    assert_eq!(about_a["kind"], "SubjectAccessReview", "{about_a}");
    assert_eq!(about_a["status"]["allowed"], true, "{about_a}");
    let reason = about_a["status"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&t.binding), "{about_a}");

    let (status, about_b) = post(service_token, review(&t.b)).await;
    assert_eq!(status, 201, "{about_b}");
    assert_eq!(about_b["status"]["allowed"], false, "{about_b}");
    assert!(
        !about_b["status"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(&t.binding),
        "{about_b}"
    );

    // Without the binding, asking about someone else is refused.
    let (status, refused) = post(t.b_token.clone(), review(&t.a)).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["reason"], "Forbidden", "{refused}");
}

#[test]
fn kubectl_get_of_another_tenants_organization_is_forbidden() {
    let t = Tenants::new();
    // B's own organization, which B may read: the refusal below is the
    // tenancy's, not a refusal of everything.
    let own = unique("iamkc-b");
    let role = unique("org-reader");
    t.admin.ok(&["create", "-f", "-"], Some(&org_yaml(&own)));
    t.admin.ok(
        &["create", "-f", "-"],
        Some(&role_yaml(&role, &[&format!("{RM}/organizations.get")])),
    );
    t.admin.ok(
        &["create", "-f", "-"],
        Some(&binding_yaml(&format!("{}-reader", t.b), &role, &t.b, &own)),
    );
    let got = t
        .b_kube
        .ok(&["get", "organization", &own, "-o", "name"], None);
    assert_eq!(got.trim(), format!("organization.{RM}/{own}"));

    let out = t.b_kube.kubectl(&["get", "organization", &t.org], None);
    assert!(!out.ok, "{out:?}");
    assert!(
        out.stderr.contains("Error from server (Forbidden)"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(&format!(
            "User \"{}\" cannot get resource \"organizations\" in API group \"{RM}\"",
            t.b
        )),
        "{out:?}"
    );
    assert!(
        !out.stderr.contains(&t.binding) && !out.stderr.contains(&t.a),
        "a refusal names nothing of who is granted: {out:?}"
    );

    // The other organization's control plane: listing its projects too.
    let foreign = t
        .stack
        .kubeconfig(&t.stack.organization_url(&t.org), &t.b_token);
    let out = foreign.kubectl(&["get", "projects"], None);
    assert!(!out.ok, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "User \"{}\" cannot list resource \"projects\" in API group \"{RM}\"",
            t.b
        )),
        "{out:?}"
    );
}
