//! The owner index (#21): an item per owner reference, `own#{owner uid}`
//! → the object, written in the object's own transaction, so the gc
//! function finds an owner's dependents by one Query, never a scan. An
//! owner deleted while dependents still name it is marked orphaned
//! (`gc#orphaned`) in its delete's transaction, for the gc to sweep them.

use std::collections::BTreeSet;

use domain::deletion;
use domain::object::Object;
use domain::ApiError;
use store::keys::{orphaned_key, owner_index_pk};
use store::{Expect, ObjectRef, Write};

use super::HookContext;
use crate::errors::from_store;
use crate::placement;

fn this(cx: &HookContext<'_>, obj: &Object) -> ObjectRef {
    placement::object_ref(
        cx.context,
        cx.kind,
        &obj.metadata.namespace,
        &obj.metadata.name,
    )
}

fn owner_uids<'a>(cx: &HookContext<'_>, obj: &'a Object) -> BTreeSet<&'a str> {
    deletion::indexed_owner_references(&cx.kind.kind, obj)
        .map(|o| o.uid.as_str())
        .collect()
}

fn puts(object: &ObjectRef, uids: impl Iterator<Item = impl AsRef<str>>) -> Vec<Write> {
    uids.map(|uid| Write::PutIndex {
        key: object.owner_index_key(uid.as_ref()),
        target: object.key(),
    })
    .collect()
}

fn deletes(object: &ObjectRef, uids: impl Iterator<Item = impl AsRef<str>>) -> Vec<Write> {
    uids.map(|uid| Write::Delete {
        key: object.owner_index_key(uid.as_ref()),
        expect: Expect::Anything,
    })
    .collect()
}

pub(super) fn created(cx: &HookContext<'_>, obj: &Object) -> Vec<Write> {
    puts(&this(cx, obj), owner_uids(cx, obj).into_iter())
}

pub(super) fn changed(cx: &HookContext<'_>, old: &Object, new: &Object) -> Vec<Write> {
    let object = this(cx, new);
    let (before, after) = (owner_uids(cx, old), owner_uids(cx, new));
    let mut writes = deletes(&object, before.difference(&after));
    writes.extend(puts(&object, after.difference(&before)));
    writes
}

/// Its owner index items, without the orphaned mark: what the gc deletes
/// with an object it empties a container of, whose dependents are in that
/// container too (a namespaced owner is one of the dependent's namespace,
/// a cluster-scoped one of its context: `deletion::owner_reference_causes`),
/// and go with it.
pub(super) fn deleted_with_container(cx: &HookContext<'_>, old: &Object) -> Vec<Write> {
    deletes(&this(cx, old), owner_uids(cx, old).into_iter())
}

pub(super) async fn deleted(cx: &HookContext<'_>, old: &Object) -> Result<Vec<Write>, ApiError> {
    let mut writes = deleted_with_container(cx, old);
    let dependents = cx
        .store
        .query_keys(&owner_index_pk(&old.metadata.uid), "", Some(1), None)
        .await
        .map_err(from_store)?;
    if !dependents.items.is_empty() {
        writes.push(Write::PutItem {
            key: orphaned_key(&old.metadata.uid),
            attributes: Vec::new(),
        });
    }
    Ok(writes)
}
