//! The core kinds with behaviour of their own: namespaces and Secrets.

use domain::kinds::{self, KindInfo};
use domain::object::Object;
use domain::ApiError;
use serde_json::Value;
use store::Context;

use super::{ChildFate, Reads, Strategy, StrategyContext};
use crate::errors::from_store;
use crate::namespaces;
use crate::placement::builtin_ref;

pub(super) struct Namespaces;
impl Strategy for Namespaces {
    fn prepare_for_create(&self, obj: &mut Object, _now: &str) {
        obj.set_status(namespaces::active_status());
        let name = obj.metadata.name.clone();
        obj.metadata
            .labels
            .insert(namespaces::NAME_LABEL.into(), name);
    }

    fn check_delete<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        old: &'a Object,
    ) -> Option<Reads<'a, ()>> {
        Some(Box::pin(async move {
            refuse_delete(cx.context, &old.metadata.name)?;
            refuse_while_organization_stands(cx, &old.metadata.name).await
        }))
    }

    fn terminating(&self, obj: &mut Object) {
        obj.set_status(namespaces::terminating_status());
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

/// An organization's own namespace (`organization-{org}` in the platform)
/// goes with the organization, as a project's `default` goes with it:
/// its delete records it, and the cascade empties it in place.
async fn refuse_while_organization_stands(
    cx: &StrategyContext<'_>,
    name: &str,
) -> Result<(), ApiError> {
    let Some(org) = namespaces::organization_of(cx.context, name) else {
        return Ok(());
    };
    let key = builtin_ref(&Context::Platform, &kinds::ORGANIZATION, "", org).key();
    if cx
        .server
        .store
        .get(&key)
        .await
        .map_err(from_store)?
        .is_none()
    {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        message: format!(
            "namespaces \"{name}\" is forbidden: it is organization \"{org}\"'s own namespace and goes when the organization does"
        ),
    })
}

pub(super) struct Secrets;
impl Strategy for Secrets {
    fn prepare_body(&self, kind: &KindInfo, doc: &mut Value) {
        domain::core_kinds::fold_write_only_fields(kind, doc);
    }
}
