//! Discovery and serving per context as Milo filters them (#18): the
//! platform lists and serves every type, a control plane's discovery is
//! answered from its URL alone, DiscoveryContextPolicies override a type's
//! parent-contexts annotation (and deleting one gives the annotation back),
//! on every instance from the next request after the write answered.

mod common;
use common::*;
use serde_json::{json, Value};

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const POLICIES: &str = "/apis/discovery.miloapis.com/v1alpha1/discoverycontextpolicies";
const WIDGETS: &str = "/apis/example.com/v1";

fn org_ctx(org: &str) -> String {
    format!("{G}/organizations/{org}/control-plane")
}

fn project_ctx(project: &str) -> String {
    format!("{G}/projects/{project}/control-plane")
}

fn user_ctx(user: &str) -> String {
    format!("/apis/iam.miloapis.com/v1alpha1/users/{user}/control-plane")
}

/// A cluster-scoped Widget tagged for organizations, as the suite's
/// DiscoveryWidget.
fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "widgets.example.com",
            "annotations": {"discovery.miloapis.com/parent-contexts": "Organization"}
        },
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Cluster",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object"}}
            }]
        }
    })
}

fn widget(name: &str) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}})
}

fn policy(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "discovery.miloapis.com/v1alpha1",
        "kind": "DiscoveryContextPolicy",
        "metadata": {"name": name},
        "spec": {"rules": rules}
    })
}

fn widgets_in(contexts: &[&str]) -> Value {
    policy(
        "widgets",
        json!([{"group": "example.com", "resources": ["widgets"], "contexts": contexts}]),
    )
}

/// The plurals a discovery document lists (none for a 404).
async fn listed(api: &Api, uri: &str) -> Vec<String> {
    let r = api.get(uri).await;
    if r.status == 404 {
        return Vec::new();
    }
    assert_eq!(r.status, 200, "{uri}: {}", r.body);
    r.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .filter(|n| !n.contains('/'))
        .map(str::to_string)
        .collect()
}

