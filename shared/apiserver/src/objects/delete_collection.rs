//! DELETE on a list path (deletecollection): every object of the kind the
//! selectors match, in the namespace or the context, deleted as its own
//! DELETE would delete it; the answer is a Status, as Kubernetes's clients
//! expect. It is how the gc function empties a container (#21), a
//! collection at a time, as Kubernetes's namespace controller does.
//!
//! In a container sealed for its cascade ([`Ops::sealed`]), an object
//! whose delete would remove only items it names, and that no policy
//! judges, goes in a batch with the others, with no transaction: nothing
//! there can change what its delete removes, since an update that would
//! (a finalizer, a label or an owner added) checks the container live
//! ([`Ops::cascade_fence`]), and nothing new lands in a flagged container.
//! A batch cut short leaves only what the gc's next run finishes: see
//! [`BatchDeletes`]. The rest go one DELETE each.

use domain::deletion;
use std::sync::Arc;

use futures_util::{stream, StreamExt};
use serde_json::json;
use tokio::sync::{AcquireError, Semaphore};

use crate::list;
use crate::write_set::BatchDeletes;

use super::*;

/// Objects' own DELETEs, and batches of a bulk delete, in flight at once:
/// each mostly waits on DynamoDB. Not tuned: docs/benchmarks.md (Deletion)
/// measures at this figure.
const IN_FLIGHT: usize = 16;

