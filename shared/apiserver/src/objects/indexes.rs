//! The label and child index items that go with an object in its write.

use super::*;

/// The labels that get index items (none for a kind whose labels are not
/// indexed: `list::labels_indexed`).
pub(super) fn label_pairs(kind: &KindInfo, obj: &Object) -> BTreeSet<(String, String)> {
    if !crate::list::labels_indexed(kind) {
        return BTreeSet::new();
    }
    obj.metadata
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub(super) use crate::label_index::{changes as index_changes, puts as index_puts};

pub(super) fn child_index(parent: &ObjectRef, child: &ObjectRef) -> Write {
    Write::PutIndex {
        key: parent.child_index_key(child),
        target: child.key(),
    }
}
