//! The admission function's HTTP API (issue 4): the platform's policies for
//! other services, or for a Kubernetes cluster as its webhook, and the
//! policy audit.
//!
//! ```text
//! POST /review                        admission.k8s.io/v1 AdmissionReview → AdmissionReview
//! POST /audit[?limit=N&continue=T]    {"policyName": "…"}, a ValidatingAdmissionPolicy, or a
//!                                     List of one policy and its bindings → AuditReport
//! ```
//!
//! A review evaluates the request against the policies in force (mutations,
//! then validation) and writes nothing. An audit evaluates one validating
//! policy against every stored object of the types it selects, each as a
//! CREATE of itself, and reports those it would refuse, `limit` objects read
//! per page (default 500, at most 5000), through the type index.

use std::sync::Arc;

use domain::admission::{
    self, audit_object, audit_request, audited_types, parse_review, review_response, AuditedType,
    Params, UserInfo, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, Verdict,
};
use domain::catalog::Catalog;
use domain::kinds::{self, Scope, ORGANIZATION_LABEL};
use domain::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{Context, ObjectRef, TypeCursor};

use crate::authorization::{self, Question};
use crate::codec::{self, Response};
use crate::errors::from_store;
use crate::stamped::platform_documents;
use crate::strategy;
use crate::{admission as pipeline_admission, ApiServer, Call};

const DEFAULT_PAGE: i32 = 500;
const MAX_PAGE: i32 = 5000;
const REPORT_GROUP_VERSION: &str = "admission.miloapis.com/v1alpha1";

pub async fn serve(
    server: &ApiServer,
    path: &str,
    call: &Call<'_>,
    catalog: &Catalog,
) -> Result<Response, ApiError> {
    let endpoint = path.trim_end_matches('/');
    if !matches!(endpoint, "/review" | "/audit") {
        return Err(ApiError::path_not_found(
            "the admission function serves POST /review (an AdmissionReview) and POST /audit",
        ));
    }
    if call.method != http::Method::POST {
        return Err(ApiError::MethodNotAllowed {
            message: format!("{endpoint} takes POST"),
        });
    }
    // A review answers what the platform's policies say of any object; an
    // audit reads every stored object of a type: both are the platform's.
    let (group, resource) = match endpoint {
        "/review" => ("admission.k8s.io", "admissionreviews"),
        _ => (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies/audit",
        ),
    };
    let question = Question::at_platform(group, resource, "create");
    authorization::authorize(server, &call.request, question).await?;
    let body = codec::decode_object(call.header("content-type"), call.body)?.value;
    if endpoint == "/review" {
        review(server, &body).await
    } else {
        audit(server, catalog, call, &body).await
    }
}

async fn review(server: &ApiServer, body: &Value) -> Result<Response, ApiError> {
    let request = parse_review(body).map_err(|causes| {
        ApiError::invalid(
            admission::REVIEW_API_VERSION,
            "admissionreviews",
            "",
            causes,
        )
    })?;
    let review = server.review_admission(&request).await?;
    let mutated = (review.object != request.object)
        .then_some(review.object)
        .flatten();
    let verdict = Verdict {
        mutated,
        denial: review.decision.denial,
        warnings: review.decision.warnings,
        audit_annotations: review.decision.audit_annotations,
    };
    Ok(Response::json(200, &review_response(&request, &verdict)))
}

/// Where an audit stopped: the type (index in the audited list) and the
/// type index position in it.
#[derive(Debug, Serialize, Deserialize)]
struct AuditPosition {
    /// The audited policy's name, so a token is not replayed on another.
    policy: String,
    type_index: usize,
    pk: Option<String>,
    sk: Option<String>,
    type_sk: Option<String>,
}

