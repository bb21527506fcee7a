//! An object as served: at the request's version, and with what is
//! computed on read (a binding's status follows its policy).

use domain::kinds::KindInfo;
use domain::ApiError;
use serde_json::Value;

use crate::{policies, ApiServer, Call};

/// A stored document as served at the request's version: with conversion
/// `None`, only `apiVersion` differs between versions.
pub fn at_version(mut doc: Value, kind: &KindInfo) -> Value {
    if let Some(map) = doc.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(kind.api_version()));
    }
    doc
}

/// A document as served: a binding's status follows its policy (see
/// policies.rs); everything else as stored.
pub async fn present(
    server: &ApiServer,
    kind: &KindInfo,
    doc: Value,
    call: &Call<'_>,
) -> Result<Value, ApiError> {
    if !policies::is_binding_kind(kind) {
        return Ok(doc);
    }
    let set = server.admission.policies.current(&server.store).await?;
    Ok(policies::with_binding_status(
        kind,
        doc,
        &set,
        &call.timestamp(),
    ))
}

/// Every document of a list as served (see [`present`]).
pub async fn present_all(
    server: &ApiServer,
    kind: &KindInfo,
    docs: Vec<Value>,
    call: &Call<'_>,
) -> Result<Vec<Value>, ApiError> {
    if !policies::is_binding_kind(kind) {
        return Ok(docs);
    }
    let set = server.admission.policies.current(&server.store).await?;
    let now = call.timestamp();
    Ok(docs
        .into_iter()
        .map(|d| policies::with_binding_status(kind, d, &set, &now))
        .collect())
}
