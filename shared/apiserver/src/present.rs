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

/// What [`present`] does, owned, for the objects a watch sends as they
/// come: at the request's version, a binding's status from the policies
/// as they were when the watch began, and as a one-row Table when the
/// client asked for tables (`kubectl get -w`).
pub struct Presenter {
    kind: KindInfo,
    bindings: Option<std::sync::Arc<domain::admission::PolicySet>>,
    table: bool,
    now: chrono::DateTime<chrono::Utc>,
}

impl Presenter {
    pub async fn new(
        server: &ApiServer,
        kind: &KindInfo,
        call: &Call<'_>,
    ) -> Result<Presenter, ApiError> {
        let bindings = match policies::is_binding_kind(kind) {
            true => Some(server.admission.policies.current(&server.store).await?),
            false => None,
        };
        Ok(Presenter {
            kind: kind.clone(),
            bindings,
            table: crate::codec::wants_table(call.header("accept")),
            now: call.request.time,
        })
    }

    /// `doc` as served, with `resource_version` as its resourceVersion.
    pub fn present(&self, doc: Value, resource_version: String) -> Value {
        let mut doc = at_version(doc, &self.kind);
        doc["metadata"]["resourceVersion"] = Value::String(resource_version.clone());
        if let Some(set) = &self.bindings {
            let now = self.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            doc = policies::with_binding_status(&self.kind, doc, set, &now);
        }
        if self.table {
            let meta = serde_json::json!({"resourceVersion": resource_version});
            return domain::table::table(&self.kind, &[doc], self.now, meta);
        }
        doc
    }
}
