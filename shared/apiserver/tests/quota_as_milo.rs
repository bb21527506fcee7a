//! Quota as Milo's own suites expect it (#18), against DynamoDB Local: the
//! platform's `milo-system` namespace, Milo's registration texts and its
//! refusal of a second registration of a type, claims written directly
//! stored refused when over quota, creation policies for types not
//! registered accepted and reported on Ready, and a project's quota kept
//! and enforced in its own control plane.

mod common;

use common::*;
use serde_json::{json, Value};

const Q: &str = "/apis/quota.miloapis.com/v1alpha1";
const PROJECTS: &str = "test.quota.miloapis.com/projects";
const USERS: &str = "test.quota.miloapis.com/users";

fn registration(name: &str, resource_type: &str) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ResourceRegistration",
        "metadata": {"name": name},
        "spec": {
            "consumerType": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization"},
            "type": "Entity",
            "resourceType": resource_type,
            "description": "per organization",
            "baseUnit": "item",
            "displayUnit": "items",
            "unitConversionFactor": 1,
            "claimingResources": [{"apiGroup": "resourcemanager.miloapis.com", "kind": "Project"}]
        }
    })
}

async fn register(api: &Api, name: &str, resource_type: &str) {
    let r = api
        .post(
            &format!("{Q}/resourceregistrations"),
            registration(name, resource_type),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

fn condition<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    doc["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn message(reply: &Reply) -> String {
    reply.body["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A grant or claim in the platform's `milo-system`, as Milo's suites write them.
fn in_milo_system(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": "milo-system"},
        "spec": spec,
    })
}

fn org_ref(org: &str) -> Value {
    json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": org})
}

async fn grant(api: &Api, name: &str, org: &str, resource_type: &str, amount: i64) {
    let spec = json!({
        "consumerRef": org_ref(org),
        "allowances": [{"resourceType": resource_type, "buckets": [{"amount": amount}]}]
    });
    let r = api
        .post(
            &format!("{Q}/namespaces/milo-system/resourcegrants"),
            in_milo_system("ResourceGrant", name, spec),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

fn claim(name: &str, org: &str, requests: Value) -> Value {
    in_milo_system(
        "ResourceClaim",
        name,
        json!({"consumerRef": org_ref(org), "requests": requests}),
    )
}

async fn allocated(api: &Api, org: &str) -> Vec<(String, i64)> {
    let r = api
        .get(&format!(
            "{Q}/namespaces/organization-{org}/allowancebuckets"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut out: Vec<(String, i64)> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["spec"]["resourceType"].as_str().unwrap().to_string(),
                b["status"]["allocated"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_platform_has_milo_system_and_keeps_it() {
    let api = api().await;
    let r = api.get("/api/v1/namespaces/milo-system").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"]["phase"], "Active");
    let r = api
        .call("DELETE", "/api/v1/namespaces/milo-system", None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Grants go there, as Milo's suites put them.
    api.org("acme").await;
    register(&api, "projects", PROJECTS).await;
    grant(&api, "acme-projects", "acme", PROJECTS, 2).await;
    assert_eq!(allocated(&api, "acme").await, [(PROJECTS.to_string(), 0)]);
}

#[tokio::test]
async fn registrations_speak_milos_words_and_a_type_is_registered_once() {
    let api = api().await;
    let regs = format!("{Q}/resourceregistrations");
    let r = api.post(&regs, registration("projects", PROJECTS)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let active = condition(&r.body, "Active");
    assert_eq!(active["reason"], "RegistrationActive");
    assert_eq!(
        active["message"],
        "The registration is active and resource grants and claims can now be created for this resource type."
    );

    // Another name for the same type: refused, and not stored.
    let r = api
        .post(&regs, registration("projects-again", PROJECTS))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(message(&r).contains("already registered"), "{}", r.body);
    assert_eq!(api.get(&format!("{regs}/projects-again")).await.status, 404);

    let mut dup = registration("dup", USERS);
    dup["spec"]["claimingResources"] = json!([
        {"apiGroup": "apps", "kind": "Deployment"},
        {"apiGroup": "apps", "kind": "Deployment"}
    ]);
    let r = api.post(&regs, dup).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        message(&r).contains("duplicate claiming resource"),
        "{}",
        r.body
    );

    for (patch, text) in [
        (
            json!({"spec": {"resourceType": "test.quota.miloapis.com/other"}}),
            "spec.resourceType is immutable",
        ),
        (
            json!({"spec": {"consumerType": {"apiGroup": "iam.miloapis.com", "kind": "User"}}}),
            "spec.consumerType is immutable",
        ),
        (
            json!({"spec": {"type": "Allocation"}}),
            "spec.type is immutable",
        ),
    ] {
        let r = api
            .call("PATCH", &format!("{regs}/projects"), Some(patch))
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(message(&r).contains(text), "{text}: {}", r.body);
    }
    // What may change, changes; updating itself is no second registration.
    let r = api
        .call(
            "PATCH",
            &format!("{regs}/projects"),
            Some(json!({"spec": {"description": "changed"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_claim_written_directly_over_quota_is_stored_refused_and_counts_nowhere() {
    let api = api().await;
    api.org("acme").await;
    register(&api, "projects", PROJECTS).await;
    register(&api, "users", USERS).await;
    grant(&api, "acme-projects", "acme", PROJECTS, 5).await;
    grant(&api, "acme-users", "acme", USERS, 15).await;
    let claims = format!("{Q}/namespaces/milo-system/resourceclaims");

    let r = api
        .post(
            &claims,
            claim(
                "fits",
                "acme",
                json!([{"resourceType": PROJECTS, "amount": 2}, {"resourceType": USERS, "amount": 5}]),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(condition(&r.body, "Granted")["reason"], "QuotaAvailable");

    // One request has no room: the whole claim is stored refused.
    let r = api
        .post(
            &claims,
            claim(
                "too-many",
                "acme",
                json!([{"resourceType": PROJECTS, "amount": 1}, {"resourceType": USERS, "amount": 20}]),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let granted = condition(&r.body, "Granted");
    assert_eq!(
        (granted["status"].as_str(), granted["reason"].as_str()),
        (Some("False"), Some("QuotaExceeded")),
        "{}",
        r.body
    );
    let stored = api.get(&format!("{claims}/too-many")).await;
    assert_eq!(condition(&stored.body, "Granted")["status"], "False");
    let held = vec![(PROJECTS.to_string(), 2), (USERS.to_string(), 5)];
    assert_eq!(allocated(&api, "acme").await, held);

    // Only the server says whether a claim is granted.
    let mut flipped = stored.body.clone();
    flipped["status"]["conditions"][0]["status"] = json!("True");
    let r = api
        .call("PUT", &format!("{claims}/too-many/status"), Some(flipped))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // Its delete gives back nothing; the granted one's gives back its own.
    let r = api
        .call("DELETE", &format!("{claims}/too-many"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(allocated(&api, "acme").await, held);
    let r = api.call("DELETE", &format!("{claims}/fits"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        allocated(&api, "acme").await,
        [(PROJECTS.to_string(), 0), (USERS.to_string(), 0)]
    );
    let store = store::Store::new(store::Store::client_from_env().await, api.table.clone());
    let report = apiserver::quota_audit::audit(&store, false).await.unwrap();
    assert!(report.drifts.is_empty(), "{:?}", report.drifts);
}

fn claim_policy(name: &str, resource_type: &str, label: &str) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ClaimCreationPolicy",
        "metadata": {"name": name},
        "spec": {
            "trigger": {
                "resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project"},
                "constraints": [{"expression": format!("has(trigger.metadata.labels) && '{label}' in trigger.metadata.labels")}]
            },
            "target": {"resourceClaimTemplate": {
                "metadata": {"namespace": "milo-system"},
                "spec": {
                    "consumerRef": {
                        "apiGroup": "resourcemanager.miloapis.com",
                        "kind": "Organization",
                        "name": "{{trigger.spec.ownerRef.name}}"
                    },
                    "requests": [{"resourceType": resource_type, "amount": 1}]
                }
            }}
        }
    })
}

#[tokio::test]
async fn a_policy_for_an_unregistered_type_is_accepted_not_ready_and_makes_nothing() {
    let api = api().await;
    api.org("acme").await;
    let policies = format!("{Q}/claimcreationpolicies");
    let r = api
        .post(
            &policies,
            claim_policy("early", "nonexistent.miloapis.com/projects", "early"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ready = condition(&r.body, "Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("ValidationFailed")),
        "{}",
        r.body
    );
    assert!(ready["message"]
        .as_str()
        .unwrap()
        .contains("nonexistent.miloapis.com/projects"));

    // Its trigger is written as if it were not there.
    let mut p = project("p1", "Organization", "acme");
    p["metadata"]["labels"] = json!({"early": "yes"});
    let r = api.post(&format!("{G}/projects"), p).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let claims = api
        .get(&format!("{Q}/namespaces/milo-system/resourceclaims"))
        .await;
    assert_eq!(claims.body["items"], json!([]), "{}", claims.body);

    // Once its type is registered it is Ready and in force.
    register(&api, "late", "nonexistent.miloapis.com/projects").await;
    let r = api.get(&format!("{policies}/early")).await;
    let ready = condition(&r.body, "Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("PolicyReady")),
        "{}",
        r.body
    );
    let mut p = project("p2", "Organization", "acme");
    p["metadata"]["labels"] = json!({"early": "yes"});
    let r = api.post(&format!("{G}/projects"), p).await;
    // No grant gives acme any of the type: the policy's claim is refused.
    assert_eq!(r.status, 403, "{}", r.body);

    // A trigger kind outside the registration's claimingResources is Ready,
    // as in Milo; its message says what its claims will meet.
    let mut reg = registration("edge", "test.quota.miloapis.com/edge");
    reg["spec"]["claimingResources"] =
        json!([{"apiGroup": "test.miloapis.com", "kind": "EdgeProject"}]);
    let r = api.post(&format!("{Q}/resourceregistrations"), reg).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .post(
            &policies,
            claim_policy("edge", "test.quota.miloapis.com/edge", "edge"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ready = condition(&r.body, "Ready");
    assert_eq!(ready["status"], "True", "{}", r.body);
    assert!(ready["message"]
        .as_str()
        .unwrap()
        .contains("claimingResources"));
}

#[tokio::test]
async fn a_claim_policy_without_consumer_ref_claims_from_the_control_plane_written_in() {
    let api = api().await;
    api.org("acme").await;
    register(&api, "projects", PROJECTS).await;
    grant(&api, "acme-projects", "acme", PROJECTS, 1).await;
    let mut policy = claim_policy("from-context", PROJECTS, "counted");
    let template = &mut policy["spec"]["target"]["resourceClaimTemplate"];
    template["spec"]
        .as_object_mut()
        .unwrap()
        .remove("consumerRef");
    template["metadata"]["namespace"] = json!("organization-acme");
    let r = api
        .post(&format!("{Q}/claimcreationpolicies"), policy)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let in_org = format!("{G}/organizations/acme/control-plane{G}/projects");
    let labelled = |name: &str| {
        let mut p = project(name, "Organization", "acme");
        p["metadata"]["labels"] = json!({"counted": "yes"});
        p
    };
    let r = api.post(&in_org, labelled("p1")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let claims = api
        .get(&format!("{Q}/namespaces/organization-acme/resourceclaims"))
        .await;
    let items = claims.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", claims.body);
    assert_eq!(items[0]["spec"]["consumerRef"], org_ref("acme"));
    assert_eq!(allocated(&api, "acme").await, [(PROJECTS.to_string(), 1)]);
    // The organization's quota holds: the next project's write is refused.
    let r = api.post(&in_org, labelled("p2")).await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Written in the platform's own context there is no consumer to take.
    let r = api.post(&format!("{G}/projects"), labelled("p3")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(message(&r).contains("consumerRef"), "{}", r.body);
}

/// Quota inside a project's control plane, as Milo's multi-cluster and
/// structured-type suites run it: a policy grants each project an
/// allowance in its own `milo-system`, where the project's bucket is kept;
/// a Secret written there makes its claim beside it, in its namespace,
/// counted in that bucket; its delete releases it; the quota holds.
#[tokio::test]
async fn a_projects_quota_lives_and_is_enforced_in_its_own_control_plane() {
    const SECRETS: &str = "test.quota.miloapis.com/secrets";
    let api = api().await;
    let mut secrets = registration("secrets", SECRETS);
    secrets["spec"]["consumerType"]["kind"] = json!("Project");
    secrets["spec"]["claimingResources"] = json!([{"apiGroup": "", "kind": "Secret"}]);
    let r = api
        .post(&format!("{Q}/resourceregistrations"), secrets)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grants = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "GrantCreationPolicy",
        "metadata": {"name": "secrets-per-project"},
        "spec": {
            "trigger": {"resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project"}},
            "target": {
                "parentContext": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "nameExpression": "trigger.metadata.name"},
                "resourceGrantTemplate": {
                    "metadata": {"name": "auto-grant-{{trigger.metadata.name}}", "namespace": "milo-system"},
                    "spec": {
                        "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "{{trigger.metadata.name}}"},
                        "allowances": [{"resourceType": SECRETS, "buckets": [{"amount": 2}]}]
                    }
                }
            }
        }
    });
    let r = api
        .post(&format!("{Q}/grantcreationpolicies"), grants)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let claims = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ClaimCreationPolicy",
        "metadata": {"name": "secrets"},
        "spec": {
            "trigger": {"resource": {"apiVersion": "v1", "kind": "Secret"}},
            "target": {"resourceClaimTemplate": {
                "metadata": {"name": "secret-{{ trigger.metadata.name }}", "namespace": "{{requestInfo.namespace}}"},
                "spec": {"requests": [{"resourceType": SECRETS, "amount": 1}]}
            }}
        }
    });
    let r = api
        .post(&format!("{Q}/claimcreationpolicies"), claims)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    api.org("acme").await;
    assert_eq!(api.project("web", "Organization", "acme").await.status, 201);

    let web = format!("{G}/projects/web/control-plane");
    let bucket = || {
        let api = &api;
        let web = &web;
        async move {
            let r = api
                .get(&format!("{web}{Q}/namespaces/milo-system/allowancebuckets"))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let items = r.body["items"].as_array().unwrap().clone();
            assert_eq!(items.len(), 1, "{}", r.body);
            items[0].clone()
        }
    };
    let fresh = bucket().await;
    assert_eq!(
        fresh["metadata"]["labels"]["quota.miloapis.com/consumer-kind"],
        "Project"
    );
    assert_eq!(
        fresh["metadata"]["labels"]["quota.miloapis.com/consumer-name"],
        "web"
    );
    assert_eq!(fresh["status"]["limit"], 2, "{fresh}");
    assert_eq!(fresh["status"]["available"], 2, "{fresh}");
    // Not in the organization's namespace of the platform.
    let r = api
        .get(&format!(
            "{Q}/namespaces/organization-acme/allowancebuckets?labelSelector=quota.miloapis.com/consumer-kind=Project"
        ))
        .await;
    assert_eq!(r.body["items"], json!([]), "{}", r.body);

    let secret = |name: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"k": "v"}});
    let secrets_uri = format!("{web}/api/v1/namespaces/default/secrets");
    for name in ["s1", "s2"] {
        let r = api.post(&secrets_uri, secret(name)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let claim = api
        .get(&format!(
            "{web}{Q}/namespaces/default/resourceclaims/secret-s1"
        ))
        .await;
    assert_eq!(claim.status, 200, "{}", claim.body);
    assert_eq!(
        claim.body["spec"]["consumerRef"],
        json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "web"})
    );
    assert_eq!(condition(&claim.body, "Granted")["status"], "True");
    let full = bucket().await;
    assert_eq!(full["status"]["allocated"], 2, "{full}");
    assert_eq!(full["status"]["available"], 0, "{full}");

    // Full: the third Secret is refused, and nothing of it is stored.
    let r = api.post(&secrets_uri, secret("s3")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(api.get(&format!("{secrets_uri}/s3")).await.status, 404);

    // A delete releases its claim and frees the bucket.
    let r = api.call("DELETE", &format!("{secrets_uri}/s1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let claim = api
        .get(&format!(
            "{web}{Q}/namespaces/default/resourceclaims/secret-s1"
        ))
        .await;
    assert_eq!(claim.status, 404, "{}", claim.body);
    assert_eq!(bucket().await["status"]["allocated"], 1);
    let r = api.post(&secrets_uri, secret("s3")).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // The organization's quota tree shows the project's bucket.
    let tree = api.get(&format!("{Q}/quotatrees/acme")).await;
    assert_eq!(tree.status, 200, "{}", tree.body);
    let web_node = &tree.body["root"]["children"][0];
    assert_eq!(web_node["name"], "web", "{}", tree.body);
    assert_eq!(
        web_node["resources"][0],
        json!({"resourceType": SECRETS, "limited": true, "limit": 2, "allocated": 2, "available": 0})
    );
}
