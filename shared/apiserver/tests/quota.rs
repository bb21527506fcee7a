//! Quota (#5) through the whole pipeline, against DynamoDB Local: the six
//! kinds checked at write, claims decided in the create's transaction,
//! released with the delete, grants moving limits, hierarchical buckets,
//! and the count holding under a burst of concurrent creates.

mod common;

use common::*;
use serde_json::{json, Value};

const Q: &str = "/apis/quota.miloapis.com/v1alpha1";
const PROJECTS: &str = "test.quota.miloapis.com/projects";
const CLAIMS: &str = "quota.miloapis.com/claims";

fn registration(name: &str, resource_type: &str) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ResourceRegistration",
        "metadata": {"name": name},
        "spec": {
            "consumerType": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization"},
            "type": "Entity",
            "resourceType": resource_type,
            "description": "projects per organization",
            "baseUnit": "project",
            "displayUnit": "projects",
            "unitConversionFactor": 1,
            "claimingResources": [{"apiGroup": "resourcemanager.miloapis.com", "kind": "Project"}]
        }
    })
}

/// Milo's project policy: every project claims one of PROJECTS from its
/// organization.
fn project_policy(name: &str) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ClaimCreationPolicy",
        "metadata": {"name": name},
        "spec": {
            "trigger": {
                "resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project"},
                "constraints": [{"expression": "trigger.metadata.name != 'exempt'"}]
            },
            "target": {"resourceClaimTemplate": {
                "metadata": {"namespace": "organization-{{trigger.metadata.labels['resourcemanager.miloapis.com/organization-name']}}"},
                "spec": {
                    "consumerRef": {
                        "apiGroup": "resourcemanager.miloapis.com",
                        "kind": "Organization",
                        "name": "{{trigger.metadata.labels['resourcemanager.miloapis.com/organization-name']}}"
                    },
                    "requests": [{"resourceType": PROJECTS, "amount": 1}]
                }
            }}
        }
    })
}

fn grant(name: &str, org: &str, kind: &str, consumer: &str, amount: i64) -> Value {
    grant_of(name, org, kind, consumer, PROJECTS, amount)
}

fn grant_of(
    name: &str,
    org: &str,
    kind: &str,
    consumer: &str,
    resource_type: &str,
    amount: i64,
) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ResourceGrant",
        "metadata": {"name": name, "namespace": format!("organization-{org}")},
        "spec": {
            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": kind, "name": consumer},
            "allowances": [{"resourceType": resource_type, "buckets": [{"amount": amount}]}]
        }
    })
}

/// A claim written directly (no policy), in `namespace` of the platform.
fn direct_claim(
    name: &str,
    namespace: &str,
    consumer: (&str, &str),
    resource_type: &str,
    amount: i64,
) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": consumer.0, "name": consumer.1},
            "requests": [{"resourceType": resource_type, "amount": amount}]
        }
    })
}

