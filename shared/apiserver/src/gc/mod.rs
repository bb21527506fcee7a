//! The gc function's work (#21): one pass over what the table queues for
//! it, written in the transactions that made it so:
//!
//! - `gc#terminating`: objects Terminating that the gc acts for. A
//!   container is emptied level by level and shows what it waits for
//!   (cascade.rs); an owner deleted Foreground or Orphan has its
//!   dependents deleted or released first (owners.rs). Each goes once
//!   nothing holds it.
//! - `gc#orphaned`: owners deleted while dependents still named them; a
//!   dependent whose owners are all gone (matched by uid) is deleted, one
//!   that keeps another owner loses the dangling reference (owners.rs).
//! - `gc#predeletion`: pre-deletion hooks just created, whose finalizer
//!   goes on the objects that already match; a Terminating object holding
//!   a hook's finalizer has the hook's action run first (predeletion_hooks.rs,
//!   over the network through actions.rs).
//!
//! It acts through the API as the principal `system:gc` (its own built-in
//! role), so every delete it makes is authorized, admitted, hooked and
//! finalized as a client's would be. Killed anywhere, the next pass finds
//! the queues and the objects as they are and goes on: each step is a
//! conditional write that is either done or not, and none is done twice.

mod actions;
mod cascade;
mod owners;
mod predeletion_hooks;

pub use actions::{HookActions, NetworkActions, Run};

use bytes::Bytes;
use domain::catalog::Catalog;
use domain::deletion::{self, FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use domain::iam::GC_PRINCIPAL;
use domain::kinds::KindInfo;
use domain::object::Object;
use domain::predeletion::hook_of;
use domain::ApiError;
use serde_json::{json, Value};
use store::keys::{ORPHANED_PK, PREDELETION_PK, TERMINATING_PK};
use store::{Expect, IndexEntry, ItemKey, ObjectRef, Stored, Write};

use crate::errors::from_store;
use crate::request::RequestInfo;
use crate::route::object_path;
use crate::strategy::{self, StrategyContext};
use crate::ApiServer;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Terminating objects and orphaned owners found queued.
    pub queued: usize,
    /// Writes it asked the API for: deletes (of what a cascade or an
    /// owner reached, of emptied containers), released finalizers and
    /// owner references.
    pub deletes: usize,
    /// Queued entries done by the end of the pass.
    pub finished: usize,
    /// Queued entries still waiting (finalizers, or what they hold).
    pub waiting: usize,
    /// Queued entries whose step failed (logged; the next pass tries
    /// again), so that one entry never holds up the others.
    pub failed: usize,
}

/// [`sweep_with`] running hooks' actions over the network, with clients
/// made for this pass.
pub async fn sweep(server: &ApiServer) -> Result<Sweep, ApiError> {
    sweep_with(server, &NetworkActions::from_env()).await
}

/// One pass over the queues, running hooks' actions with `actions`. Fails
/// only when the queues cannot be read.
pub async fn sweep_with(server: &ApiServer, actions: &dyn HookActions) -> Result<Sweep, ApiError> {
    let catalog = server.catalog.current(&server.store).await?;
    let gc = Gc {
        server,
        catalog: &catalog,
        actions,
    };
    let mut report = Sweep::default();
    for entry in gc.entries(PREDELETION_PK).await? {
        report.queued += 1;
        let step = gc.hold_existing(&entry, &mut report).await;
        report.note(step, &entry.key);
    }
    for entry in gc.entries(TERMINATING_PK).await? {
        report.queued += 1;
        let step = match ObjectRef::from_key(&entry.target) {
            Some(target) => gc.drive(&target, &mut report).await,
            None => gc.dequeue(&entry.key).await,
        };
        report.note(step, &entry.key);
    }
    for key in gc.orphaned().await? {
        report.queued += 1;
        let step = gc.sweep_orphaned(&key, &mut report).await;
        report.note(step, &key);
    }
    Ok(report)
}

impl Sweep {
    fn note(&mut self, step: Result<(), ApiError>, entry: &ItemKey) {
        if let Err(err) = step {
            self.failed += 1;
            tracing::warn!(error = %err, pk = %entry.pk, sk = %entry.sk, "a queued entry's step failed; the next pass tries again");
        }
    }
}

struct Gc<'a> {
    server: &'a ApiServer,
    catalog: &'a Catalog,
    actions: &'a dyn HookActions,
}

