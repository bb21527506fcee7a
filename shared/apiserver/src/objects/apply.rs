//! Server-side apply (PATCH `application/apply-patch+yaml`, #23): the
//! manager's configuration merged into the live object by
//! `domain::apply`, then written as the update it becomes, or as the
//! create when there is no object, so that admission, quota and IAM see
//! what it is.

use domain::apply::{apply, Writer};
use serde_json::json;

use super::*;

impl Ops<'_> {
    pub(super) async fn apply(
        &self,
        name: &str,
        status: bool,
        sent: codec::Decoded,
    ) -> Result<Response, ApiError> {
        let manager = self.call.query.field_manager.as_deref().ok_or_else(|| {
            ApiError::bad_request("fieldManager is required for apply patches (?fieldManager=...)")
        })?;
        self.check_config(name, status, &sent.value)?;
        let unconditional = sent.value.pointer("/metadata/resourceVersion").is_none();
        let api_version = self.kind.api_version();
        let time = self.call.timestamp();
        let writer = Writer {
            manager,
            api_version: &api_version,
            time: &time,
            subresource: if status { "status" } else { "" },
        };
        let mut attempt = 1;
        loop {
            let result = match self.load(name).await {
                Ok(loaded) => {
                    let live = at_version(loaded.1.object.clone(), self.kind);
                    let mut doc = self.applied(name, &live, &sent.value, &writer)?;
                    if unconditional {
                        doc["metadata"]["resourceVersion"] = json!(loaded.1.version.to_string());
                    }
                    self.update(loaded, doc, status, &sent.duplicates).await
                }
                Err(ApiError::NotFound { .. }) if !status => {
                    let mut skeleton = json!({
                        "apiVersion": api_version, "kind": self.kind.kind,
                        "metadata": {"name": name},
                    });
                    if !self.namespace.is_empty() {
                        skeleton["metadata"]["namespace"] = json!(self.namespace);
                    }
                    let value = self.applied(name, &skeleton, &sent.value, &writer)?;
                    let duplicates = sent.duplicates.clone();
                    let created = self.create_from(codec::Decoded { value, duplicates }).await;
                    match created {
                        // Created meanwhile: applied to it instead.
                        Err(ApiError::AlreadyExists { .. }) if attempt < 2 => {
                            attempt += 1;
                            continue;
                        }
                        other => other,
                    }
                }
                Err(err) => Err(err),
            };
            if !(unconditional && self.retry_after(name, &result, &mut attempt).await) {
                return result;
            }
        }
    }

    /// `config` applied to `live` as `writer`, its conflicts a 409.
    fn applied(
        &self,
        name: &str,
        live: &Value,
        config: &Value,
        writer: &Writer<'_>,
    ) -> Result<Value, ApiError> {
        let force = self.call.query.force;
        apply(self.kind.schema.shape(), live, config, writer, force)
            .map_err(|e| e.to_api_error(&self.kind.group, &self.kind.plural, name))
    }

    /// What an applied configuration must be: this kind at the URL's
    /// version, this object, no managedFields of its own, and no status
    /// unless applied through `/status`.
    fn check_config(&self, name: &str, status: bool, config: &Value) -> Result<(), ApiError> {
        let text = |pointer: &str| config.pointer(pointer).and_then(Value::as_str);
        let api_version = self.kind.api_version();
        if text("/apiVersion") != Some(api_version.as_str())
            || text("/kind") != Some(&self.kind.kind)
        {
            return Err(ApiError::bad_request(format!(
                "an applied configuration names its apiVersion and kind: expected {api_version} {}, got {} {}",
                self.kind.kind,
                text("/apiVersion").unwrap_or("none"),
                text("/kind").unwrap_or("none"),
            )));
        }
        if let Some(sent) = text("/metadata/name").filter(|sent| *sent != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({sent}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(sent) = text("/metadata/namespace").filter(|sent| *sent != self.namespace) {
            return Err(ApiError::bad_request(format!(
                "the namespace of the object ({sent}) does not match the namespace on the URL ({})",
                self.namespace
            )));
        }
        if config.pointer("/metadata/managedFields").is_some() {
            return Err(ApiError::bad_request(
                "metadata.managedFields must be nil in an applied configuration",
            ));
        }
        if !status && self.kind.status_subresource && config.get("status").is_some() {
            return Err(self.invalid(
                name,
                vec![Cause::forbidden(
                    "status",
                    "Forbidden: status is applied through the status subresource (/status)",
                )],
            ));
        }
        Ok(())
    }
}
