//! `admission.k8s.io/v1` AdmissionReview, the wire form of the admission
//! function: a review's request read into an [`AdmissionRequest`], and the
//! verdict written back as the review's response (allowed, status, warnings,
//! the mutations as a base64 JSONPatch, audit annotations), as a Kubernetes
//! API server expects from a webhook.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::request::{AdmissionRequest, UserInfo};
use super::types::Operation;
use super::validating::Denial;
use crate::Cause;

pub const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";
pub const REVIEW_KIND: &str = "AdmissionReview";

/// What the platform's policies said about a review's request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// The object after the mutating policies; `None` when nothing changed
    /// it or the request has no object (DELETE).
    pub mutated: Option<Value>,
    pub denial: Option<Denial>,
    pub warnings: Vec<String>,
    pub audit_annotations: BTreeMap<String, String>,
}

/// Reads a review: its `request`, whole. Every field a webhook relies on is
/// checked, each problem a cause with its path.
pub fn parse_review(doc: &Value) -> Result<AdmissionRequest, Vec<Cause>> {
    let mut causes = Vec::new();
    if doc["apiVersion"] != REVIEW_API_VERSION || doc["kind"] != REVIEW_KIND {
        causes.push(Cause::invalid(
            "apiVersion",
            format!("expected apiVersion {REVIEW_API_VERSION} and kind {REVIEW_KIND}"),
        ));
    }
    let Some(request) = doc.get("request").and_then(Value::as_object) else {
        causes.push(Cause::required("request"));
        return Err(causes);
    };
    let text = |field: &str| request.get(field).and_then(Value::as_str).unwrap_or("");
    let mut required = |field: &str| {
        let value = text(field);
        if value.is_empty() {
            causes.push(Cause::required(format!("request.{field}")));
        }
        value.to_string()
    };
    let uid = required("uid");
    let operation = match text("operation") {
        "CREATE" => Some(Operation::Create),
        "UPDATE" => Some(Operation::Update),
        "DELETE" => Some(Operation::Delete),
        "CONNECT" => Some(Operation::Connect),
        other => {
            causes.push(Cause::not_supported(
                "request.operation",
                format!("{other:?}: expected CREATE, UPDATE, DELETE or CONNECT"),
            ));
            None
        }
    };
    let kind = group_version_part(request, "kind", "kind", &mut causes);
    let resource = group_version_part(request, "resource", "resource", &mut causes);
    let object = raw_object(request, "object", &mut causes);
    let old_object = raw_object(request, "oldObject", &mut causes);
    match operation {
        Some(Operation::Create) if object.is_none() => {
            causes.push(Cause::required("request.object"))
        }
        Some(Operation::Update) if object.is_none() || old_object.is_none() => causes.push(
            Cause::required("request.object and request.oldObject (an UPDATE has both)"),
        ),
        Some(Operation::Delete) if old_object.is_none() => {
            causes.push(Cause::required("request.oldObject"))
        }
        _ => {}
    }
    let user_info = match request.get("userInfo") {
        None | Some(Value::Null) => UserInfo::default(),
        Some(user) => user_info(user).unwrap_or_else(|cause| {
            causes.push(cause);
            UserInfo::default()
        }),
    };
    let dry_run = match request.get("dryRun") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            causes.push(Cause::invalid("request.dryRun", "must be a boolean"));
            false
        }
    };
    let namespace = Some(text("namespace").to_string()).filter(|n| !n.is_empty());
    if !causes.is_empty() {
        return Err(causes);
    }
    let (Some(operation), Some((group, version, kind)), Some((_, _, resource))) =
        (operation, kind, resource)
    else {
        return Err(vec![Cause::invalid("request", "incomplete")]);
    };
    Ok(AdmissionRequest {
        uid,
        operation,
        group,
        version,
        resource,
        subresource: text("subResource").to_string(),
        kind,
        namespace,
        name: text("name").to_string(),
        object,
        old_object,
        namespace_object: None,
        context_labels: None,
        user_info,
        dry_run,
    })
}

