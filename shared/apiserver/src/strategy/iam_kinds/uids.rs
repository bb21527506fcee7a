//! A PolicyBinding's references made exact, as Milo's webhook does: a
//! subject named without a uid gets the uid of the User or Group of that
//! name (none of that name: 422), and so does a resourceRef. A uid that is
//! written and does not match what is stored is accepted, as Milo accepts
//! it, but the binding then grants nothing and says so (Ready=False,
//! `NOT_RESOLVED`): a uid names one object, and a namesake created later
//! must not inherit the grant.

use domain::kinds::{self, KindId};
use domain::object::Object;
use domain::{ApiError, Cause};
use serde_json::Value;
use store::Context;

use super::super::StrategyContext;
use crate::errors::from_store;
use crate::placement::{builtin_ref, object_ref};

pub(super) use crate::authorization::iam_cache::NOT_RESOLVED;

/// Fills in missing uids (422 when nothing of that name exists) and
/// returns what does not match, one sentence each.
pub(super) async fn resolve(
    cx: &StrategyContext<'_>,
    obj: &mut Object,
) -> Result<Vec<String>, ApiError> {
    let mut spec = obj.spec().clone();
    let namespace = obj.metadata.namespace.clone();
    let mut mismatches = Vec::new();
    let mut missing = Vec::new();
    if let Some(subjects) = spec["subjects"].as_array_mut() {
        for (index, subject) in subjects.iter_mut().enumerate() {
            let field = format!("spec.subjects[{index}]");
            let Some((kind, key_ns, name)) = subject_key(subject, &namespace) else {
                continue;
            };
            let context = if kind == &kinds::USER {
                Context::Platform
            } else {
                cx.context.clone()
            };
            let key = builtin_ref(&context, kind, &key_ns, &name).key();
            let stored = cx.server.store.get(&key).await.map_err(from_store)?;
            check(
                subject,
                stored.map(|s| s.object),
                &field,
                kind.kind,
                &name,
                &mut missing,
                &mut mismatches,
            );
        }
    }
    if spec["resourceSelector"]["resourceRef"].is_object() {
        let reference = &mut spec["resourceSelector"]["resourceRef"];
        let stored = referenced(cx, reference).await?;
        let kind = reference["kind"].as_str().unwrap_or_default().to_string();
        let name = reference["name"].as_str().unwrap_or_default().to_string();
        let field = "spec.resourceSelector.resourceRef".to_string();
        check(
            reference,
            stored,
            &field,
            &kind,
            &name,
            &mut missing,
            &mut mismatches,
        );
    }
    if !missing.is_empty() {
        return Err(ApiError::invalid(
            &cx.kind.group,
            &cx.kind.plural,
            &obj.metadata.name,
            missing,
        ));
    }
    obj.fields.insert("spec".into(), spec);
    Ok(mismatches)
}

/// The kind, namespace and name a subject stands for; `None` for a
/// system group, which no object backs.
fn subject_key(
    subject: &Value,
    binding_namespace: &str,
) -> Option<(&'static KindId, String, String)> {
    let name = subject["name"].as_str()?.to_string();
    match subject["kind"].as_str()? {
        "User" => Some((&kinds::USER, String::new(), name)),
        "Group" if name.starts_with("system:") => None,
        "Group" => {
            let ns = subject["namespace"].as_str().unwrap_or(binding_namespace);
            Some((&kinds::GROUP, ns.to_string(), name))
        }
        _ => None,
    }
}

/// The object a resourceRef names, if stored.
async fn referenced(
    cx: &StrategyContext<'_>,
    reference: &Value,
) -> Result<Option<Value>, ApiError> {
    let group = reference["apiGroup"].as_str().unwrap_or_default();
    let kind = reference["kind"].as_str().unwrap_or_default();
    // The platform serves every type.
    let Some(info) = cx
        .catalog
        .served_in(domain::kinds::ContextKind::Platform)
        .find(|k| k.group == group && k.kind == kind)
    else {
        return Ok(None);
    };
    let namespace = reference["namespace"].as_str().unwrap_or_default();
    let name = reference["name"].as_str().unwrap_or_default();
    let key = object_ref(cx.context, info, namespace, name).key();
    let stored = cx.server.store.get(&key).await.map_err(from_store)?;
    Ok(stored.map(|s| s.object))
}

/// A reference's uid against the stored object's: filled in when
/// missing, a mismatch when different.
fn check(
    reference: &mut Value,
    stored: Option<Value>,
    field: &str,
    kind: &str,
    name: &str,
    missing: &mut Vec<Cause>,
    mismatches: &mut Vec<String>,
) {
    let stored_uid = stored
        .as_ref()
        .and_then(|o| o["metadata"]["uid"].as_str())
        .map(str::to_string);
    let written = reference["uid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    match (written, stored_uid) {
        (None, Some(uid)) => reference["uid"] = Value::String(uid),
        (None, None) => missing.push(Cause {
            reason: "FieldValueNotFound".into(),
            field: format!("{field}.name"),
            message: format!("{kind} \"{name}\" not found: create it first, or name it with its uid"),
        }),
        (Some(uid), Some(stored)) if uid == stored => {}
        (Some(uid), _) => mismatches.push(format!(
            "{field}: {kind} \"{name}\" with uid {uid} not found; the binding grants nothing until it names the {kind} that exists (its uid) or that {kind} is created"
        )),
    }
}
