//! Event recording (#22 item 3) against DynamoDB Local: what a person
//! should see (a quota denial, an admission denial or warning) is an Event
//! on the object it concerns, under core/v1 and events.k8s.io/v1, found by
//! the field selectors kubectl sends, counted on repeat, and kept for the
//! retention only.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const Q: &str = "/apis/quota.miloapis.com/v1alpha1";
const ADM: &str = "/apis/admissionregistration.k8s.io/v1";
const PROJECTS: &str = "test.events.miloapis.com/projects";

/// Projects per organization, claimed by every project, `limit` for acme.
async fn acme_with_room_for(api: &Api, limit: i64) {
    let registration = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ResourceRegistration",
        "metadata": {"name": "projects"},
        "spec": {
            "consumerType": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization"},
            "type": "Entity", "resourceType": PROJECTS,
            "baseUnit": "project", "displayUnit": "projects", "unitConversionFactor": 1,
            "claimingResources": [{"apiGroup": "resourcemanager.miloapis.com", "kind": "Project"}]
        }
    });
    let org_label = "trigger.metadata.labels['resourcemanager.miloapis.com/organization-name']";
    let policy = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ClaimCreationPolicy",
        "metadata": {"name": "projects"},
        "spec": {
            "trigger": {"resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project"}},
            "target": {"resourceClaimTemplate": {
                "metadata": {"namespace": format!("organization-{{{{{org_label}}}}}")},
                "spec": {
                    "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization",
                                    "name": format!("{{{{{org_label}}}}}")},
                    "requests": [{"resourceType": PROJECTS, "amount": 1}]
                }
            }}
        }
    });
    let grant = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ResourceGrant",
        "metadata": {"name": "acme-projects", "namespace": "organization-acme"},
        "spec": {
            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "acme"},
            "allowances": [{"resourceType": PROJECTS, "buckets": [{"amount": limit}]}]
        }
    });
    for (path, body) in [
        (format!("{Q}/resourceregistrations"), registration),
        (format!("{Q}/claimcreationpolicies"), policy),
    ] {
        let r = api.post(&path, body).await;
        assert_eq!(r.status, 201, "{path}: {}", r.body);
    }
    assert_eq!(api.org("acme").await.status, 201);
    let r = api
        .post(
            &format!("{Q}/namespaces/organization-acme/resourcegrants"),
            grant,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// The Events at `path` that kubectl describe's selector finds for an
/// object: name, namespace, kind and uid.
async fn described(api: &Api, path: &str, kind: &str, name: &str, uid: &str) -> Vec<Value> {
    let selector = format!(
        "involvedObject.name={name},involvedObject.namespace=,involvedObject.kind={kind},involvedObject.uid={uid}"
    );
    items(api, &format!("{path}?fieldSelector={}", encode(&selector))).await
}

async fn items(api: &Api, path: &str) -> Vec<Value> {
    let r = api.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn encode(text: &str) -> String {
    text.replace('=', "%3D").replace(',', "%2C")
}

#[tokio::test]
async fn a_quota_denial_is_an_event_on_the_consumer_counted_on_each_repeat() {
    let api = api().await;
    acme_with_room_for(&api, 1).await;
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    let acme = api.get(&format!("{G}/organizations/acme")).await;
    let uid = acme.body["metadata"]["uid"].as_str().unwrap().to_string();
    assert!(
        described(&api, "/api/v1/events", "Organization", "acme", &uid)
            .await
            .is_empty(),
        "no event before a denial"
    );

    let r = api.project("p2", "Organization", "acme").await;
    assert_eq!(r.status, 403, "{}", r.body);
    // An organization's Events are where it is described: the platform.
    let events = described(&api, "/api/v1/events", "Organization", "acme", &uid).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "QuotaExceeded");
    assert_eq!(event["count"], 1);
    assert_eq!(event["metadata"]["namespace"], "default");
    assert_eq!(event["involvedObject"]["uid"], uid.as_str());
    let message = event["message"].as_str().unwrap();
    for part in [
        "create of projects \"p2\" refused",
        PROJECTS,
        "allocated 1",
        "limit 1",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }

    // The same refusal again counts up the same Event, in both APIs.
    assert_eq!(api.project("p2", "Organization", "acme").await.status, 403);
    let events = described(&api, "/api/v1/events", "Organization", "acme", &uid).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["count"], 2);
    assert_eq!(events[0]["firstTimestamp"], event["firstTimestamp"]);
    let name = event["metadata"]["name"].as_str().unwrap();
    let twin = api
        .get(&format!(
            "/apis/events.k8s.io/v1/namespaces/default/events/{name}"
        ))
        .await;
    assert_eq!(twin.status, 200, "{}", twin.body);
    assert_eq!(twin.body["regarding"]["name"], "acme");
    assert_eq!(twin.body["series"]["count"], 2);
    assert_eq!(twin.body["note"], event["message"]);

    assert_eq!(twin.body["deprecatedCount"], 2);
}

