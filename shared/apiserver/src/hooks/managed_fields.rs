//! Field ownership (#23): a write that is not an apply gives its manager
//! the fields it changed in `metadata.managedFields` and takes them from
//! every other manager (`domain::apply::record_update`). An apply records
//! its own (objects/apply.rs).

use domain::apply::{record_update, Writer};
use domain::object::Object;
use domain::ApiError;

use super::HookContext;

/// Records the write of `new` over `old` (None for a create) through
/// `subresource` ("" or "status").
pub(super) fn written(
    cx: &HookContext<'_>,
    old: Option<&Object>,
    new: &mut Object,
    subresource: &str,
) -> Result<(), ApiError> {
    let writer = &cx.request.writer;
    if writer.applies {
        return Ok(());
    }
    let api_version = cx.kind.api_version();
    let time = cx.request.timestamp();
    let recorded_as = Writer {
        manager: &writer.manager,
        api_version: &api_version,
        time: &time,
        subresource,
    };
    let old = old.map(Object::to_value);
    let mut doc = new.to_value();
    record_update(cx.kind.schema.shape(), old.as_ref(), &mut doc, &recorded_as)
        .map_err(|e| e.to_api_error(&cx.kind.group, &cx.kind.plural, &new.metadata.name))?;
    new.metadata.managed_fields = match doc.pointer("/metadata/managedFields") {
        Some(serde_json::Value::Array(entries)) => entries.clone(),
        _ => Vec::new(),
    };
    Ok(())
}
