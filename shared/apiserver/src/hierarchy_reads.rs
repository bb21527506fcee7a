//! The reads the hierarchy rules need: a parent's chain of ancestors and
//! the folder levels below a folder. The rules themselves are in
//! `domain::hierarchy`.

use domain::hierarchy::{parent_of, Ancestor, ParentKind, ParentRef, MAX_FOLDER_DEPTH};
use domain::kinds::FOLDER;
use domain::{ApiError, Cause};
use store::{Context, ItemKey, ObjectRef, Store, Stored};

use crate::errors::from_store;
use crate::placement::builtin_ref;

/// One ancestor as read: where it sits, and its item at the version read.
pub struct Link {
    pub ancestor: Ancestor,
    pub object_ref: ObjectRef,
    pub stored: Stored,
}

/// Reads `parent` and its ancestors up to the organization, parent first.
/// A parent that does not exist is a 422 on `field`.
pub async fn chain(store: &Store, parent: &ParentRef, field: &str) -> Result<Vec<Link>, ApiError> {
    let mut links: Vec<Link> = Vec::new();
    let mut next = Some(parent.clone());
    while let Some(at) = next.take() {
        if links.len() > MAX_FOLDER_DEPTH + 1 {
            return Err(ApiError::internal(
                "the folder hierarchy is deeper than allowed; it is corrupt",
            ));
        }
        let kind = at.kind.kind();
        let object_ref = builtin_ref(&Context::Platform, &kind, "", &at.name);
        let Some(stored) = store.get(&object_ref.key()).await.map_err(from_store)? else {
            let missing = Cause {
                reason: "FieldValueNotFound".into(),
                message: format!("{} \"{}\" not found", kind.kind, at.name),
                field: field.to_string(),
            };
            return Err(ApiError::invalid(
                kind.group,
                kind.plural,
                &at.name,
                vec![missing],
            ));
        };
        if at.kind == ParentKind::Folder {
            next = parent_of(FOLDER.kind, &stored.object["spec"]);
        }
        links.push(Link {
            ancestor: Ancestor {
                kind: at.kind,
                name: at.name,
            },
            object_ref,
            stored,
        });
    }
    Ok(links)
}

pub fn ancestors(links: &[Link]) -> Vec<Ancestor> {
    links.iter().map(|l| l.ancestor.clone()).collect()
}

/// The object refs of the direct children of `parent` (from its child
/// index items), at most about `limit`.
pub async fn children(
    store: &Store,
    parent: &ObjectRef,
    limit: Option<i32>,
) -> Result<Vec<ObjectRef>, ApiError> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_index(&parent.children_pk(), "", limit, start)
            .await
            .map_err(from_store)?;
        let targets: Vec<_> = page.items.iter().map(|e| e.target.clone()).collect();
        found.extend(targets.iter().filter_map(ObjectRef::from_key));
        start = page.next;
        if start.is_none() || limit.is_some_and(|l| found.len() >= l as usize) {
            return Ok(found);
        }
    }
}

/// One child of each kind `parent` holds: its child index is ordered by
/// the child's partition (one per kind and context), so one Query of one
/// entry per kind finds them, whatever their number (what a cascade deletes
/// a collection at a time).
pub async fn one_child_per_kind(
    store: &Store,
    parent: &ObjectRef,
) -> Result<Vec<ObjectRef>, ApiError> {
    let pk = parent.children_pk();
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_index(&pk, "", Some(1), start)
            .await
            .map_err(from_store)?;
        let Some(entry) = page.items.into_iter().next() else {
            return Ok(found);
        };
        found.extend(ObjectRef::from_key(&entry.target));
        // Past every entry of that partition: the highest character sorts last.
        start = Some(ItemKey {
            pk: pk.clone(),
            sk: format!("{}#{}", entry.target.pk, char::MAX),
        });
    }
}

/// How many folder levels lie below `folder` (0 for a leaf).
pub async fn subtree_height(store: &Store, folder: &ObjectRef) -> Result<usize, ApiError> {
    let mut level = vec![folder.clone()];
    let mut height = 0;
    loop {
        let mut below = Vec::new();
        for f in &level {
            below.extend(
                children(store, f, None)
                    .await?
                    .into_iter()
                    .filter(|c| c.kind == FOLDER.kind),
            );
        }
        if below.is_empty() || height > MAX_FOLDER_DEPTH {
            return Ok(height);
        }
        height += 1;
        level = below;
    }
}