impl Ops<'_> {
    pub(super) async fn delete_collection(&self, access: &Access) -> Result<Response, ApiError> {
        let options = DeleteOptions::from_body(self.call.body, &self.kind.api_version())
            .map_err(ApiError::bad_request)?;
        let in_bulk = !(self.call.query.dry_run || options.dry_run())
            && deletion::finalizer_for(deletion::propagation(&options)).is_none()
            && options.precondition_uid().is_none()
            && options.precondition_resource_version().is_none()
            && self.sealed().await?;
        let namespace = (!self.namespace.is_empty()).then_some(self.namespace.as_str());
        let collection = (self.context, self.kind, namespace);
        // Each batch is a task of its own, at most IN_FLIGHT at once: the
        // next page is read while the last one's batches run.
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut batches = Vec::new();
        let mut one_by_one = Vec::new();
        let mut after = None;
        loop {
            let (objects, next) = list::selected(
                self.server,
                collection,
                self.call,
                access,
                self.server.collection_page,
                after,
            )
            .await?;
            let (bulk, others) = self.sort_out(objects, in_bulk).await?;
            one_by_one.extend(others);
            let mut bulk = bulk.into_iter().peekable();
            while bulk.peek().is_some() {
                let deletes = bulk.by_ref().take(BULK_OBJECTS).fold(
                    BatchDeletes::default(),
                    |mut group, one| {
                        group.append(one);
                        group
                    },
                );
                let slot = slots.clone().acquire_owned().await.map_err(closed)?;
                let store = self.server.store.clone();
                batches.push(tokio::spawn(async move {
                    let _slot = slot;
                    for keys in deletes.in_order() {
                        store.delete_unchecked(keys).await?;
                    }
                    Ok::<_, store::StoreError>(())
                }));
            }
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        for batch in batches {
            batch
                .await
                .map_err(|e| ApiError::internal(format!("a batch of deletes failed: {e}")))?
                .map_err(from_store)?;
        }
        let outcomes: Vec<Result<Response, ApiError>> = stream::iter(one_by_one)
            .map(|name| async move { Box::pin(self.delete(&name)).await })
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        // Every object is tried; the first refusal is the answer. One gone
        // meanwhile is deleted all the same.
        for outcome in outcomes {
            match outcome {
                Ok(_) | Err(ApiError::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(self.respond(
            200,
            json!({
                "apiVersion": "v1",
                "kind": "Status",
                "metadata": {},
                "status": "Success",
                "details": {"group": self.kind.group, "kind": self.kind.plural},
            }),
        ))
    }

    /// A page's objects sorted out: the items of those that go in bulk
    /// (`in_bulk`: the container is sealed), and the names of the others.
    async fn sort_out(
        &self,
        objects: Vec<Value>,
        in_bulk: bool,
    ) -> Result<(Vec<BatchDeletes>, Vec<String>), ApiError> {
        let (mut bulk, mut one_by_one) = (Vec::new(), Vec::new());
        for doc in objects {
            let obj = Object::from_value(doc).map_err(|e| {
                ApiError::internal(format!("a stored {} is corrupt: {e}", self.kind.kind))
            })?;
            match in_bulk {
                true => match self.cascade_items(&obj).await? {
                    Some(items) if self.delete_unjudged(&obj).await? => bulk.push(items),
                    _ => one_by_one.push(obj.metadata.name),
                },
                false => one_by_one.push(obj.metadata.name),
            }
        }
        Ok((bulk, one_by_one))
    }

    /// Whether the collection's container is sealed for its cascade:
    /// flagged as deleting, and Terminating, or in a context Terminating
    /// (a namespace its project keeps, which the gc flags as it empties
    /// it). A flag alone may be a delete's first step, taken back if the
    /// delete is refused (by a lien below, say); Terminating was written
    /// by a transaction that checked nothing below was held.
    async fn sealed(&self) -> Result<bool, ApiError> {
        let Some(container) = self.collection_container() else {
            return Ok(false);
        };
        let store = &self.server.store;
        let terminating = |stored: Option<Stored>| {
            stored.is_some_and(|s| s.object["metadata"]["deletionTimestamp"].is_string())
        };
        let key = container.object_ref.key();
        // The store flags every document it puts Terminating: one read.
        if terminating(store.get(&key).await.map_err(from_store)?) {
            return Ok(true);
        }
        let Some(context) = placement::context_object(self.context) else {
            return Ok(false);
        };
        Ok(store.is_flagged_deleting(&key).await.map_err(from_store)?
            && terminating(
                store
                    .get(&context.object_ref.key())
                    .await
                    .map_err(from_store)?,
            ))
    }

    /// The items a cascade's delete of `obj` removes, when removing them is
    /// all its delete does: its own (the object, its label and child index
    /// items) and the hooks'. None when it needs a delete of its own:
    /// Terminating or holding finalizers, a rule of its kind, a hook's
    /// work (quota's, IAM's).
    pub(super) async fn cascade_items(
        &self,
        obj: &Object,
    ) -> Result<Option<BatchDeletes>, ApiError> {
        if deletion::is_terminating(obj)
            || !obj.metadata.finalizers.is_empty()
            || !strategy::deletes_alone(self.strategy, &self.strategy_context(), obj)
        {
            return Ok(None);
        }
        let Some(hooks) = hooks::on_cascade_delete(&self.hooks(), obj).await? else {
            return Ok(None);
        };
        let object_ref = self.object_ref(&obj.metadata.name);
        let mut set = self.delete_set(&object_ref, 0, obj).await?;
        set.extend(Role::Index, hooks);
        Ok(set.deletes_only())
    }

    /// The check an update adds when it changes what a cascade's delete
    /// would remove of an object (a finalizer, a label or an owner added
    /// or taken off): its container live, so that an object a cascade is
    /// deleting in bulk cannot change under it.
    pub(super) async fn cascade_fence(
        &self,
        old: &Object,
        new: &Object,
    ) -> Result<Option<Write>, ApiError> {
        let Some(container) = self.collection_container() else {
            return Ok(None);
        };
        let Some(before) = self.cascade_items(old).await? else {
            return Ok(None);
        };
        if self.cascade_items(new).await?.as_ref() == Some(&before) {
            return Ok(None);
        }
        Ok(Some(Write::Check {
            key: container.object_ref.key(),
            expect: Expect::Live,
        }))
    }
}

fn closed(_: AcquireError) -> ApiError {
    ApiError::internal("a deletecollection's batches were stopped")
}

/// The objects one batch task deletes, its three kinds of items in turn
/// ([`BatchDeletes::in_order`]): a BatchWriteItem call's worth of each.
const BULK_OBJECTS: usize = 25;

/// Objects read and sorted out at a time, unless the server says
/// otherwise (`ApiServer::with_collection_page`).
pub(crate) const COLLECTION_PAGE: i32 = 500;
