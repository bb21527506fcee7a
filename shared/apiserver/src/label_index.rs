//! An object's label index items (`ObjectRef::label_index_key`): the one
//! place that turns labels, and a change of them, into store writes. The
//! verbs, quota's grants and buckets, and what is deleted with a project
//! all index labels the same way.

use std::collections::BTreeSet;

use serde_json::Value;
use store::{Expect, ObjectRef, Write};

/// An object's labels, as index items are made of them.
pub(crate) type Labels = BTreeSet<(String, String)>;

/// The labels of a stored or rendered document (values that are not
/// strings have no index item).
pub(crate) fn of_document(doc: &Value) -> Labels {
    doc["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The index items of `labels`, pointing at the object.
pub(crate) fn puts<'a>(
    object_ref: &'a ObjectRef,
    labels: impl IntoIterator<Item = &'a (String, String)> + 'a,
) -> impl Iterator<Item = Write> + 'a {
    labels.into_iter().map(move |(k, v)| Write::PutIndex {
        key: object_ref.label_index_key(k, v),
        target: object_ref.key(),
    })
}

/// The deletes of the index items of `labels` (whatever they hold).
pub(crate) fn deletes<'a>(
    object_ref: &'a ObjectRef,
    labels: impl IntoIterator<Item = &'a (String, String)> + 'a,
) -> impl Iterator<Item = Write> + 'a {
    labels.into_iter().map(move |(k, v)| Write::Delete {
        key: object_ref.label_index_key(k, v),
        expect: Expect::Anything,
    })
}

/// The index writes of a label change: the new pairs put, the gone ones
/// deleted.
pub(crate) fn changes(object_ref: &ObjectRef, old: &Labels, new: &Labels) -> Vec<Write> {
    let mut writes: Vec<Write> = puts(object_ref, new.difference(old)).collect();
    writes.extend(deletes(object_ref, old.difference(new)));
    writes
}