#[tokio::test]
async fn admission_denials_and_warnings_are_events_on_the_object_written() {
    let api = api().await;
    assert_eq!(api.org("acme").await.status, 201);
    let rules = json!([{"apiGroups": ["resourcemanager.miloapis.com"], "apiVersions": ["*"],
        "operations": ["CREATE", "UPDATE"], "resources": ["projects"]}]);
    for (name, expression, action) in [
        ("no-x", "!object.metadata.name.startsWith('x-')", "Deny"),
        ("short", "object.metadata.name.size() <= 4", "Warn"),
    ] {
        let policy = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {"matchConstraints": {"resourceRules": rules},
                     "validations": [{"expression": expression, "message": format!("{name} says no")}]}});
        let binding = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": name, "validationActions": [action]}});
        assert_eq!(
            api.post(&format!("{ADM}/validatingadmissionpolicies"), policy)
                .await
                .status,
            201
        );
        assert_eq!(
            api.post(&format!("{ADM}/validatingadmissionpolicybindings"), binding)
                .await
                .status,
            201
        );
    }

    // Denied: the object never existed, so its Event names no uid and stays
    // where the write was made.
    let r = api.project("x-1", "Organization", "acme").await;
    assert_eq!(r.status, 422, "{}", r.body);
    let selector = encode("involvedObject.name=x-1,involvedObject.kind=Project");
    let denied = items(&api, &format!("/api/v1/events?fieldSelector={selector}")).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["reason"], "AdmissionDenied");
    assert_eq!(denied[0]["action"], "Create");
    assert!(denied[0]["involvedObject"].get("uid").is_none());
    assert!(
        denied[0]["message"]
            .as_str()
            .unwrap()
            .contains("no-x says no"),
        "{}",
        denied[0]["message"]
    );

    // A dry run writes nothing, so it leaves nothing to see either.
    let r = api
        .post(
            &format!("{G}/projects?dryRun=All"),
            project("x-2", "Organization", "acme"),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let selector = encode("involvedObject.name=x-2");
    assert!(
        items(&api, &format!("/api/v1/events?fieldSelector={selector}"))
            .await
            .is_empty()
    );

    // Let through with a warning: the project exists, so its Event carries
    // its uid and goes to its organization's control plane.
    let r = api.project("longname", "Organization", "acme").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let uid = r.body["metadata"]["uid"].as_str().unwrap().to_string();
    let org_plane = format!("{G}/organizations/acme/control-plane/api/v1/events");
    let warned = described(&api, &org_plane, "Project", "longname", &uid).await;
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0]["reason"], "AdmissionWarning");
    assert!(warned[0]["message"]
        .as_str()
        .unwrap()
        .contains("short says no"));
    // Nothing of it in another organization's control plane.
    assert_eq!(api.org("other").await.status, 201);
    let other_plane = format!("{G}/organizations/other/control-plane/api/v1/events");
    assert!(items(&api, &other_plane).await.is_empty());

    // A field kubectl does not select on is refused as Kubernetes does.
    let r = api
        .get(&format!(
            "/api/v1/events?fieldSelector={}",
            encode("message=x")
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

/// Each Event item's expiry (the table's TTL attribute), seconds from now.
async fn expiries_from_now(api: &Api) -> Vec<i64> {
    let now = chrono::Utc::now().timestamp();
    scan_items(api)
        .await
        .iter()
        .filter(|item| {
            let pk = item.get("pk").and_then(|v| v.as_s().ok());
            pk.is_some_and(|pk| pk.ends_with("#Event"))
        })
        .map(|item| {
            let ttl = item.get("ttl").and_then(|v| v.as_n().ok());
            ttl.and_then(|n| n.parse::<i64>().ok())
                .expect("an Event item has a ttl")
                - now
        })
        .collect()
}

#[tokio::test]
async fn an_event_is_gone_once_the_retention_passes_whoever_wrote_it() {
    let mut api = api().await;
    acme_with_room_for(&api, 0).await;
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 403);
    // A client's Event (a controller's recorder) is kept the same way.
    let event = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "from-a-client", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "name": "c1", "namespace": "default"},
        "reason": "Synced", "message": "synced", "type": "Normal"});
    let r = api.post("/api/v1/namespaces/default/events", event).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        items(&api, "/api/v1/namespaces/default/events").await.len(),
        2
    );
    // Kept for the default retention, an hour: core/v1 and events.k8s.io/v1
    // of the recorder's, and the client's.
    let expiries = expiries_from_now(&api).await;
    assert_eq!(expiries.len(), 3, "{expiries:?}");
    assert!(
        expiries.iter().all(|s| (3400..=3600).contains(s)),
        "{expiries:?}"
    );

    // Written again under a retention of one second, each is gone after it.
    api.server = api.server.with_event_retention(Duration::from_secs(1));
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 403);
    let client = "/api/v1/namespaces/default/events/from-a-client";
    let r = api
        .call("PATCH", client, Some(json!({"message": "synced again"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(items(&api, "/api/v1/namespaces/default/events")
        .await
        .is_empty());
    assert!(items(&api, "/apis/events.k8s.io/v1/events")
        .await
        .is_empty());
    assert_eq!(api.get(client).await.status, 404);
    // Nothing outlives it that its namespace would wait for: no child index
    // item of the namespace names it.
    let keys = scan_keys(&api).await;
    let indexed: Vec<_> = keys
        .iter()
        .filter(|(pk, sk)| pk.starts_with("c#") && sk.contains("from-a-client"))
        .collect();
    assert!(indexed.is_empty(), "{indexed:?}");

    // Refused again after it expired: a new Event, counted from one.
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 403);
    let again = items(&api, "/api/v1/namespaces/default/events").await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0]["count"], 1);
}

