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

pub(super) fn index_puts<'a>(
    object_ref: &'a ObjectRef,
    labels: &'a BTreeSet<(String, String)>,
) -> impl Iterator<Item = Write> + 'a {
    labels.iter().map(move |(k, v)| Write::PutIndex {
        key: object_ref.label_index_key(k, v),
        target: object_ref.key(),
    })
}

/// Index writes for a label change: put the new pairs, delete the gone ones.
pub(super) fn index_changes(
    object_ref: &ObjectRef,
    old: &BTreeSet<(String, String)>,
    new: &BTreeSet<(String, String)>,
) -> Vec<Write> {
    let added: BTreeSet<_> = new.difference(old).cloned().collect();
    let mut writes: Vec<Write> = index_puts(object_ref, &added).collect();
    writes.extend(old.difference(new).map(|(k, v)| Write::Delete {
        key: object_ref.label_index_key(k, v),
        expect: Expect::Anything,
    }));
    writes
}

pub(super) fn child_index(parent: &ObjectRef, child: &ObjectRef) -> Write {
    Write::PutIndex {
        key: parent.child_index_key(child),
        target: child.key(),
    }
}
