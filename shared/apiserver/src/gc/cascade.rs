//! A Terminating container emptied: what is left in it deleted level by
//! level (a contained container in turn, or emptied in place when its kind
//! keeps it, as a project keeps its `default` namespace), and its
//! ResourceCleanup condition naming what it still waits for.

use domain::deletion::{self, Waiting};
use domain::object::Object;
use domain::ApiError;
use std::collections::BTreeSet;

use futures_util::{stream, StreamExt};
use serde_json::Value;
use store::{Expect, ObjectRef, StoreError, Stored, Write};

use super::{object_of, Deleted, Gc, Sweep};
use crate::errors::from_store;
use crate::hierarchy_reads;
use crate::route::collection_path;
use crate::strategy::{self, ChildFate};

/// The deletes of one container's leaves in flight at once. Each is a whole
/// API request that mostly waits on DynamoDB, so several in flight hide
/// those waits; 16 keeps the burst on one namespace's partitions and a
/// small Lambda's one or two vCPUs modest. Not tuned: docs/benchmarks.md
/// (Deletion) measures at this figure.
const LEAF_DELETES_IN_FLIGHT: usize = 16;

impl Gc<'_> {
    /// Deletes what is left in `container` and returns what it still
    /// waits for: objects held by finalizers, named with them.
    pub(super) async fn empty(
        &self,
        container: &ObjectRef,
        report: &mut Sweep,
    ) -> Result<Vec<Waiting>, ApiError> {
        let store = &self.server.store;
        let kinds = hierarchy_reads::one_child_per_kind(store, container).await?;
        self.delete_collections(&kinds, report).await;
        // What is left: held, refused, or containers.
        let children = hierarchy_reads::children(store, container, None).await?;
        let (leaves, containers): (Vec<ObjectRef>, Vec<ObjectRef>) = children
            .into_iter()
            .filter(emptied_by_gc)
            .partition(is_leaf);
        // In the children's order, so the condition names the same ones.
        let leaves_done: Vec<_> = stream::iter(&leaves)
            .map(|leaf| self.empty_leaf(container, leaf))
            .buffered(LEAF_DELETES_IN_FLIGHT)
            .collect()
            .await;
        let mut waiting = Vec::new();
        for done in leaves_done {
            let (left, deletes) = done?;
            report.deletes += deletes;
            waiting.extend(left);
        }
        for child in containers {
            let Some(stored) = self.read(&child).await? else {
                continue;
            };
            let mut object = object_of(&stored)?;
            if !deletion::is_terminating(&object) {
                match self.delete(&child, None, report).await? {
                    Deleted::Gone => continue,
                    Deleted::Terminating(now) => object = *now,
                    Deleted::Refused(message) => {
                        waiting.push(Waiting::refused(&child.kind, &object, &message));
                        continue;
                    }
                    Deleted::Kept => {
                        // Nothing new lands in it while it is emptied; it
                        // goes with its container.
                        self.flag(&child, &stored).await;
                        waiting.extend(Box::pin(self.empty(&child, report)).await?);
                        continue;
                    }
                }
            }
            let inside = Box::pin(self.empty(&child, report)).await?;
            if !object.metadata.finalizers.is_empty() {
                waiting.push(Waiting::of(&child.kind, &object));
            } else if inside.is_empty() {
                // Emptied now: it goes (or says what still keeps it).
                match self.delete(&child, None, report).await? {
                    Deleted::Refused(message) => {
                        waiting.push(Waiting::refused(&child.kind, &object, &message))
                    }
                    Deleted::Terminating(_) => waiting.push(Waiting::of(&child.kind, &object)),
                    Deleted::Gone | Deleted::Kept => {}
                }
                continue;
            }
            waiting.extend(inside);
        }
        Ok(waiting)
    }

    /// Asks the API to delete each collection of the container's leaves (a
    /// kind in a namespace, or in the context; `kinds`: a child of each
    /// kind), as Kubernetes's namespace controller does: the API deletes in
    /// bulk what it can. A refusal is left to the leaves' own deletes,
    /// which name it.
    async fn delete_collections(&self, kinds: &[ObjectRef], report: &mut Sweep) {
        let paths: BTreeSet<String> = kinds
            .iter()
            .filter(|child| emptied_by_gc(child) && is_leaf(child))
            .filter_map(|leaf| {
                let kind = self.served(&leaf.group, &leaf.kind).ok()?;
                Some(collection_path(&leaf.context, kind, &leaf.namespace))
            })
            .collect();
        for path in &paths {
            report.deletes += 1;
            match self.request(http::Method::DELETE, path, None).await {
                Ok((200, _)) => {}
                Ok((status, body)) => {
                    tracing::info!(status, %body, %path, "a collection was not deleted whole; its objects go one by one")
                }
                Err(err) => tracing::warn!(error = %err, %path, "a collection's delete failed"),
            }
        }
    }

    /// Deletes one object that holds none: what it still waits for, if
    /// anything, and the deletes asked for.
    async fn empty_leaf(
        &self,
        container: &ObjectRef,
        leaf: &ObjectRef,
    ) -> Result<(Option<Waiting>, usize), ApiError> {
        let Some(stored) = self.read(leaf).await? else {
            self.remove_entry(container, leaf).await?;
            return Ok((None, 1));
        };
        let object = object_of(&stored)?;
        if deletion::is_terminating(&object) {
            return Ok((Some(Waiting::of(&leaf.kind, &object)), 0));
        }
        let mut report = Sweep::default();
        let left = match self.delete(leaf, None, &mut report).await? {
            Deleted::Gone | Deleted::Kept => None,
            Deleted::Terminating(now) => Some(Waiting::of(&leaf.kind, &now)),
            Deleted::Refused(message) => Some(Waiting::refused(&leaf.kind, &object, &message)),
        };
        Ok((left, report.deletes))
    }

    /// Removes the container's entry of an object that is gone: what a
    /// batch cut short leaves (see `BatchDeletes`). Only while the object
    /// is absent: one created again meanwhile keeps its entry.
    async fn remove_entry(&self, container: &ObjectRef, gone: &ObjectRef) -> Result<(), ApiError> {
        let writes = vec![
            Write::Check {
                key: gone.key(),
                expect: Expect::Absent,
            },
            Write::Delete {
                key: container.child_index_key(gone),
                expect: Expect::Present,
            },
        ];
        match self.server.store.write(writes).await {
            Ok(()) => Ok(()),
            // Created again, or the entry gone meanwhile: either is right.
            Err(StoreError::AlreadyExists { .. } | StoreError::NotFound { .. }) => Ok(()),
            Err(err) => Err(from_store(err)),
        }
    }

    /// Writes a Terminating container's ResourceCleanup condition when it
    /// changed (a kind without a status subresource shows none). A write
    /// that loses a race is left to the next pass.
    pub(super) async fn show(
        &self,
        target: &ObjectRef,
        stored: &Stored,
        object: &Object,
        waiting: &[Waiting],
    ) {
        let Some(kind) = self.catalog.preferred(&target.group, &target.kind) else {
            return;
        };
        if !kind.status_subresource {
            return;
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let condition = deletion::cleanup_condition(waiting, &now);
        let Some(status) = deletion::with_condition(object.status(), &condition) else {
            return;
        };
        let mut doc = stored.object.clone();
        doc["status"] = status;
        doc["apiVersion"] = Value::String(kind.api_version());
        match self
            .call(http::Method::PUT, target, Some("status"), Some(doc))
            .await
        {
            Ok((200, _)) => {}
            Ok((status, body)) => {
                tracing::info!(status, %body, name = %target.name, "the cleanup condition was not written; next pass")
            }
            Err(err) => tracing::warn!(error = %err, "the cleanup condition was not written"),
        }
    }

    /// Flags a container its kind keeps, so nothing new lands in it while
    /// it is emptied (its container's delete takes it, version-checked).
    async fn flag(&self, target: &ObjectRef, stored: &Stored) {
        let mark = Write::MarkDeleting {
            key: target.key(),
            version: stored.version,
            deleting: true,
        };
        if let Err(err) = self.server.store.write(vec![mark]).await {
            tracing::info!(error = %err, name = %target.name, "not flagged; next pass");
        }
    }
}

/// Whether the gc deletes a child of a container before the container
/// (else it goes in the container's own transaction).
fn emptied_by_gc(child: &ObjectRef) -> bool {
    strategy::for_group_kind(&child.group, &child.kind).when_container_deleted()
        != ChildFate::GoesWith
}

/// Whether a child of a container holds none of its own.
fn is_leaf(child: &ObjectRef) -> bool {
    !strategy::for_group_kind(&child.group, &child.kind).holds_children()
}
