//! A Lien (#21): what it holds must exist, be seen from the lien's
//! context, and be restricted as its kind allows (its delete). Holding it
//! is the liens hook's (hooks/liens.rs), in the lien's own transaction.

use domain::kinds::Scope;
use domain::lien::Lien;
use domain::object::Object;
use domain::{ApiError, Cause};
use serde_json::Value;

use super::{Reads, Strategy, StrategyContext};
use crate::errors::from_store;
use crate::placement;

pub(super) struct Liens;
impl Strategy for Liens {
    fn admit_with_reads<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        obj: &'a mut Object,
        _previous: &'a Value,
    ) -> Reads<'a, ()> {
        Box::pin(async move {
            let invalid = |causes: Vec<Cause>| {
                ApiError::invalid(&cx.kind.group, &cx.kind.plural, &obj.metadata.name, causes)
            };
            let lien = Lien::of(obj);
            let target = &lien.target;
            let Some(kind) = cx.catalog.preferred(&target.group, &target.kind) else {
                return Err(invalid(vec![Cause::invalid(
                    "spec.targetRef.kind",
                    format!(
                        "{}/{} is not a kind this server serves",
                        target.group, target.kind
                    ),
                )]));
            };
            let causes = lien.causes(&kind.plural, kind.scope == Scope::Namespaced);
            if !causes.is_empty() {
                return Err(invalid(causes));
            }
            let target_ref =
                placement::object_ref(cx.context, kind, &target.namespace, &target.name);
            let stored = cx
                .server
                .store
                .get(&target_ref.key())
                .await
                .map_err(from_store)?;
            if !stored.is_some_and(|s| placement::visible(cx.context, kind, &s.object)) {
                return Err(invalid(vec![Cause {
                    reason: "FieldValueNotFound".into(),
                    message: format!(
                        "{} \"{}\" not found here: a lien holds an object that exists, in its own context",
                        kind.singular, target.name
                    ),
                    field: "spec.targetRef".into(),
                }]));
            }
            Ok(())
        })
    }
}