/// `request.kind` / `request.resource`: `{group, version, kind|resource}`;
/// the group may be empty (the core group), the others may not.
fn group_version_part(
    request: &Map<String, Value>,
    field: &str,
    name_field: &str,
    causes: &mut Vec<Cause>,
) -> Option<(String, String, String)> {
    let Some(part) = request.get(field).and_then(Value::as_object) else {
        causes.push(Cause::required(format!("request.{field}")));
        return None;
    };
    let text = |f: &str| {
        part.get(f)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (version, name) = (text("version"), text(name_field));
    for (value, f) in [(&version, "version"), (&name, name_field)] {
        if value.is_empty() {
            causes.push(Cause::required(format!("request.{field}.{f}")));
        }
    }
    (!version.is_empty() && !name.is_empty()).then(|| (text("group"), version, name))
}

/// A RawExtension: a JSON object, or absent/null.
fn raw_object(request: &Map<String, Value>, field: &str, causes: &mut Vec<Cause>) -> Option<Value> {
    match request.get(field) {
        None | Some(Value::Null) => None,
        Some(object @ Value::Object(_)) => Some(object.clone()),
        Some(_) => {
            causes.push(Cause::invalid(
                format!("request.{field}"),
                "must be a JSON object (the object as the API server sent it)",
            ));
            None
        }
    }
}

fn user_info(user: &Value) -> Result<UserInfo, Cause> {
    #[derive(serde::Deserialize)]
    struct Wire {
        #[serde(default)]
        username: String,
        #[serde(default)]
        uid: String,
        #[serde(default)]
        groups: Vec<String>,
        #[serde(default)]
        extra: BTreeMap<String, Vec<String>>,
    }
    let wire: Wire = serde_json::from_value(user.clone())
        .map_err(|e| Cause::invalid("request.userInfo", e.to_string()))?;
    Ok(UserInfo {
        username: wire.username,
        uid: wire.uid,
        groups: wire.groups,
        extra: wire.extra,
    })
}

/// The review answering `request`: the verdict as a webhook response. The
/// mutations go back as a JSONPatch from the request's object to the
/// mutated one, base64-encoded as the API expects.
pub fn review_response(request: &AdmissionRequest, verdict: &Verdict) -> Value {
    let mut response = json!({
        "uid": request.uid,
        "allowed": verdict.denial.is_none(),
    });
    if let Some(denial) = &verdict.denial {
        response["status"] = json!({
            "code": denial.code(),
            "reason": denial.reason.as_str(),
            "message": denial.message,
        });
    }
    if !verdict.warnings.is_empty() {
        response["warnings"] = json!(verdict.warnings);
    }
    if !verdict.audit_annotations.is_empty() {
        response["auditAnnotations"] = json!(verdict.audit_annotations);
    }
    if let (None, Some(original), Some(mutated)) = (
        &verdict.denial,
        request.object.as_ref(),
        verdict.mutated.as_ref(),
    ) {
        let patch = json_patch::diff(original, mutated);
        if !patch.0.is_empty() {
            let bytes = serde_json::to_vec(&patch).unwrap_or_default();
            response["patchType"] = json!("JSONPatch");
            response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
    json!({
        "apiVersion": REVIEW_API_VERSION,
        "kind": REVIEW_KIND,
        "response": response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Reason;

    fn review(request: Value) -> Value {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    }

    fn create_request() -> Value {
        json!({
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "resourcemanager.miloapis.com", "version": "v1alpha1", "kind": "Project"},
            "resource": {"group": "resourcemanager.miloapis.com", "version": "v1alpha1", "resource": "projects"},
            "name": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["dev"]},
            "object": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
                       "metadata": {"name": "shop", "labels": {"a": "1"}}},
            "dryRun": false
        })
    }

    #[test]
    fn a_review_reads_into_an_admission_request() {
        let request = parse_review(&review(create_request())).unwrap();
        assert_eq!(request.operation, Operation::Create);
        assert_eq!(
            (request.group.as_str(), request.kind.as_str()),
            ("resourcemanager.miloapis.com", "Project")
        );
        assert_eq!(request.resource, "projects");
        assert_eq!(request.namespace, None);
        assert_eq!(request.user_info.username, "alice");
        assert_eq!(request.user_info.groups, ["dev"]);
        assert_eq!(request.object.unwrap()["metadata"]["name"], "shop");
    }

    #[test]
    fn malformed_reviews_name_every_bad_field() {
        let mut bad = create_request();
        bad["uid"] = json!("");
        bad["operation"] = json!("PATCH");
        bad["kind"] = json!({"group": "g"});
        bad["userInfo"] = json!({"groups": "not-a-list"});
        bad["dryRun"] = json!("yes");
        let causes = parse_review(&review(bad)).unwrap_err();
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        for field in [
            "request.uid",
            "request.operation",
            "request.kind.version",
            "request.kind.kind",
            "request.userInfo",
            "request.dryRun",
        ] {
            assert!(fields.contains(&field), "{field} missing in {fields:?}");
        }
        let causes = parse_review(&json!({"apiVersion": "v1", "kind": "Pod"})).unwrap_err();
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["apiVersion", "request"]);
        let mut update = create_request();
        update["operation"] = json!("UPDATE");
        let causes = parse_review(&review(update)).unwrap_err();
        assert!(causes[0].field.contains("oldObject"), "{causes:?}");
        let mut raw = create_request();
        raw["object"] = json!("a string");
        let causes = parse_review(&review(raw)).unwrap_err();
        assert!(causes.iter().any(|c| c.field == "request.object"));
    }

    #[test]
    fn an_allowed_mutated_request_answers_with_a_base64_json_patch() {
        let request = parse_review(&review(create_request())).unwrap();
        let mut mutated = request.object.clone().unwrap();
        mutated["metadata"]["labels"]["cost-centre"] = json!("cc-1");
        let verdict = Verdict {
            mutated: Some(mutated.clone()),
            warnings: vec!["names should be short".into()],
            audit_annotations: [("p/k".to_string(), "v".to_string())].into(),
            ..Verdict::default()
        };
        let answer = review_response(&request, &verdict);
        assert_eq!(answer["kind"], "AdmissionReview");
        let response = &answer["response"];
        assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(response["allowed"], true);
        assert_eq!(response["warnings"][0], "names should be short");
        assert_eq!(response["auditAnnotations"]["p/k"], "v");
        assert_eq!(response["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        let mut patched = request.object.clone().unwrap();
        json_patch::patch(&mut patched, &patch).unwrap();
        assert_eq!(patched, mutated);
    }

    #[test]
    fn a_denial_answers_not_allowed_with_its_status_and_no_patch() {
        let request = parse_review(&review(create_request())).unwrap();
        let mut mutated = request.object.clone().unwrap();
        mutated["metadata"]["labels"]["x"] = json!("y");
        let verdict = Verdict {
            mutated: Some(mutated),
            denial: Some(Denial {
                message: "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: no".into(),
                reason: Reason::Forbidden,
            }),
            ..Verdict::default()
        };
        let response = &review_response(&request, &verdict)["response"];
        assert_eq!(response["allowed"], false);
        assert_eq!(response["status"]["code"], 403);
        assert_eq!(response["status"]["reason"], "Forbidden");
        assert!(response.get("patch").is_none());
        // Nothing changed: no patch either.
        let response = &review_response(&request, &Verdict::default())["response"];
        assert_eq!(response["allowed"], true);
        assert!(response.get("patch").is_none() && response.get("status").is_none());
    }
}
