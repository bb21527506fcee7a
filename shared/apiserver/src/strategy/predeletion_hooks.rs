//! A PreDeletionHook (#21): its spec read and checked at write (every fault
//! a field cause, domain::predeletion), each kind it names served here. A
//! create, or an update of its spec, queues it for the gc, which puts its
//! finalizer on the objects that already match (gc/predeletion_hooks.rs); a
//! create of any other kind puts it on the new object (hooks/predeletion.rs).
//! A write moves the hooks' stamp and answers once every instance applies
//! it, so a create on any instance after it is held.

use domain::kinds::KindInfo;
use domain::object::Object;
use domain::predeletion::Hook;
use domain::Cause;
use serde_json::Value;
use store::{ObjectRef, Write};

use super::{Reads, Strategy, StrategyContext};
use crate::write_set::Stamp;

pub(super) struct PreDeletionHooks;

impl PreDeletionHooks {
    /// The gc's queue entry: it puts the hook's finalizer on what matches.
    fn created_with_queue(&self, hook: &ObjectRef) -> Vec<Write> {
        vec![Write::PutIndex {
            key: hook.predeletion_key(),
            target: hook.key(),
        }]
    }
}

impl Strategy for PreDeletionHooks {
    fn validate(&self, _kind: &KindInfo, new: &Object, _valid_so_far: bool) -> Vec<Cause> {
        Hook::parse(&new.metadata.name, new.spec())
            .err()
            .unwrap_or_default()
    }

    fn admit_with_reads<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        obj: &'a mut Object,
        _previous: &'a Value,
    ) -> Reads<'a, ()> {
        Box::pin(async move {
            let hook = Hook::parse(&obj.metadata.name, obj.spec()).map_err(|causes| {
                domain::ApiError::invalid(
                    &cx.kind.group,
                    &cx.kind.plural,
                    &obj.metadata.name,
                    causes,
                )
            })?;
            let causes: Vec<Cause> = hook
                .resources
                .iter()
                .enumerate()
                .filter(|(_, (group, kind))| cx.catalog.preferred(group, kind).is_none())
                .map(|(index, (group, kind))| {
                    Cause::invalid(
                        format!("spec.resources[{index}]"),
                        format!("{group}/{kind} is not a kind this server serves"),
                    )
                })
                .collect();
            match causes.is_empty() {
                true => Ok(()),
                false => Err(domain::ApiError::invalid(
                    &cx.kind.group,
                    &cx.kind.plural,
                    &obj.metadata.name,
                    causes,
                )),
            }
        })
    }

    fn created_with(&self, _kind: &KindInfo, object: &ObjectRef, _now: &str) -> Vec<Write> {
        self.created_with_queue(object)
    }

    /// A changed spec may match objects the hook did not: queued again.
    fn updated_with(&self, object: &ObjectRef, old: &Object, new: &Object) -> Vec<Write> {
        match old.spec() == new.spec() {
            true => Vec::new(),
            false => self.created_with_queue(object),
        }
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::PreDeletion)
    }

    fn answers_when_every_instance_applies(&self) -> bool {
        true
    }
}