fn condition<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    doc["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

async fn setup(api: &Api) {
    let r = api
        .post(
            &format!("{Q}/resourceregistrations"),
            registration("projects", PROJECTS),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .post(
            &format!("{Q}/claimcreationpolicies"),
            project_policy("projects"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn give(api: &Api, org: &str, kind: &str, consumer: &str, amount: i64) -> Reply {
    let name = format!("{}-{consumer}", kind.to_lowercase());
    post_grant(api, org, grant(&name, org, kind, consumer, amount)).await
}

/// Writes `grant` in organization `org`'s namespace; it must be created.
async fn post_grant(api: &Api, org: &str, grant: Value) -> Reply {
    let r = api
        .post(
            &format!("{Q}/namespaces/organization-{org}/resourcegrants"),
            grant,
        )
        .await;
    assert_eq!(r.status, 201, "grant: {}", r.body);
    r
}

/// The buckets of `consumer`, found by their consumer labels where they
/// live: a project's in its control plane's `milo-system` (as Milo keeps
/// them), the others in their organization's namespace.
async fn buckets(api: &Api, org: &str, kind: &str, consumer: &str) -> Vec<Value> {
    let namespace = match kind {
        "Project" => format!("{G}/projects/{consumer}/control-plane{Q}/namespaces/milo-system"),
        _ => format!("{Q}/namespaces/organization-{org}"),
    };
    items_at(
        api,
        &format!(
            "{namespace}/allowancebuckets?labelSelector=quota.miloapis.com/consumer-kind={kind},quota.miloapis.com/consumer-name={consumer}"
        ),
    )
    .await
}

/// The items of the list at `path`.
async fn items_at(api: &Api, path: &str) -> Vec<Value> {
    let r = api.get(path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// The bucket of `consumer` for PROJECTS.
async fn bucket(api: &Api, org: &str, kind: &str, consumer: &str) -> Value {
    let items = buckets(api, org, kind, consumer).await;
    assert_eq!(
        items.len(),
        1,
        "one bucket for {kind} {consumer}: {items:?}"
    );
    items[0].clone()
}

/// Organization acme (10 projects) with folder eng (4 of them).
async fn acme_with_folder_eng() -> Api {
    let api = api().await;
    setup(&api).await;
    api.org("acme").await;
    assert_eq!(api.folder("eng", "Organization", "acme").await.status, 201);
    give(&api, "acme", "Organization", "acme", 10).await;
    give(&api, "acme", "Folder", "eng", 4).await;
    api
}

async fn claims_for(api: &Api, org: &str, project: &str) -> Vec<Value> {
    items_at(
        api,
        &format!(
            "{Q}/namespaces/organization-{org}/resourceclaims?labelSelector=quota.miloapis.com/resource-name={project}"
        ),
    )
    .await
}

#[tokio::test]
async fn quota_kinds_are_checked_at_write_and_report_their_conditions() {
    let api = api().await;
    api.org("acme").await;

    // A claim policy for a type nobody registered is accepted, not Ready
    // (as Milo; #18: refusing it was wrong).
    let r = api
        .post(
            &format!("{Q}/claimcreationpolicies"),
            project_policy("early"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(condition(&r.body, "Ready")["reason"], "ValidationFailed");
    assert!(condition(&r.body, "Ready")["message"]
        .as_str()
        .unwrap()
        .contains("ResourceRegistration"));
    let r = api
        .call("DELETE", &format!("{Q}/claimcreationpolicies/early"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = api
        .post(
            &format!("{Q}/resourceregistrations"),
            registration("projects", PROJECTS),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(condition(&r.body, "Active")["status"], "True");

    let r = api
        .post(
            &format!("{Q}/claimcreationpolicies"),
            project_policy("projects"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(condition(&r.body, "Ready")["status"], "True");

    // CEL that does not compile: 422 at the field, nothing stored.
    let mut bad = project_policy("bad-cel");
    bad["spec"]["trigger"]["constraints"][0]["expression"] = json!("trigger.metadata.name ==");
    let r = api.post(&format!("{Q}/claimcreationpolicies"), bad).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        causes(&r.body).iter().any(|f| f.contains("constraints")),
        "{}",
        r.body
    );
    assert_eq!(
        api.get(&format!("{Q}/claimcreationpolicies/bad-cel"))
            .await
            .status,
        404
    );

    // A template with a broken {{ CEL }}.
    let mut bad = project_policy("bad-template");
    bad["spec"]["target"]["resourceClaimTemplate"]["spec"]["consumerRef"]["name"] =
        json!("{{trigger.metadata.name +}}");
    let r = api.post(&format!("{Q}/claimcreationpolicies"), bad).await;
    assert_eq!(r.status, 422, "{}", r.body);

    let grants = format!("{Q}/namespaces/organization-acme/resourcegrants");
    for amount in [-1, 0] {
        let mut g = grant("g", "acme", "Organization", "acme", 1);
        g["spec"]["allowances"][0]["buckets"][0]["amount"] = json!(amount);
        let r = api.post(&grants, g).await;
        if amount < 0 {
            assert_eq!(r.status, 422, "amount {amount}: {}", r.body);
        } else {
            // A grant of 0 is Milo's way to say "none" (a limiting bucket at 0).
            assert_eq!(r.status, 201, "amount 0: {}", r.body);
            let d = api.call("DELETE", &format!("{grants}/g"), None).await;
            assert_eq!(d.status, 200, "{}", d.body);
        }
    }
    let mut g = grant("g", "acme", "Organization", "acme", 1);
    g["spec"]["allowances"][0]["resourceType"] = json!("nobody.registered/this");
    let r = api.post(&grants, g).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.allowances[0].resourceType"]);

    let r = api
        .post(&grants, grant("g", "acme", "Organization", "nowhere", 1))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.consumerRef"]);
    assert_eq!(api.get(&format!("{grants}/g")).await.status, 404);

    let r = api
        .post(&grants, grant("g", "acme", "Organization", "acme", 3))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(condition(&r.body, "Active")["status"], "True");

    // Buckets are the system's.
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(b["status"]["limit"], 3);
    let name = b["metadata"]["name"].as_str().unwrap();
    let buckets = format!("{Q}/namespaces/organization-acme/allowancebuckets");
    assert_eq!(api.post(&buckets, b.clone()).await.status, 405);
    assert_eq!(
        api.call("DELETE", &format!("{buckets}/{name}"), None)
            .await
            .status,
        405
    );
    let patch = json!({"status": {"limit": 1000}});
    assert_eq!(
        api.call("PATCH", &format!("{buckets}/{name}"), Some(patch))
            .await
            .status,
        405
    );

    // A claim written directly: a zero amount is refused.
    let claim = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ResourceClaim",
        "metadata": {"name": "direct", "namespace": "organization-acme"},
        "spec": {
            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "acme"},
            "requests": [{"resourceType": PROJECTS, "amount": 0}]
        }
    });
    let claims = format!("{Q}/namespaces/organization-acme/resourceclaims");
    let r = api.post(&claims, claim.clone()).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let mut unregistered = claim.clone();
    unregistered["spec"]["requests"][0] =
        json!({"resourceType": "nobody.registered/this", "amount": 1});
    let r = api.post(&claims, unregistered).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(api.get(&format!("{claims}/direct")).await.status, 404);
    // A valid one is granted at once and counted.
    let mut ok = claim;
    ok["spec"]["requests"][0]["amount"] = json!(2);
    let r = api.post(&claims, ok).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(condition(&r.body, "Granted")["status"], "True");
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(
        (
            b["status"]["allocated"].as_i64(),
            b["status"]["available"].as_i64()
        ),
        (Some(2), Some(1))
    );
    let r = api.call("DELETE", &format!("{claims}/direct"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(b["status"]["allocated"], 0);
}

#[tokio::test]
async fn a_project_create_claims_in_its_transaction_and_the_delete_releases() {
    let api = api().await;
    setup(&api).await;
    api.org("acme").await;
    give(&api, "acme", "Organization", "acme", 2).await;

    for p in ["p1", "p2"] {
        let r = api.project(p, "Organization", "acme").await;
        assert_eq!(r.status, 201, "{p}: {}", r.body);
        let claims = claims_for(&api, "acme", p).await;
        assert_eq!(claims.len(), 1, "{p}");
        let claim = &claims[0];
        assert_eq!(condition(claim, "Granted")["status"], "True");
        assert_eq!(condition(claim, "Granted")["reason"], "QuotaAvailable");
        assert_eq!(claim["spec"]["resourceRef"]["name"], p);
        assert_eq!(claim["metadata"]["ownerReferences"][0]["kind"], "Project");
        assert_eq!(
            claim["metadata"]["labels"]["quota.miloapis.com/auto-created"],
            "true"
        );
    }
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(b["status"]["allocated"], 2);
    assert_eq!(b["status"]["claimCount"], 2);
    assert_eq!(b["status"]["available"], 0);

    // The project records its claim, and the server keeps that record
    // through an update that drops it.
    let p2_claim = claims_for(&api, "acme", "p2").await[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let held = format!("organization-acme/{p2_claim}");
    let p2 = api.get(&format!("{G}/projects/p2")).await;
    assert_eq!(p2.body["metadata"]["annotations"][CLAIMS], held.as_str());
    let mut dropped = p2.body.clone();
    dropped["metadata"]["annotations"] = json!({"note": "edited"});
    let r = api
        .call("PUT", &format!("{G}/projects/p2"), Some(dropped))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["annotations"][CLAIMS], held.as_str());

    // Over quota: 403 with the numbers, and nothing written.
    let r = api.project("p3", "Organization", "acme").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["reason"], "Forbidden");
    let message = r.body["message"].as_str().unwrap();
    for part in [PROJECTS, "requested 1", "allocated 2", "limit 2"] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(api.get(&format!("{G}/projects/p3")).await.status, 404);
    assert!(claims_for(&api, "acme", "p3").await.is_empty());

    // A policy's claim goes with its object, not on its own.
    let claim = &claims_for(&api, "acme", "p2").await[0];
    let r = api
        .call(
            "DELETE",
            &format!(
                "{Q}/namespaces/organization-acme/resourceclaims/{}",
                claim["metadata"]["name"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(claims_for(&api, "acme", "p2").await.len(), 1);

    // A project the policy's constraint exempts claims nothing, and cannot
    // forge a record of another's claim: deleting it leaves that claim.
    let mut forged = project("exempt", "Organization", "acme");
    forged["metadata"]["annotations"] = json!({ CLAIMS: held });
    let r = api.post(&format!("{G}/projects"), forged).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body["metadata"]["annotations"].get(CLAIMS).is_none(),
        "{}",
        r.body
    );
    let r = api
        .call("DELETE", &format!("{G}/projects/exempt"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(claims_for(&api, "acme", "p2").await.len(), 1);

    // Deleting releases the claim in the same write.
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(claims_for(&api, "acme", "p1").await.is_empty());
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(b["status"]["allocated"], 1);
    assert_eq!(b["status"]["claimCount"], 1);
    let r = api.project("p3", "Organization", "acme").await;
    assert_eq!(r.status, 201, "room again: {}", r.body);
}

#[tokio::test]
async fn grants_move_the_limit_in_their_own_write() {
    let api = api().await;
    setup(&api).await;
    api.org("acme").await;
    give(&api, "acme", "Organization", "acme", 2).await;
    let extra = format!("{Q}/namespaces/organization-acme/resourcegrants");
    let r = api
        .post(&extra, grant("extra", "acme", "Organization", "acme", 3))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(b["status"]["limit"], 5);
    assert_eq!(b["status"]["grantCount"], 2);
    assert_eq!(
        b["status"]["contributingGrantRefs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for p in ["p1", "p2", "p3"] {
        assert_eq!(api.project(p, "Organization", "acme").await.status, 201);
    }
    // Lowering under what is allocated keeps what exists, refuses new claims.
    let patch =
        json!({"spec": {"allowances": [{"resourceType": PROJECTS, "buckets": [{"amount": 0}]}]}});
    let r = api
        .call("PATCH", &format!("{extra}/extra"), Some(patch))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(
        (
            b["status"]["limit"].as_i64(),
            b["status"]["allocated"].as_i64()
        ),
        (Some(2), Some(3))
    );
    assert_eq!(b["status"]["available"], 0);
    assert_eq!(api.project("p4", "Organization", "acme").await.status, 403);
    let r = api.call("DELETE", &format!("{extra}/extra"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(
        (
            b["status"]["limit"].as_i64(),
            b["status"]["grantCount"].as_i64()
        ),
        (Some(2), Some(1))
    );
}

#[tokio::test]
async fn a_folder_grant_caps_its_subtree_and_the_organization_caps_all() {
    let api = acme_with_folder_eng().await;

    for i in 0..4 {
        let r = api.project(&format!("eng-{i}"), "Folder", "eng").await;
        assert_eq!(r.status, 201, "eng-{i}: {}", r.body);
    }
    let r = api.project("eng-4", "Folder", "eng").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let message = r.body["message"].as_str().unwrap();
    assert!(message.contains("Folder \"eng\""), "{message}");
    assert!(message.contains("limit 4"), "{message}");

    for i in 0..6 {
        let r = api
            .project(&format!("top-{i}"), "Organization", "acme")
            .await;
        assert_eq!(r.status, 201, "top-{i}: {}", r.body);
    }
    let r = api.project("top-6", "Organization", "acme").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains("limit 10"),
        "{}",
        r.body
    );

    let org = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(org["status"]["allocated"], 10);
    let eng = bucket(&api, "acme", "Folder", "eng").await;
    assert_eq!(eng["status"]["allocated"], 4);
    assert_eq!(eng["status"]["limit"], 4);

    // The organization's quota tree: each level's limit, allocated and
    // available, folders and projects under their parents.
    let r = api.get(&format!("{Q}/quotatrees/acme")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "QuotaTree");
    let root = &r.body["root"];
    assert_eq!(root["kind"], "Organization");
    let level = |node: &Value| {
        let l = &node["resources"][0];
        assert_eq!(l["resourceType"], PROJECTS, "{node}");
        (
            l["limit"].clone(),
            l["allocated"].clone(),
            l["available"].clone(),
        )
    };
    assert_eq!(level(root), (json!(10), json!(10), json!(0)));
    let children = root["children"].as_array().unwrap();
    let folder = children.iter().find(|c| c["kind"] == "Folder").unwrap();
    assert_eq!(folder["name"], "eng");
    assert_eq!(level(folder), (json!(4), json!(4), json!(0)));
    assert_eq!(folder["children"].as_array().unwrap().len(), 4);
    let top_level = children.iter().filter(|c| c["kind"] == "Project").count();
    assert_eq!(top_level, 6, "{root}");

    let text = tree_text(&api, "acme").await;
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(line("Organization/acme")[2..], ["10", "10", "0"]);
    assert_eq!(line("Folder/eng")[2..], ["4", "4", "0"]);
    assert_eq!(
        api.get(&format!("{Q}/quotatrees/nowhere")).await.status,
        404
    );
    let r = api.post(&format!("{Q}/quotatrees"), json!({})).await;
    assert_eq!(r.status, 405, "{}", r.body);
    let r = api.get(&format!("{Q}/quotatrees/acme?format=yaml")).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

/// The quota tree as text (`?format=text`, what `kubectl get --raw` prints).
async fn tree_text(api: &Api, org: &str) -> String {
    let req = http::Request::builder()
        .uri(format!("{Q}/quotatrees/{org}?format=text"))
        .header("authorization", format!("Bearer {}", api.token))
        .body(bytes::Bytes::new())
        .unwrap();
    let resp = Box::pin(api.server.handle(req)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    String::from_utf8(resp.body().to_vec()).unwrap()
}

#[tokio::test]
async fn sixty_four_concurrent_creates_against_fifty_stop_at_exactly_fifty() {
    let api = api().await;
    setup(&api).await;
    api.org("acme").await;
    give(&api, "acme", "Organization", "acme", 50).await;
    let creates = (0..64).map(|i| {
        let api = &api;
        async move { api.project(&format!("p-{i}"), "Organization", "acme").await }
    });
    let replies = futures_util::future::join_all(creates).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let denied = replies.iter().filter(|r| r.status == 403).count();
    let other: Vec<String> = replies
        .iter()
        .filter(|r| r.status != 201 && r.status != 403)
        .map(|r| format!("{} {}", r.status, r.body))
        .collect();
    assert!(other.is_empty(), "unexpected replies: {other:?}");
    assert_eq!((created, denied), (50, 14));
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(b["status"]["allocated"], 50);
    assert_eq!(b["status"]["claimCount"], 50);
    let r = api
        .get(&format!(
            "{Q}/namespaces/organization-acme/resourceclaims?labelSelector=quota.miloapis.com/auto-created=true"
        ))
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn allowance_buckets_list_as_a_table_with_limit_allocated_available() {
    let api = api().await;
    setup(&api).await;
    api.org("acme").await;
    give(&api, "acme", "Organization", "acme", 5).await;
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    let request = http::Request::builder()
        .method("GET")
        .uri(format!("{Q}/namespaces/organization-acme/allowancebuckets"))
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .header("authorization", format!("Bearer {}", api.token))
        .body(bytes::Bytes::new())
        .unwrap();
    let response = api.server.handle(request).await;
    assert_eq!(response.status(), 200);
    let table: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    let row = &table["rows"][0]["cells"];
    assert_eq!(
        (
            &row[at("Limit")],
            &row[at("Allocated")],
            &row[at("Available")]
        ),
        (&json!(5), &json!(1), &json!(4)),
        "{table}"
    );
}

async fn move_to(api: &Api, kind: &str, name: &str, parent_kind: &str, parent: &str) -> Reply {
    let (plural, field) = match kind {
        "Project" => ("projects", "ownerRef"),
        _ => ("folders", "parentRef"),
    };
    let patch = json!({"spec": {field: {"kind": parent_kind, "name": parent}}});
    api.call("PATCH", &format!("{G}/{plural}/{name}"), Some(patch))
        .await
}

#[tokio::test]
async fn moves_carry_usage_to_the_new_ancestors_or_are_refused() {
    let api = api().await;
    setup(&api).await;
    api.org("acme").await;
    give(&api, "acme", "Organization", "acme", 10).await;
    for f in ["a", "b"] {
        assert_eq!(api.folder(f, "Organization", "acme").await.status, 201);
    }
    give(&api, "acme", "Folder", "b", 1).await;
    for p in ["p1", "p2"] {
        assert_eq!(api.project(p, "Folder", "a").await.status, 201);
    }
    let level = |b: Value| {
        (
            b["status"]["allocated"].as_i64(),
            b["status"]["claimCount"].as_i64(),
        )
    };
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "a").await),
        (Some(2), Some(2))
    );

    let r = move_to(&api, "Project", "p1", "Folder", "b").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "a").await),
        (Some(1), Some(1))
    );
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "b").await),
        (Some(1), Some(1))
    );
    assert_eq!(
        level(bucket(&api, "acme", "Organization", "acme").await),
        (Some(2), Some(2))
    );

    // b is full: the second move is refused, and nothing moved.
    let r = move_to(&api, "Project", "p2", "Folder", "b").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains("Folder \"b\""),
        "{}",
        r.body
    );
    let p2 = api.get(&format!("{G}/projects/p2")).await;
    assert_eq!(p2.body["spec"]["ownerRef"]["name"], "a");
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "a").await),
        (Some(1), Some(1))
    );

    // Deleting p1 releases on its new path.
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "b").await),
        (Some(0), Some(0))
    );
    assert_eq!(
        level(bucket(&api, "acme", "Organization", "acme").await),
        (Some(1), Some(1))
    );

    // A folder moves with its subtree's usage.
    let r = move_to(&api, "Folder", "a", "Folder", "b").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "b").await),
        (Some(1), Some(1))
    );
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "a").await),
        (Some(1), Some(1))
    );
    let r = api.call("DELETE", &format!("{G}/projects/p2"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "b").await),
        (Some(0), Some(0))
    );
    assert_eq!(
        level(bucket(&api, "acme", "Folder", "a").await),
        (Some(0), Some(0))
    );
    assert_eq!(
        level(bucket(&api, "acme", "Organization", "acme").await),
        (Some(0), Some(0))
    );
}