/// What a DELETE the gc asked for answered.
enum Deleted {
    /// Gone, or already gone.
    Gone,
    /// Terminating: its finalizers or its contents keep it.
    Terminating(Box<Object>),
    /// The kind keeps it (a context's own namespace): emptied in place.
    Kept,
    /// A rule refused it (its kind's, a policy's): the message.
    Refused(String),
}

impl Gc<'_> {
    /// The entries of a queue of objects: each entry's key and its object's.
    async fn entries(&self, queue: &str) -> Result<Vec<IndexEntry>, ApiError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .server
                .store
                .query_index(queue, "", None, start)
                .await
                .map_err(from_store)?;
            entries.extend(page.items);
            start = page.next;
            if start.is_none() {
                return Ok(entries);
            }
        }
    }

    /// The orphaned owners queued: each entry's key (its sort key the uid).
    async fn orphaned(&self) -> Result<Vec<ItemKey>, ApiError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .server
                .store
                .query_keys(ORPHANED_PK, "", None, start)
                .await
                .map_err(from_store)?;
            keys.extend(page.items);
            start = page.next;
            if start.is_none() {
                return Ok(keys);
            }
        }
    }

    /// One Terminating object: gone (dequeued), or a step further: its
    /// dependents deleted or released as its finalizers ask, a container
    /// emptied and its condition written, and deleted once nothing is left.
    async fn drive(&self, target: &ObjectRef, report: &mut Sweep) -> Result<(), ApiError> {
        let Some(stored) = self.read(target).await? else {
            report.finished += 1;
            return self.dequeue(&target.terminating_key()).await;
        };
        let object = object_of(&stored)?;
        if !deletion::is_terminating(&object) {
            return self.dequeue(&target.terminating_key()).await;
        }
        let has = |finalizer: &str| object.metadata.finalizers.iter().any(|f| f == finalizer);
        if has(FOREGROUND_FINALIZER) && self.foreground(&object, report).await? {
            return self
                .release(target, &stored, FOREGROUND_FINALIZER, report)
                .await;
        }
        if has(ORPHAN_FINALIZER) && self.orphan(&object, report).await? {
            return self
                .release(target, &stored, ORPHAN_FINALIZER, report)
                .await;
        }
        let hooks = object.metadata.finalizers.iter();
        for (finalizer, hook) in hooks.filter_map(|f| Some((f, hook_of(f)?))) {
            if self.run_hook(target, &stored, &object, hook).await? {
                if self.released(target, &stored, finalizer, report).await? {
                    self.forget_attempts(&object, hook).await?;
                }
                return Ok(());
            }
        }
        let kind_strategy = strategy::for_group_kind(&target.group, &target.kind);
        if let Some(finalizer) = kind_strategy.platform_finalizer().filter(|f| has(f)) {
            if self.finalize(target, &object, report).await? {
                return self.release(target, &stored, finalizer, report).await;
            }
        }
        if !kind_strategy.holds_children() {
            report.waiting += 1;
            return Ok(());
        }
        let waiting = Box::pin(self.empty(target, report)).await?;
        self.show(target, &stored, &object, &waiting).await;
        if waiting.is_empty() && object.metadata.finalizers.is_empty() {
            self.delete(target, None, report).await?;
            if self.read(target).await?.is_none() {
                report.finished += 1;
                return Ok(());
            }
        }
        report.waiting += 1;
        Ok(())
    }

    /// The platform's own finalizer of a kind: deletes what its strategy
    /// says goes first; true once all of it is gone.
    async fn finalize(
        &self,
        target: &ObjectRef,
        object: &Object,
        report: &mut Sweep,
    ) -> Result<bool, ApiError> {
        let Some(kind) = self.catalog.preferred(&target.group, &target.kind) else {
            return Ok(false);
        };
        let request = RequestInfo::of_function_path(&http::Method::DELETE, principal(), "gc");
        // What the strategy's deletes do is requests of their own, which
        // record what they raise; nothing is raised here.
        let notices = crate::recorder::Notices::default();
        let cx = StrategyContext {
            server: self.server,
            catalog: self.catalog,
            context: &target.context,
            kind,
            request: &request,
            notices: &notices,
        };
        let strategy = strategy::for_group_kind(&target.group, &target.kind);
        let mut done = true;
        for dependent in strategy.finalized_with(&cx, object).await? {
            done &= matches!(self.delete(&dependent, None, report).await?, Deleted::Gone);
        }
        Ok(done)
    }

    /// Asks the API to delete `target` (`policy`: its propagation, else
    /// Background), as `system:gc`.
    async fn delete(
        &self,
        target: &ObjectRef,
        policy: Option<&str>,
        report: &mut Sweep,
    ) -> Result<Deleted, ApiError> {
        report.deletes += 1;
        let body = policy.map(|p| json!({"propagationPolicy": p}));
        let (status, body) = self.call(http::Method::DELETE, target, None, body).await?;
        match status {
            200 | 202 => match Object::from_value(body) {
                Ok(object) if deletion::is_terminating(&object) => match self.read(target).await? {
                    Some(_) => Ok(Deleted::Terminating(Box::new(object))),
                    None => Ok(Deleted::Gone),
                },
                _ => Ok(Deleted::Gone),
            },
            404 => Ok(Deleted::Gone),
            403 if strategy::for_group_kind(&target.group, &target.kind).holds_children() => {
                Ok(Deleted::Kept)
            }
            400..=499 => {
                let message = body["message"].as_str().unwrap_or_default().to_string();
                tracing::info!(status, %message, name = %target.name, "the gc's delete was refused");
                Ok(Deleted::Refused(message))
            }
            _ => Err(ApiError::internal(format!(
                "the gc's delete of {} {}/{} was answered {status}: {body}",
                target.kind, target.namespace, target.name
            ))),
        }
    }

    /// Removes `finalizer` from a queued object, under the version read
    /// (the last one lets it go). A lost race is the next pass's.
    async fn release(
        &self,
        target: &ObjectRef,
        stored: &Stored,
        finalizer: &str,
        report: &mut Sweep,
    ) -> Result<(), ApiError> {
        self.released(target, stored, finalizer, report)
            .await
            .map(|_| ())
    }

    /// [`Gc::release`], saying whether the finalizer went.
    async fn released(
        &self,
        target: &ObjectRef,
        stored: &Stored,
        finalizer: &str,
        report: &mut Sweep,
    ) -> Result<bool, ApiError> {
        let object = object_of(stored)?;
        let rest: Vec<&String> = object
            .metadata
            .finalizers
            .iter()
            .filter(|f| *f != finalizer)
            .collect();
        let patch = json!({"metadata": {
            "finalizers": rest, "resourceVersion": stored.version.to_string(),
        }});
        report.deletes += 1;
        let (status, body) = self
            .call(http::Method::PATCH, target, None, Some(patch))
            .await?;
        if status != 200 {
            tracing::info!(status, %body, name = %target.name, "a finalizer was not released; next pass");
        }
        report.waiting += 1;
        Ok(status == 200)
    }

    /// One request to the API as `system:gc` about `target` (a PATCH is a
    /// merge patch).
    async fn call(
        &self,
        method: http::Method,
        target: &ObjectRef,
        subresource: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value), ApiError> {
        let kind = self.served(&target.group, &target.kind)?;
        let path = object_path(
            &target.context,
            kind,
            &target.namespace,
            &target.name,
            subresource,
        );
        self.request(method, &path, body).await
    }

    /// The kind the catalog serves as `group`/`kind`.
    fn served(&self, group: &str, kind: &str) -> Result<&KindInfo, ApiError> {
        self.catalog
            .preferred(group, kind)
            .map(|k| &**k)
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "{group}/{kind} is no longer served; its objects cannot be deleted"
                ))
            })
    }

    /// One request to the API as `system:gc` on `path`.
    async fn request(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), ApiError> {
        let content_type = match method {
            http::Method::PATCH => "application/merge-patch+json",
            _ => "application/json",
        };
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            // The manager its writes' fields are recorded as.
            .header("user-agent", "milo-gc")
            .body(body)
            .map_err(|e| ApiError::internal(format!("the gc's request: {e}")))?;
        let response = Box::pin(self.server.handle_as(principal(), request)).await;
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        Ok((response.status().as_u16(), body))
    }

    async fn read(&self, target: &ObjectRef) -> Result<Option<Stored>, ApiError> {
        self.server
            .store
            .get(&target.key())
            .await
            .map_err(from_store)
    }

    async fn dequeue(&self, key: &ItemKey) -> Result<(), ApiError> {
        let delete = Write::Delete {
            key: key.clone(),
            expect: Expect::Anything,
        };
        self.server
            .store
            .write(vec![delete])
            .await
            .map_err(from_store)
    }
}

fn object_of(stored: &Stored) -> Result<Object, ApiError> {
    Object::from_value(stored.object.clone())
        .map_err(|e| ApiError::internal(format!("stored object is corrupt: {e}")))
}

/// The gc function's principal: its own name, no group.
fn principal() -> auth::Principal {
    auth::Principal {
        subject: GC_PRINCIPAL.into(),
        issuer: "platform".into(),
        groups: Vec::new(),
        email: None,
    }
}
