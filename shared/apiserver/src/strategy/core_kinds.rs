//! The core kinds with behaviour of their own: namespaces and Secrets.

use domain::kinds::KindInfo;
use domain::object::Object;
use domain::ApiError;
use serde_json::Value;
use store::Context;

use super::{ChildFate, Reads, Strategy, StrategyContext};
use crate::namespaces;

pub(super) struct Namespaces;
impl Strategy for Namespaces {
    fn prepare_for_create(&self, obj: &mut Object, _now: &str) {
        obj.set_status(namespaces::active_status());
        let name = obj.metadata.name.clone();
        obj.metadata
            .labels
            .insert(namespaces::NAME_LABEL.into(), name);
    }

    fn check_delete<'a>(&'a self, cx: &'a StrategyContext<'a>, old: &'a Object) -> Reads<'a, ()> {
        let refused = refuse_delete(cx.context, &old.metadata.name);
        Box::pin(async move { refused })
    }

    fn holds_children(&self) -> bool {
        true
    }

    fn when_container_deleted(&self) -> ChildFate {
        ChildFate::GoesWithIfEmpty
    }
}

/// A context's own namespaces may never go.
pub(super) fn refuse_delete(context: &Context, name: &str) -> Result<(), ApiError> {
    let platform_namespace =
        matches!(context, Context::Platform) && namespaces::PLATFORM_NAMESPACES.contains(&name);
    if name == "default" || platform_namespace {
        return Err(ApiError::Forbidden {
            message: format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            ),
        });
    }
    Ok(())
}

pub(super) struct Secrets;
impl Strategy for Secrets {
    fn prepare_body(&self, kind: &KindInfo, doc: &mut Value) {
        domain::core_kinds::fold_write_only_fields(kind, doc);
    }
}