async fn audit(
    server: &ApiServer,
    catalog: &Catalog,
    call: &Call<'_>,
    body: &Value,
) -> Result<Response, ApiError> {
    let (policy, bindings) = audited_policy(server, body).await?;
    let limit = call
        .query
        .limit
        .map(|l| l.min(MAX_PAGE))
        .unwrap_or(DEFAULT_PAGE)
        .clamp(1, MAX_PAGE);
    let types = audited_types(&policy, &stored_types(catalog));
    let mut position = audit_position(server, call, &policy.common.name)?;
    let user = UserInfo {
        username: call.request.principal.subject.clone(),
        groups: call.request.principal.groups.clone(),
        ..UserInfo::default()
    };
    let mut violations = Vec::new();
    let mut scanned = 0usize;
    let mut next = None;
    while let Some(audited) = types.get(position.type_index) {
        let start = match (
            position.pk.take(),
            position.sk.take(),
            position.type_sk.take(),
        ) {
            (Some(pk), Some(sk), Some(type_sk)) => Some(TypeCursor {
                key: store::ItemKey { pk, sk },
                type_sk,
            }),
            _ => None,
        };
        let budget = limit - i32::try_from(scanned).unwrap_or(limit);
        let page = server
            .store
            .query_type(&audited.group, &audited.kind, budget, start)
            .await
            .map_err(from_store)?;
        scanned += page.items.len();
        let params = binding_params(server, catalog, &policy, &bindings, audited).await?;
        let strategy = strategy::for_group_kind(&audited.group, &audited.kind);
        for mut stored in page.items {
            let Some(object_ref) = ObjectRef::from_key(&stored.key) else {
                continue;
            };
            strategy.present_stored(&mut stored);
            let mut request = audit_request(audited, stored.object, None, &user);
            request.context_labels = context_labels(&object_ref.context, &request.object);
            let found = audit_object(&policy, &params, &request, server.admission.budget());
            if let Some(v) = found {
                violations.push(violation_item(audited, &object_ref.context, &v));
            }
        }
        match page.next {
            Some(cursor) => {
                position.pk = Some(cursor.key.pk);
                position.sk = Some(cursor.key.sk);
                position.type_sk = Some(cursor.type_sk);
            }
            None => position.type_index += 1,
        }
        if i32::try_from(scanned).unwrap_or(i32::MAX) >= limit {
            if position.type_index < types.len() {
                next = Some(server.tokens.sign(&position));
            }
            break;
        }
    }
    Ok(Response::json(
        200,
        &json!({
            "apiVersion": REPORT_GROUP_VERSION,
            "kind": "AuditReport",
            "metadata": {"continue": next},
            "policy": policy.common.name,
            "auditedTypes": types.iter().map(|t| format!("{}.{}", t.resource, t.group)).collect::<Vec<_>>(),
            "scanned": scanned,
            "items": violations,
        }),
    ))
}

/// Where an audit starts: where its continue token says (a token of
/// another policy's audit is refused), else at the first type.
fn audit_position(
    server: &ApiServer,
    call: &Call<'_>,
    policy: &str,
) -> Result<AuditPosition, ApiError> {
    let Some(token) = &call.query.continue_token else {
        return Ok(AuditPosition {
            policy: policy.to_string(),
            type_index: 0,
            pk: None,
            sk: None,
            type_sk: None,
        });
    };
    let position: AuditPosition = server.tokens.verify(token).map_err(|e| {
        ApiError::bad_request(format!(
            "the continue token is not valid: {e}; start the audit again without it"
        ))
    })?;
    if position.policy != policy {
        return Err(ApiError::bad_request(
            "the continue token belongs to an audit of another policy",
        ));
    }
    Ok(position)
}

/// One object's entry in an audit report.
fn violation_item(
    audited: &AuditedType,
    context: &store::Context,
    v: &admission::Violation,
) -> Value {
    json!({
        "apiVersion": kinds::api_version(&audited.group, &audited.version),
        "kind": v.kind,
        "context": context_name(context),
        "namespace": v.namespace,
        "name": v.name,
        "violations": v.messages.iter()
            .map(|(binding, message)| json!({"binding": binding, "message": message}))
            .collect::<Vec<_>>(),
    })
}

/// The policy an audit is about, and its bindings (none: audited as bound
/// to everything).
async fn audited_policy(
    server: &ApiServer,
    body: &Value,
) -> Result<
    (
        Arc<ValidatingAdmissionPolicy>,
        Vec<Arc<ValidatingAdmissionPolicyBinding>>,
    ),
    ApiError,
