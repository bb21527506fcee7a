//! The platform's relationship items (domain::ingest::platform): an
//! object's parent and owners as graph edges, written in its transaction.

use domain::ingest::{platform_relationship_changes, platform_relationships};
use domain::kinds::KindInfo;
use domain::object::Object;
use ingest::relationship_writes;
use store::Write;

pub(super) fn created(kind: &KindInfo, obj: &Object) -> Vec<Write> {
    relationship_writes(&platform_relationships(&kind.kind, obj), &[])
}

pub(super) fn changed(kind: &KindInfo, old: &Object, new: &Object) -> Vec<Write> {
    let (added, removed) = platform_relationship_changes(&kind.kind, old, new);
    relationship_writes(&added, &removed)
}

pub(super) fn deleted(kind: &KindInfo, old: &Object) -> Vec<Write> {
    relationship_writes(&[], &platform_relationships(&kind.kind, old))
}