fn grant_policy(name: &str, grant_name: &str, constraint: &str, amount: i64) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "GrantCreationPolicy",
        "metadata": {"name": name},
        "spec": {
            "trigger": {
                "resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization"},
                "constraints": [{"expression": constraint}]
            },
            "target": {"resourceGrantTemplate": {
                "metadata": {
                    "name": grant_name,
                    "namespace": "organization-{{trigger.metadata.name}}"
                },
                "spec": {
                    "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "{{trigger.metadata.name}}"},
                    "allowances": [{"resourceType": PROJECTS, "buckets": [{"amount": amount}]}]
                }
            }}
        }
    })
}

#[tokio::test]
async fn an_organization_is_created_with_its_default_allowance() {
    let api = api().await;
    setup(&api).await;
    let policies = format!("{Q}/grantcreationpolicies");
    let r = api
        .post(
            &policies,
            grant_policy(
                "default",
                "default-{{trigger.metadata.name}}",
                "trigger.metadata.name != 'broken'",
                3,
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(condition(&r.body, "Ready")["status"], "True");
    // One whose template renders an invalid name for one organization.
    let r = api
        .post(
            &policies,
            grant_policy(
                "bad",
                "Bad_{{trigger.metadata.name}}",
                "trigger.metadata.name == 'broken'",
                1,
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    api.org("acme").await;
    let grant = api
        .get(&format!(
            "{Q}/namespaces/organization-acme/resourcegrants/default-acme"
        ))
        .await;
    assert_eq!(grant.status, 200, "{}", grant.body);
    assert_eq!(condition(&grant.body, "Active")["status"], "True");
    assert_eq!(
        grant.body["metadata"]["ownerReferences"][0]["kind"],
        "Organization"
    );
    assert_eq!(
        bucket(&api, "acme", "Organization", "acme").await["status"]["limit"],
        3
    );
    for p in ["p1", "p2", "p3"] {
        assert_eq!(api.project(p, "Organization", "acme").await.status, 201);
    }
    assert_eq!(api.project("p4", "Organization", "acme").await.status, 403);

    // The invalid render refuses the trigger; nothing is written.
    let r = api
        .post(&format!("{G}/organizations"), organization("broken"))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        causes(&r.body).iter().any(|f| f == "metadata.name"),
        "{}",
        r.body
    );
    assert_eq!(
        api.get(&format!("{G}/organizations/broken")).await.status,
        404
    );

    // The grant goes with its organization.
    for p in ["p1", "p2", "p3"] {
        let r = api.call("DELETE", &format!("{G}/projects/{p}"), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = api
        .call("DELETE", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let grant = api
        .get(&format!(
            "{Q}/namespaces/organization-acme/resourcegrants/default-acme"
        ))
        .await;
    assert_eq!(grant.status, 404, "{}", grant.body);
    // And its bucket, in the same transaction as the grant's removal.
    assert!(buckets(&api, "acme", "Organization", "acme")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_grant_with_a_generated_name_is_followed_through_updates_and_the_delete() {
    let api = api().await;
    setup(&api).await;
    let mut policy = grant_policy("generated", "", "true", 3);
    policy["spec"]["target"]["resourceGrantTemplate"]["metadata"] = json!({
        "generateName": "default-",
        "namespace": "organization-{{trigger.metadata.name}}"
    });
    let r = api
        .post(&format!("{Q}/grantcreationpolicies"), policy)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grants = format!("{Q}/namespaces/organization-acme/resourcegrants");
    let names = || async {
        let r = api.get(&grants).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["metadata"]["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    let org = api.org("acme").await.body;
    let made = names().await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].starts_with("default-"), "{made:?}");
    assert_eq!(
        org["metadata"]["annotations"]["quota.miloapis.com/grants"],
        format!("generated={}", made[0]).as_str()
    );

    // An update renders the grant again: the same one, not a second.
    let mut changed = org.clone();
    changed["metadata"]["labels"] = json!({"tier": "gold"});
    let r = api
        .call("PUT", &format!("{G}/organizations/acme"), Some(changed))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names().await, made);
    assert_eq!(
        bucket(&api, "acme", "Organization", "acme").await["status"]["limit"],
        3
    );

    // The delete finds it too: grant and bucket go with the organization.
    let r = api
        .call("DELETE", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(names().await.is_empty());
    assert!(buckets(&api, "acme", "Organization", "acme")
        .await
        .is_empty());
}

/// Milo's own policies write templates in CEL's leading-dot form
/// (`{{.trigger.metadata.name}}`) and a parent context's name from
/// `trigger`; both are accepted and render as Milo renders them.
#[tokio::test]
async fn a_grant_policy_written_as_milos_renders_into_the_triggers_own_control_plane() {
    let api = api().await;
    let seats = "test.quota.miloapis.com/seats";
    let mut reg = registration("seats", seats);
    reg["spec"]["consumerType"]["kind"] = json!("Project");
    let r = api.post(&format!("{Q}/resourceregistrations"), reg).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let policy = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "GrantCreationPolicy",
        "metadata": {"name": "project-seats"},
        "spec": {
            "trigger": {
                "resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project"},
                "constraints": [{"expression": ".trigger.metadata.name.startsWith('p')"}]
            },
            "target": {
                "parentContext": {
                    "apiGroup": "resourcemanager.miloapis.com",
                    "kind": "Project",
                    "nameExpression": "trigger.metadata.name"
                },
                "resourceGrantTemplate": {
                    "metadata": {
                        "name": "auto-grant-{{.trigger.metadata.name}}",
                        "namespace": "default",
                        "annotations": {"quota.miloapis.com/description": "Seats for {{.trigger.metadata.name}}"}
                    },
                    "spec": {
                        "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "{{.trigger.metadata.name}}"},
                        "allowances": [{"resourceType": seats, "buckets": [{"amount": 5}]}]
                    }
                }
            }
        }
    });
    let r = api
        .post(&format!("{Q}/grantcreationpolicies"), policy)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(condition(&r.body, "Ready")["status"], "True", "{}", r.body);

    api.org("acme").await;
    let r = api.project("p1", "Organization", "acme").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grant = api
        .get(&format!(
            "{G}/projects/p1/control-plane{Q}/namespaces/default/resourcegrants/auto-grant-p1"
        ))
        .await;
    assert_eq!(grant.status, 200, "{}", grant.body);
    assert_eq!(grant.body["spec"]["consumerRef"]["name"], "p1");
    assert_eq!(
        grant.body["metadata"]["annotations"]["quota.miloapis.com/description"],
        "Seats for p1"
    );
    assert_eq!(condition(&grant.body, "Active")["status"], "True");
    // Not in the platform: the parent context the expression named holds it.
    let platform = api
        .get(&format!(
            "{Q}/namespaces/default/resourcegrants/auto-grant-p1"
        ))
        .await;
    assert_eq!(platform.status, 404, "{}", platform.body);
    // The constraint's leading-dot form is evaluated too.
    let r = api.project("q1", "Organization", "acme").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let none = api
        .get(&format!(
            "{G}/projects/q1/control-plane{Q}/namespaces/default/resourcegrants/auto-grant-q1"
        ))
        .await;
    assert_eq!(none.status, 404, "{}", none.body);
}

/// A GrantCreationPolicy giving a project's organization `amount` more
/// projects, for the projects of organization `org`.
fn per_project_grant_policy(name: &str, org: &str, amount: i64) -> Value {
    let org_label = "trigger.metadata.labels['resourcemanager.miloapis.com/organization-name']";
    let constraint = format!("{org_label} == '{org}'");
    let mut policy = grant_policy(name, "for-{{trigger.metadata.name}}", &constraint, amount);
    policy["spec"]["trigger"]["resource"]["kind"] = json!("Project");
    let template = &mut policy["spec"]["target"]["resourceGrantTemplate"];
    template["metadata"]["namespace"] = json!(format!("organization-{{{{{org_label}}}}}"));
    template["spec"]["consumerRef"]["name"] = json!(format!("{{{{{org_label}}}}}"));
    policy
}

#[tokio::test]
async fn a_claim_and_a_grant_on_one_bucket_go_in_one_write() {
    let api = api().await;
    setup(&api).await;
    for (name, org, amount) in [("one-more", "acme", 1), ("none-more", "zero", 0)] {
        let r = api
            .post(
                &format!("{Q}/grantcreationpolicies"),
                per_project_grant_policy(name, org, amount),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    api.org("acme").await;
    api.org("zero").await;

    // Each project brings the grant it claims from: one write, one bucket.
    for p in ["p1", "p2"] {
        let r = api.project(p, "Organization", "acme").await;
        assert_eq!(r.status, 201, "{p}: {}", r.body);
    }
    let levels = |b: Value| {
        let s = &b["status"];
        [
            &s["limit"],
            &s["allocated"],
            &s["grantCount"],
            &s["claimCount"],
        ]
        .map(|v| v.as_i64())
    };
    let acme = || async { levels(bucket(&api, "acme", "Organization", "acme").await) };
    assert_eq!(acme().await, [Some(2), Some(2), Some(2), Some(2)]);
    // The delete releases the claim and takes the grant back, one write too.
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(acme().await, [Some(1), Some(1), Some(1), Some(1)]);

    // A grant that does not cover the claim: 403, nothing written.
    let r = api.project("z1", "Organization", "zero").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("limit 0"), "{message}");
    assert_eq!(api.get(&format!("{G}/projects/z1")).await.status, 404);
    assert_eq!(
        api.get(&format!(
            "{Q}/namespaces/organization-zero/resourcegrants/for-z1"
        ))
        .await
        .status,
        404
    );

    let store = store::Store::new(store::Store::client_from_env().await, api.table.clone());
    let report = apiserver::quota_audit::audit(&store, false).await.unwrap();
    assert_no_drift(&report);
}

#[tokio::test]
async fn a_deleted_consumer_takes_its_empty_buckets_along() {
    let api = acme_with_folder_eng().await;
    let store = store::Store::new(store::Store::client_from_env().await, api.table.clone());
    assert_eq!(api.project("p1", "Folder", "eng").await.status, 201);
    assert_eq!(api.project("p2", "Organization", "acme").await.status, 201);
    give(&api, "acme", "Project", "p2", 5).await;
    let grants = format!("{Q}/namespaces/organization-acme/resourcegrants");
    let delete = |path: String| {
        let api = &api;
        async move {
            let r = api.call("DELETE", &path, None).await;
            assert_eq!(r.status, 200, "DELETE {path}: {}", r.body);
        }
    };

    // A folder whose grant still names its bucket leaves it, limit in force.
    delete(format!("{G}/projects/p1")).await;
    delete(format!("{G}/folders/eng")).await;
    let eng = bucket(&api, "acme", "Folder", "eng").await;
    assert_eq!(eng["status"]["limit"], 4, "{eng}");
    assert_eq!(eng["status"]["allocated"], 0, "{eng}");
    // The grant's removal then takes it, though its consumer is gone.
    delete(format!("{grants}/folder-eng")).await;
    assert!(buckets(&api, "acme", "Folder", "eng").await.is_empty());

    // A project whose bucket is empty (its grant removed first) takes it.
    delete(format!("{grants}/project-p2")).await;
    assert_eq!(
        bucket(&api, "acme", "Project", "p2").await["status"]["limit"],
        0
    );
    delete(format!("{G}/projects/p2")).await;
    let p2_buckets = store
        .query_objects(
            "o#project:p2#quota.miloapis.com#AllowanceBucket",
            "",
            None,
            None,
        )
        .await
        .unwrap();
    assert!(p2_buckets.items.is_empty(), "{:?}", p2_buckets.items);

    // Moving a grant off a gone consumer takes that consumer's bucket too.
    assert_eq!(api.folder("ops", "Organization", "acme").await.status, 201);
    give(&api, "acme", "Folder", "ops", 2).await;
    delete(format!("{G}/folders/ops")).await;
    assert_eq!(
        bucket(&api, "acme", "Folder", "ops").await["status"]["limit"],
        2
    );
    let mut moved = api.get(&format!("{grants}/folder-ops")).await.body;
    moved["spec"]["consumerRef"] =
        json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "acme"});
    let r = api
        .call("PUT", &format!("{grants}/folder-ops"), Some(moved))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(buckets(&api, "acme", "Folder", "ops").await.is_empty());
    assert_eq!(
        bucket(&api, "acme", "Organization", "acme").await["status"]["limit"],
        12
    );

    // The organization: its own claim-free, grant-free bucket goes with it.
    delete(format!("{grants}/folder-ops")).await;
    delete(format!("{grants}/organization-acme")).await;
    assert_eq!(
        bucket(&api, "acme", "Organization", "acme").await["status"]["allocated"],
        0
    );
    delete(format!("{G}/organizations/acme")).await;
    assert!(buckets(&api, "acme", "Organization", "acme")
        .await
        .is_empty());
    let r = api
        .get(&format!(
            "{Q}/namespaces/organization-acme/allowancebuckets"
        ))
        .await;
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r.body
    );
}

/// A policy's claim for an object in a project's control plane counts on
/// that project's path, and the audit counts it there too.
#[tokio::test]
async fn a_claim_for_an_object_in_a_project_counts_on_its_path_for_the_audit_too() {
    const GADGETS: &str = "test.quota.miloapis.com/gadgets";
    let api = acme_with_folder_eng().await;
    assert_eq!(api.project("p1", "Folder", "eng").await.status, 201);
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    let r = api
        .post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut gadgets = registration("gadgets", GADGETS);
    gadgets["spec"]["claimingResources"] = json!([{"apiGroup": "example.com", "kind": "Gadget"}]);
    let r = api
        .post(&format!("{Q}/resourceregistrations"), gadgets)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let policy = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ClaimCreationPolicy",
        "metadata": {"name": "gadgets"},
        "spec": {
            "trigger": {"resource": {"apiVersion": "example.com/v1", "kind": "Gadget"}},
            "target": {"resourceClaimTemplate": {
                "metadata": {"namespace": "{{requestInfo.namespace}}"},
                "spec": {
                    "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "acme"},
                    "requests": [{"resourceType": GADGETS, "amount": 1}]
                }
            }}
        }
    });
    let r = api
        .post(&format!("{Q}/claimcreationpolicies"), policy)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    post_grant(
        &api,
        "acme",
        grant_of("gadgets-acme", "acme", "Organization", "acme", GADGETS, 5),
    )
    .await;

    let gadget =
        json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g1"}});
    let r = api
        .post(
            &format!(
                "{G}/projects/p1/control-plane/apis/example.com/v1/namespaces/default/gadgets"
            ),
            gadget,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let allocated = |kind: &'static str, name: &'static str| {
        let api = &api;
        async move {
            let items = buckets(api, "acme", kind, name).await;
            items
                .iter()
                .find(|b| b["spec"]["resourceType"] == GADGETS)
                .map(|b| b["status"]["allocated"].clone())
        }
    };
    for (kind, name) in [
        ("Project", "p1"),
        ("Folder", "eng"),
        ("Organization", "acme"),
    ] {
        assert_eq!(allocated(kind, name).await, Some(json!(1)), "{kind} {name}");
    }
    let store = store::Store::new(store::Store::client_from_env().await, api.table.clone());
    let report = apiserver::quota_audit::audit(&store, true).await.unwrap();
    assert_no_drift(&report);
    let path = [
        ("Project", "p1"),
        ("Folder", "eng"),
        ("Organization", "acme"),
    ];
    for (kind, name) in path {
        assert_eq!(allocated(kind, name).await, Some(json!(1)), "{kind} {name}");
    }

    // How a claim was counted is the server's to say: its policy label can
    // be neither taken off nor put on.
    // The claim lives beside its object, in the project's control plane.
    let claim_uri =
        format!("{G}/projects/p1/control-plane{Q}/namespaces/default/resourceclaims/g1-gadgets");
    let mut claim = api.get(&claim_uri).await.body;
    assert_eq!(
        claim["metadata"]["annotations"]["quota.miloapis.com/resource-context"], "Project/p1",
        "{claim}"
    );
    claim["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("quota.miloapis.com/auto-created");
    let r = api.call("PUT", &claim_uri, Some(claim)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let mut forged = direct_claim(
        "forged",
        "organization-acme",
        ("Organization", "acme"),
        GADGETS,
        1,
    );
    forged["metadata"]["labels"] = json!({"quota.miloapis.com/auto-created": "true"});
    let r = api
        .post(
            &format!("{Q}/namespaces/organization-acme/resourceclaims"),
            forged,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    let gadget_uri =
        format!("{G}/projects/p1/control-plane/apis/example.com/v1/namespaces/default/gadgets/g1");
    let r = api.call("DELETE", &gadget_uri, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (kind, name) in path {
        assert_eq!(allocated(kind, name).await, Some(json!(0)), "{kind} {name}");
    }
}

/// A registration is kept while a policy names its type: deleted, every
/// project create would be refused as claiming an unregistered type.
/// A registration goes only once nothing uses its type: no policy names
/// it, no grant or claim counts in a bucket of it. Its empty buckets go
/// with it.
#[tokio::test]
async fn a_registration_in_use_is_not_deleted_and_its_empty_buckets_go_with_it() {
    let api = api().await;
    setup(&api).await;
    let registration = format!("{Q}/resourceregistrations/projects");
    let r = api.call("DELETE", &registration, None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(PROJECTS) && message.contains("ClaimCreationPolicy \"projects\""),
        "{message}"
    );
    api.org("acme").await;
    give(&api, "acme", "Organization", "acme", 1).await;
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    let r = api
        .call(
            "DELETE",
            &format!("{Q}/claimcreationpolicies/projects"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // No policy names it now, but p1's claim and acme's grant count in it.
    let r = api.call("DELETE", &registration, None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Organization \"acme\" (1 ResourceGrant, 1 ResourceClaim, 1 allocated)"),
        "{message}"
    );
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.call("DELETE", &registration, None).await;
    assert_eq!(r.status, 409, "the grant still counts: {}", r.body);
    let grant = format!("{Q}/namespaces/organization-acme/resourcegrants/organization-acme");
    let r = api.call("DELETE", &grant, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(buckets(&api, "acme", "Organization", "acme").await.len(), 1);

    let r = api.call("DELETE", &registration, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(buckets(&api, "acme", "Organization", "acme")
        .await
        .is_empty());
    // Registered again, the type is granted and claimed as before.
    setup(&api).await;
    give(&api, "acme", "Organization", "acme", 1).await;
    assert_eq!(api.project("p2", "Organization", "acme").await.status, 201);
    let level = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(level["status"]["allocated"], 1, "{level}");
    assert_eq!(level["status"]["claimCount"], 1, "{level}");
}

/// More empty buckets than one transaction holds beside the registration:
/// the first go in transactions of their own, and none is left behind.
#[tokio::test]
async fn a_registrations_empty_buckets_beyond_one_transaction_all_go() {
    const PROJECTS_WITH_SEATS: usize = 40;
    let api = api().await;
    register_project_seats(&api).await;
    api.org("acme").await;
    for i in 0..PROJECTS_WITH_SEATS {
        let project = format!("p{i}");
        assert_eq!(
            api.project(&project, "Organization", "acme").await.status,
            201
        );
        let name = format!("seats-{project}");
        post_grant(
            &api,
            "acme",
            grant_of(&name, "acme", "Project", &project, SEATS, 2),
        )
        .await;
        let uri = format!("{Q}/namespaces/organization-acme/resourcegrants/{name}");
        let r = api.call("DELETE", &uri, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        project_buckets(&api, PROJECTS_WITH_SEATS).await,
        PROJECTS_WITH_SEATS
    );
    // A dry run deletes none of them, not even those beyond one transaction.
    let r = api
        .call(
            "DELETE",
            &format!("{Q}/resourceregistrations/seats?dryRun=All"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        project_buckets(&api, PROJECTS_WITH_SEATS).await,
        PROJECTS_WITH_SEATS
    );

    let r = api
        .call("DELETE", &format!("{Q}/resourceregistrations/seats"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(project_buckets(&api, PROJECTS_WITH_SEATS).await, 0);
}

/// A resource type granted to and claimed by projects.
const SEATS: &str = "test.quota.miloapis.com/seats";

/// Registers SEATS as "seats".
async fn register_project_seats(api: &Api) {
    let mut seats = registration("seats", SEATS);
    seats["spec"]["consumerType"]["kind"] = json!("Project");
    let r = api.post(&format!("{Q}/resourceregistrations"), seats).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// How many buckets of acme's projects there are.
async fn project_buckets(api: &Api, projects: usize) -> usize {
    let mut found = 0;
    for i in 0..projects {
        found += buckets(api, "acme", "Project", &format!("p{i}"))
            .await
            .len();
    }
    found
}

/// A claim written directly counts on its consumer's path, which only the
/// consumer's existence tells: the consumer is not deleted from under it.
#[tokio::test]
async fn a_consumer_whose_own_claims_still_count_is_not_deleted() {
    let api = api().await;
    register_project_seats(&api).await;
    api.org("acme").await;
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    post_grant(
        &api,
        "acme",
        grant_of("seats-p1", "acme", "Project", "p1", SEATS, 3),
    )
    .await;
    let claim = direct_claim(
        "two-seats",
        "organization-acme",
        ("Project", "p1"),
        SEATS,
        2,
    );
    let claims = format!("{Q}/namespaces/organization-acme/resourceclaims");
    let r = api.post(&claims, claim).await;
    assert_eq!(r.status, 201, "{}", r.body);

    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(SEATS) && message.contains("ResourceClaim"),
        "{message}"
    );
    assert_eq!(api.get(&format!("{G}/projects/p1")).await.status, 200);
    // Refused before the delete flagged it: it still takes children.
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "extra"}});
    let r = api
        .post(
            &format!("{G}/projects/p1/control-plane/api/v1/namespaces"),
            namespace,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let r = api
        .call("DELETE", &format!("{claims}/two-seats"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// An audit found no drift, and read it from the type index alone: that
/// index shows the grants and claims of every context as they are.
fn assert_no_drift(report: &apiserver::quota_audit::AuditReport) {
    assert!(report.drifts.is_empty(), "{:?}", report.drifts);
    assert!(!report.read_every_context);
}

#[tokio::test]
async fn the_audit_finds_no_drift_after_real_writes_and_repairs_an_injected_one() {
    let api = api().await;
    setup(&api).await;
    api.org("acme").await;
    give(&api, "acme", "Organization", "acme", 5).await;
    assert_eq!(api.folder("eng", "Organization", "acme").await.status, 201);
    for (p, kind, parent) in [("p1", "Organization", "acme"), ("p2", "Folder", "eng")] {
        assert_eq!(api.project(p, kind, parent).await.status, 201);
    }
    let store = store::Store::new(store::Store::client_from_env().await, api.table.clone());
    let report = apiserver::quota_audit::audit(&store, true).await.unwrap();
    assert_no_drift(&report);
    assert_eq!((report.claims, report.grants), (2, 1));

    // A bug's worth of drift, written past the pipeline.
    let key = domain::quota::BucketKey::new(domain::quota::Node::organization("acme"), PROJECTS);
    let bucket_key = store::ObjectRef {
        context: store::Context::Platform,
        group: "quota.miloapis.com".into(),
        kind: "AllowanceBucket".into(),
        namespace: "organization-acme".into(),
        name: key.name(),
    }
    .key();
    store
        .write(vec![store::Write::Counters(store::CounterWrite {
            key: bucket_key,
            document: None,
            add: vec![("b_allocated".into(), 3), ("b_headroom".into(), -3)],
            set: Vec::new(),
            remove: Vec::new(),
            condition: None,
        })])
        .await
        .unwrap();
    assert_eq!(
        bucket(&api, "acme", "Organization", "acme").await["status"]["allocated"],
        5
    );
    // The quota function acts as system:quota (#20): another principal,
    // without its grant, repairs nothing.
    let as_principal =
        |name| apiserver::ServicePrincipal::new(name, store.clone(), std::time::Duration::ZERO);
    let refused =
        apiserver::quota_audit::audit_as(&as_principal("system:nobody"), &store, true).await;
    let message = refused.expect_err("refused").to_string();
    assert!(
        message.contains("system:nobody may not quota.miloapis.com/resourcegrants.list"),
        "{message}"
    );
    assert_eq!(
        bucket(&api, "acme", "Organization", "acme").await["status"]["allocated"],
        5
    );
    let quota = as_principal(domain::iam::QUOTA_PRINCIPAL);
    let report = apiserver::quota_audit::audit_as(&quota, &store, true)
        .await
        .unwrap();
    assert_eq!(report.drifts.len(), 1, "{:?}", report.drifts);
    assert_eq!(report.repaired, 1);
    assert!(
        report.read_every_context,
        "drift is confirmed before it is repaired"
    );
    let b = bucket(&api, "acme", "Organization", "acme").await;
    assert_eq!(
        (
            b["status"]["allocated"].as_i64(),
            b["status"]["available"].as_i64()
        ),
        (Some(2), Some(3))
    );
    let report = apiserver::quota_audit::audit(&store, false).await.unwrap();
    assert_no_drift(&report);

    // A grant written in a project's control plane moves limits as any;
    // the audit counts it rather than "repairing" its limit away.
    let mut in_project = grant("in-project", "acme", "Organization", "acme", 2);
    in_project["metadata"]["namespace"] = json!("default");
    let r = api
        .post(
            &format!("{G}/projects/p1/control-plane{Q}/namespaces/default/resourcegrants"),
            in_project,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let limit =
        || async { bucket(&api, "acme", "Organization", "acme").await["status"]["limit"].clone() };
    assert_eq!(limit().await, 7);
    let report = apiserver::quota_audit::audit(&store, true).await.unwrap();
    assert_no_drift(&report);
    assert_eq!(report.grants, 2);
    assert_eq!(limit().await, 7);

    // So does a claim written there: its allocation stays.
    let claim = direct_claim("by-hand", "default", ("Organization", "acme"), PROJECTS, 2);
    let r = api
        .post(
            &format!("{G}/projects/p1/control-plane{Q}/namespaces/default/resourceclaims"),
            claim,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let allocated = || async {
        bucket(&api, "acme", "Organization", "acme").await["status"]["allocated"].clone()
    };
    assert_eq!(allocated().await, 4);
    let report = apiserver::quota_audit::audit(&store, true).await.unwrap();
    assert_no_drift(&report);
    assert_eq!(report.claims, 3);
    assert_eq!(allocated().await, 4);
    let by_hand =
        format!("{G}/projects/p1/control-plane{Q}/namespaces/default/resourceclaims/by-hand");
    let r = api.call("DELETE", &by_hand, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(allocated().await, 2);
}

/// A project created on `api` once the refresh interval has passed: the
/// first write after it re-checks the stamp, so it is decided with what
/// was written before (no timing is asserted: the interval is waited out).
async fn after_the_refresh(api: &Api, name: &str) -> u16 {
    tokio::time::sleep(apiserver::DEFAULT_CATALOG_REFRESH + std::time::Duration::from_millis(50))
        .await;
    api.project(name, "Organization", "acme").await.status
}

/// The policies and registrations are cached per instance (quota_cache.rs):
/// what one instance writes is in force there at once and on another
/// within the refresh interval (500 ms) plus a read.
#[tokio::test]
async fn a_quota_policy_written_on_one_instance_is_in_force_on_another_after_its_refresh() {
    let a = api().await;
    let b = a.sibling().await;
    a.org("acme").await;
    // B has read the (empty) policies.
    assert_eq!(b.project("p0", "Organization", "acme").await.status, 201);
    assert!(claims_for(&b, "acme", "p0").await.is_empty());
    setup(&a).await;
    give(&a, "acme", "Organization", "acme", 1).await;
    // A, which wrote them, applies them at once.
    assert_eq!(a.project("a1", "Organization", "acme").await.status, 201);
    assert_eq!(claims_for(&a, "acme", "a1").await.len(), 1);
    // B refuses once its refresh interval has passed: the one project
    // allowed is taken.
    assert_eq!(after_the_refresh(&b, "b").await, 403);
    // Deleting the policy lifts it everywhere likewise.
    let r = a
        .call(
            "DELETE",
            &format!("{Q}/claimcreationpolicies/projects"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.project("a2", "Organization", "acme").await.status, 201);
    assert_eq!(after_the_refresh(&b, "c").await, 201);
}

/// A quota policy's write answers only once every instance will see it on
/// its next write (Milo's suites create the trigger as soon as the policy
/// is Ready): another instance that has just read the (empty) policies
/// applies it to the very next object.
#[tokio::test]
async fn a_quota_policy_is_in_force_on_every_instance_once_its_write_answered() {
    let a = api().await;
    let b = a.sibling().await;
    a.org("acme").await;
    let r = a
        .post(
            &format!("{Q}/resourceregistrations"),
            registration("projects", PROJECTS),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    give(&a, "acme", "Organization", "acme", 1).await;
    // B reads the stamp now: it holds the registration, no policy.
    assert_eq!(b.project("p0", "Organization", "acme").await.status, 201);
    assert!(claims_for(&b, "acme", "p0").await.is_empty());
    let r = a
        .post(
            &format!("{Q}/claimcreationpolicies"),
            project_policy("projects"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(b.project("b1", "Organization", "acme").await.status, 201);
    assert_eq!(claims_for(&b, "acme", "b1").await.len(), 1);
    assert_eq!(b.project("b2", "Organization", "acme").await.status, 403);
}

/// A write no quota policy matches reads one stamp item, not the policies:
/// with the stamp taken back past the pipeline, an instance that read the
/// (empty) policies goes on deciding with them, and moving the stamp brings
/// the stored policies in.
#[tokio::test]
async fn a_write_reads_the_quota_policies_only_when_the_stamp_moved() {
    let a = api().await;
    let b = a.sibling().await;
    a.org("acme").await;
    assert_eq!(b.project("p0", "Organization", "acme").await.status, 201);
    setup(&a).await;
    give(&a, "acme", "Organization", "acme", 1).await;
    let store = store::Store::new(store::Store::client_from_env().await, a.table.clone());
    store
        .write(vec![store::Write::Delete {
            key: apiserver::quota_cache::stamp_key(),
            expect: store::Expect::Anything,
        }])
        .await
        .unwrap();
    // Past B's refresh: it reads the stamp, finds it as it was, and Queries
    // nothing; the stored policy claims nothing here.
    tokio::time::sleep(apiserver::DEFAULT_CATALOG_REFRESH + std::time::Duration::from_millis(100))
        .await;
    for p in ["p1", "p2"] {
        assert_eq!(b.project(p, "Organization", "acme").await.status, 201);
        assert!(claims_for(&b, "acme", p).await.is_empty(), "{p}");
    }
    store
        .write(vec![apiserver::quota_cache::stamp()])
        .await
        .unwrap();
    // The policy is in force on B once its refresh interval has passed.
    assert_eq!(after_the_refresh(&b, "r1").await, 201);
    assert!(!claims_for(&b, "acme", "r1").await.is_empty());
}

/// A server-side apply that creates a project is the create it becomes:
/// it claims quota, and one over the limit is refused with nothing written.
#[tokio::test]
async fn a_project_created_by_apply_claims_quota_like_any_create() {
    let api = api().await;
    setup(&api).await;
    api.org("acme").await;
    give(&api, "acme", "Organization", "acme", 1).await;
    let apply = |name: &str| {
        let body = project(name, "Organization", "acme");
        let uri = format!("{G}/projects/{name}?fieldManager=ci");
        let yaml = serde_yaml::to_string(&body).unwrap();
        let api = &api;
        async move {
            api.raw(
                "PATCH",
                &uri,
                "application/apply-patch+yaml",
                yaml.into_bytes(),
                Some(&api.token),
            )
            .await
        }
    };
    let r = apply("p1").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(claims_for(&api, "acme", "p1").await.len(), 1);
    let r = apply("p2").await;
    assert_eq!(r.status, 403, "over quota: {}", r.body);
    assert_eq!(api.get(&format!("{G}/projects/p2")).await.status, 404);
    assert_eq!(
        bucket(&api, "acme", "Organization", "acme").await["status"]["allocated"],
        1
    );
}