#[tokio::test]
async fn a_binding_written_not_ready_is_an_event_on_it() {
    let api = api().await;
    assert_eq!(api.org("acme").await.status, 201);
    let frank = json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "User",
        "metadata": {"name": "frank"}, "spec": {"email": "frank@example.com"}});
    let r = api
        .post("/apis/iam.miloapis.com/v1alpha1/users", frank)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let binding = json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "PolicyBinding",
        "metadata": {"name": "dangling", "namespace": "default"},
        "spec": {"roleRef": {"name": "no-such-role", "namespace": "milo-system"},
                 "subjects": [{"kind": "User", "name": "frank"}],
                 "resourceSelector": {"resourceRef": {"apiGroup": "resourcemanager.miloapis.com",
                                                      "kind": "Organization", "name": "acme"}}}});
    let r = api
        .post(
            "/apis/iam.miloapis.com/v1alpha1/namespaces/default/policybindings",
            binding,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ready = &r.body["status"]["conditions"][0];
    assert_eq!(ready["status"], "False", "{}", r.body);
    let uid = r.body["metadata"]["uid"].as_str().unwrap();

    let selector = encode(&format!(
        "involvedObject.name=dangling,involvedObject.kind=PolicyBinding,involvedObject.uid={uid}"
    ));
    let events = items(
        &api,
        &format!("/api/v1/namespaces/default/events?fieldSelector={selector}"),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["reason"], ready["reason"]);
    assert_eq!(events[0]["message"], ready["message"]);
    assert_eq!(events[0]["type"], "Warning");
}
