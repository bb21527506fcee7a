//! A Terminating container emptied: what is left in it deleted level by
//! level (a contained container in turn, or emptied in place when its kind
//! keeps it, as a project keeps its `default` namespace), and its
//! ResourceCleanup condition naming what it still waits for.

use domain::deletion::{self, Waiting};
use domain::object::Object;
use domain::ApiError;
use serde_json::Value;
use store::{ObjectRef, Stored, Write};

use super::{object_of, Deleted, Gc, Sweep};
use crate::hierarchy_reads;
use crate::strategy::{self, ChildFate};

impl Gc<'_> {
    /// Deletes what is left in `container` and returns what it still
    /// waits for: objects held by finalizers, named with them.
    pub(super) async fn empty(
        &self,
        container: &ObjectRef,
        report: &mut Sweep,
    ) -> Result<Vec<Waiting>, ApiError> {
        let store = &self.server.store;
        let mut waiting = Vec::new();
        for child in hierarchy_reads::children(store, container, None).await? {
            let child_strategy = strategy::for_group_kind(&child.group, &child.kind);
            if child_strategy.when_container_deleted() == ChildFate::GoesWith {
                continue;
            }
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
            if !child_strategy.holds_children() {
                waiting.push(Waiting::of(&child.kind, &object));
                continue;
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