> {
    let invalid =
        |causes| ApiError::invalid(admission::GROUP, "validatingadmissionpolicies", "", causes);
    if let Some(name) = body.get("policyName").and_then(Value::as_str) {
        let key = crate::placement::builtin_ref(
            &Context::Platform,
            &kinds::VALIDATING_ADMISSION_POLICY,
            "",
            name,
        )
        .key();
        let stored = server
            .store
            .get(&key)
            .await
            .map_err(from_store)?
            .ok_or_else(|| {
                ApiError::not_found(admission::GROUP, "validatingadmissionpolicies", name)
            })?;
        let policy = admission::parse_validating_policy(&stored.object).map_err(invalid)?;
        let bindings =
            platform_documents(&server.store, &kinds::VALIDATING_ADMISSION_POLICY_BINDING)
                .await?
                .iter()
                .filter_map(|doc| admission::parse_validating_binding(doc).ok())
                .filter(|b| b.policy_name == name)
                .map(Arc::new)
                .collect();
        return Ok((Arc::new(policy), bindings));
    }
    let documents: Vec<Value> = match body["kind"].as_str() {
        Some("List") => body["items"].as_array().cloned().unwrap_or_default(),
        _ => vec![body.clone()],
    };
    let mut policy = None;
    let mut bindings = Vec::new();
    for doc in &documents {
        match doc["kind"].as_str() {
            Some("ValidatingAdmissionPolicy") if policy.is_none() => {
                policy = Some(admission::parse_validating_policy(doc).map_err(invalid)?)
            }
            Some("ValidatingAdmissionPolicyBinding") => bindings.push(Arc::new(
                admission::parse_validating_binding(doc).map_err(|causes| {
                    ApiError::invalid(admission::GROUP, "validatingadmissionpolicybindings", "", causes)
                })?,
            )),
            _ => {
                return Err(ApiError::bad_request(
                    "an audit takes {\"policyName\": \"…\"}, a ValidatingAdmissionPolicy, or a List of one policy and its bindings",
                ))
            }
        }
    }
    let policy = policy.ok_or_else(|| {
        ApiError::bad_request("the List holds no ValidatingAdmissionPolicy to audit")
    })?;
    if let Some(other) = bindings
        .iter()
        .find(|b| b.policy_name != policy.common.name)
    {
        return Err(ApiError::bad_request(format!(
            "binding {:?} names policy {:?}, not {:?}",
            other.name, other.policy_name, policy.common.name
        )));
    }
    Ok((Arc::new(policy), bindings))
}

/// Each binding with its params for objects of `audited`, read once per
/// page. A namespaced param kind needs the binding's `paramRef.namespace`
/// here (the request path would fall back to the object's namespace).
async fn binding_params(
    server: &ApiServer,
    catalog: &Catalog,
    policy: &ValidatingAdmissionPolicy,
    bindings: &[Arc<ValidatingAdmissionPolicyBinding>],
    audited: &AuditedType,
) -> Result<Vec<(Arc<ValidatingAdmissionPolicyBinding>, Params)>, ApiError> {
    let probe = audit_request(audited, json!({}), None, &UserInfo::default());
    let mut out = Vec::with_capacity(bindings.len());
    for binding in bindings {
        let params = pipeline_admission::params(
            &server.store,
            catalog,
            &policy.common,
            binding.param_ref.as_ref(),
            &probe,
        )
        .await?;
        out.push((Arc::clone(binding), params));
    }
    Ok(out)
}

/// Every stored type, at its preferred version.
fn stored_types(catalog: &Catalog) -> Vec<AuditedType> {
    catalog
        .types()
        .iter()
        .filter_map(|t| catalog.preferred(&t.group, &t.kind))
        .map(|k| AuditedType {
            group: k.group.clone(),
            version: k.version.clone(),
            resource: k.plural.clone(),
            kind: k.kind.clone(),
            namespaced: k.scope == Scope::Namespaced,
        })
        .collect()
}

/// The labels a namespaceSelector sees for an object's context, as on the
/// request path (without reading the project: an audit reads many objects).
fn context_labels(
    context: &Context,
    object: &Option<Value>,
) -> Option<std::collections::BTreeMap<String, String>> {
    let mut labels = std::collections::BTreeMap::new();
    match context {
        Context::Organization(org) => {
            labels.insert(ORGANIZATION_LABEL.to_string(), org.clone());
        }
        Context::Project(project) => {
            labels.insert(kinds::PROJECT_LABEL.to_string(), project.clone());
        }
        Context::Platform => {
            if let Some(org) = object
                .as_ref()
                .and_then(|o| o["metadata"]["labels"][ORGANIZATION_LABEL].as_str())
            {
                labels.insert(ORGANIZATION_LABEL.to_string(), org.to_string());
            }
        }
    }
    (!labels.is_empty()).then_some(labels)
}

fn context_name(context: &Context) -> String {
    match context {
        Context::Platform => "platform".into(),
        Context::Organization(org) => format!("organization/{org}"),
        Context::Project(project) => format!("project/{project}"),
    }
}
