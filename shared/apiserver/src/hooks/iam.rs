//! IAM's part of a write: an object the decision reads (a role, binding or
//! group membership, of either family) is copied into the policy partition
//! in its own transaction, so every instance's reload finds it with one
//! consistent Query (authorization/iam_cache.rs).

use domain::object::Object;
use store::{Expect, Write};

use super::HookContext;
use crate::write_set::Role;

/// The copy's role in the write set.
pub(super) const COPY: Role = Role::Hook {
    hook: "iam",
    part: "policy copy",
};
use crate::authorization::iam_cache;

/// The copy written with a create or update (any kind else: nothing); a
/// binding whose references do not resolve has none.
pub(super) fn written(cx: &HookContext<'_>, obj: &Object) -> Vec<Write> {
    if !iam_cache::is_policy_kind(cx.kind) {
        return Vec::new();
    }
    if !iam_cache::grants(obj) {
        return deleted(cx, obj);
    }
    vec![Write::PutObject {
        key: copy_key(cx, obj),
        object: obj.to_value(),
        version: 0,
        expect: Expect::Anything,
    }]
}

/// The copy deleted with the object.
pub(super) fn deleted(cx: &HookContext<'_>, old: &Object) -> Vec<Write> {
    if !iam_cache::is_policy_kind(cx.kind) {
        return Vec::new();
    }
    vec![Write::Delete {
        key: copy_key(cx, old),
        expect: Expect::Anything,
    }]
}

fn copy_key(cx: &HookContext<'_>, obj: &Object) -> store::ItemKey {
    iam_cache::copy_key(
        cx.context,
        &cx.kind.group,
        &cx.kind.kind,
        &obj.metadata.namespace,
        &obj.metadata.name,
    )
}