async fn setup(api: &Api) {
    let r = api.post(CRDS, widget_crd()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    api.org("acme").await;
    let r = api.project("p1", "Organization", "acme").await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Whether a context serves widgets: a create there and its read back.
async fn serves(api: &Api, ctx: &str, name: &str) -> bool {
    let r = api
        .post(&format!("{ctx}{WIDGETS}/widgets"), widget(name))
        .await;
    match r.status {
        201 => true,
        404 => {
            assert!(
                r.body["message"]
                    .as_str()
                    .unwrap()
                    .contains("widgets.example.com is not served in the"),
                "{}",
                r.body
            );
            false
        }
        _ => panic!("{ctx}: {}", r.body),
    }
}

#[tokio::test]
async fn the_platform_lists_and_serves_every_type() {
    let api = api().await;
    setup(&api).await;
    let rm = listed(&api, G).await;
    for plural in ["organizations", "projects", "organizationmemberships"] {
        assert!(rm.contains(&plural.to_string()), "{plural} in {rm:?}");
    }
    assert_eq!(listed(&api, WIDGETS).await, ["widgets"]);
    assert!(serves(&api, "", "at-the-root").await);
    // The other contexts list what their annotations name.
    let org = listed(&api, &format!("{}{G}", org_ctx("acme"))).await;
    assert!(!org.contains(&"organizations".to_string()), "{org:?}");
    assert!(
        org.contains(&"organizationmemberships".to_string()),
        "{org:?}"
    );
    assert_eq!(
        listed(&api, &format!("{}{WIDGETS}", org_ctx("acme"))).await,
        ["widgets"]
    );
    assert!(listed(&api, &format!("{}{WIDGETS}", project_ctx("p1")))
        .await
        .is_empty());
}

#[tokio::test]
async fn discovery_under_a_control_plane_is_answered_from_its_url_alone() {
    let api = api().await;
    setup(&api).await;
    let ghost = org_ctx("no-such-org");
    let r = api.get(&format!("{ghost}{G}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let names = listed(&api, &format!("{ghost}{G}")).await;
    assert!(names.contains(&"projects".to_string()), "{names:?}");
    assert!(!names.contains(&"organizations".to_string()), "{names:?}");
    assert_eq!(
        listed(&api, &format!("{ghost}{WIDGETS}")).await,
        ["widgets"]
    );
    for doc in ["/api", "/apis", "/openapi/v3", "/version"] {
        let r = api.get(&format!("{ghost}{doc}")).await;
        assert_eq!(r.status, 200, "{doc}: {}", r.body);
    }
    let r = api
        .get(&format!("{}/apis", project_ctx("no-such-project")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Anything else under it still needs the organization.
    let r = api.get(&format!("{ghost}{G}/projects")).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["details"]["name"], "no-such-org", "{}", r.body);
}

#[tokio::test]
async fn a_user_control_plane_answers_discovery_and_nothing_but_memberships() {
    let api = api().await;
    setup(&api).await;
    let user = user_ctx("alice");
    assert_eq!(
        listed(&api, &format!("{user}{G}")).await,
        ["organizationmemberships"]
    );
    assert!(listed(&api, &format!("{user}{WIDGETS}")).await.is_empty());
    let r = api.get(&format!("{user}/apis")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // It serves the user's memberships (tests/memberships.rs), nothing else.
    let r = api
        .call(
            "POST",
            &format!("{user}{WIDGETS}/widgets"),
            Some(widget("w")),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["kind"], "Status");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("organizationmemberships"),
        "{}",
        r.body
    );
    let r = api.call("POST", &format!("{user}/apis"), None).await;
    assert_eq!(r.status, 405, "{}", r.body);
}

#[tokio::test]
async fn a_policy_overrides_the_annotation_until_it_is_deleted() {
    let api = api().await;
    setup(&api).await;
    let org = org_ctx("acme");
    let project = project_ctx("p1");
    assert!(serves(&api, &org, "w1").await);
    assert!(!serves(&api, &project, "w1").await);

    let r = api.post(POLICIES, widgets_in(&["Project"])).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(listed(&api, &format!("{org}{WIDGETS}")).await.is_empty());
    assert_eq!(
        listed(&api, &format!("{project}{WIDGETS}")).await,
        ["widgets"]
    );
    assert!(!serves(&api, &org, "w2").await);
    let r = api.get(&format!("{org}{WIDGETS}/widgets/w1")).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("not served in the Organization context; it is served in: Project"),
        "{}",
        r.body
    );
    assert!(serves(&api, &project, "w2").await);
    // The platform serves every type whatever a policy says.
    assert_eq!(listed(&api, WIDGETS).await, ["widgets"]);
    assert!(serves(&api, "", "w2").await);

    // Another rule for the same type adds its contexts.
    let r = api
        .post(
            POLICIES,
            policy(
                "more",
                json!([{"group": "example.com", "resources": ["widgets"], "contexts": ["Organization"]}]),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(serves(&api, &org, "w3").await);
    assert!(serves(&api, &project, "w3").await);
    let r = api.call("DELETE", &format!("{POLICIES}/more"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // An update is in force at once too.
    let r = api
        .call(
            "PATCH",
            &format!("{POLICIES}/widgets"),
            Some(json!({"spec": {"rules": [
                {"group": "example.com", "resources": ["*"], "contexts": ["User"]}
            ]}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!serves(&api, &project, "w4").await);
    assert_eq!(
        listed(&api, &format!("{}{WIDGETS}", user_ctx("alice"))).await,
        ["widgets"]
    );

    // Deleted, the annotation decides again; the organization's objects
    // are where they were.
    let r = api
        .call("DELETE", &format!("{POLICIES}/widgets"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(listed(&api, &format!("{org}{WIDGETS}")).await, ["widgets"]);
    assert!(listed(&api, &format!("{project}{WIDGETS}"))
        .await
        .is_empty());
    let r = api.get(&format!("{org}{WIDGETS}/widgets/w1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!serves(&api, &project, "w5").await);
}

#[tokio::test]
async fn a_policy_is_in_force_on_another_instance_once_its_write_answered() {
    let a = api().await;
    let b = a.sibling().await;
    setup(&a).await;
    let org = org_ctx("acme");
    // B has just read its catalog: widgets are served in the organization.
    assert!(serves(&b, &org, "w1").await);
    assert_eq!(listed(&b, &format!("{org}{WIDGETS}")).await, ["widgets"]);

    let r = a.post(POLICIES, widgets_in(&["Platform"])).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!serves(&b, &org, "w2").await);
    assert!(listed(&b, &format!("{org}{WIDGETS}")).await.is_empty());

    let r = a.call("DELETE", &format!("{POLICIES}/widgets"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(serves(&b, &org, "w3").await);
    assert_eq!(listed(&b, &format!("{org}{WIDGETS}")).await, ["widgets"]);
}

#[tokio::test]
async fn an_invalid_policy_is_refused_with_its_fields() {
    let api = api().await;
    let refused = |r: Reply| {
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.body["reason"], "Invalid");
        causes(&r.body)
    };
    // What the schema says: an enum, at least one rule, context, resource.
    let r = api
        .post(
            POLICIES,
            policy(
                "bad-schema",
                json!([{"group": "example.com", "resources": ["widgets"], "contexts": ["Cluster"]}]),
            ),
        )
        .await;
    assert_eq!(refused(r), ["spec.rules[0].contexts[0]"]);
    let r = api.post(POLICIES, policy("empty", json!([]))).await;
    assert_eq!(refused(r), ["spec.rules"]);
    let r = api
        .post(
            POLICIES,
            policy(
                "no-contexts",
                json!([{"group": "", "resources": [], "contexts": []}]),
            ),
        )
        .await;
    let fields = refused(r);
    assert!(
        fields.contains(&"spec.rules[0].contexts".to_string())
            && fields.contains(&"spec.rules[0].resources".to_string()),
        "{fields:?}"
    );
    // What the rules add: names, "*" alone, no repeats.
    let r = api
        .post(
            POLICIES,
            policy(
                "bad-names",
                json!([
                    {"group": "Example_com", "resources": ["widgets"], "contexts": ["Project"]},
                    {"group": "*", "resources": ["*", "widgets"], "contexts": ["Project"]},
                    {"group": "a.com", "resources": ["Widgets", "x", "x"], "contexts": ["Project"]}
                ]),
            ),
        )
        .await;
    assert_eq!(
        refused(r),
        [
            "spec.rules[0].group",
            "spec.rules[1].resources[0]",
            "spec.rules[2].resources[0]",
            "spec.rules[2].resources[2]"
        ]
    );
    // Nothing was stored, and an update is checked as a create.
    let r = api.get(POLICIES).await;
    assert_eq!(names(&r.body), Vec::<String>::new());
    let r = api.post(POLICIES, widgets_in(&["Project"])).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &format!("{POLICIES}/widgets"),
            Some(json!({"spec": {"rules": [{"group": "example.com", "resources": ["a b"], "contexts": ["Project"]}]}})),
        )
        .await;
    assert_eq!(refused(r), ["spec.rules[0].resources[0]"]);
}
