//! Pre-deletion hooks in the gc (#21).
//!
//! - A hook just created is queued (`gc#predeletion`): its finalizer goes
//!   on every object that already matches, found through the type index,
//!   each by a version-checked patch; the entry goes once all are held.
//! - A Terminating object holding a hook's finalizer has the hook's action
//!   run. Success lets the finalizer go; a failure is recorded (how many,
//!   when the next is due, in the gc's own item beside the object), shown
//!   as the object's `PreDeletionHooks` condition (and annotation, for a
//!   kind without a status), and tried again after
//!   the hook's back-off, until `failurePolicy: Ignore` gives up. A
//!   success is recorded before the finalizer is released, so a release
//!   that loses a race does not run the action twice.

use domain::event_record::{Involved, Notice};
use domain::object::Object;
use domain::predeletion::Hook;
use domain::ApiError;
use serde_json::{json, Value};
use store::keys::hook_attempts_key;
use store::{Expect, IndexEntry, ObjectRef, Stored, Write};

use super::{object_of, Gc, Sweep};
use crate::errors::from_store;

/// Objects read from the type index per page.
const PAGE: i32 = 100;

/// The gc's record of one hook's runs for one object.
#[derive(Default)]
struct Attempts {
    failures: u32,
    /// RFC 3339; none before the first failure.
    next_at: Option<String>,
    succeeded: bool,
}

impl Gc<'_> {
    /// Puts a queued hook's finalizer on every object that matches it and
    /// lacks it, then dequeues the hook.
    pub(super) async fn hold_existing(
        &self,
        entry: &IndexEntry,
        report: &mut Sweep,
    ) -> Result<(), ApiError> {
        let stored = self
            .server
            .store
            .get(&entry.target)
            .await
            .map_err(from_store)?;
        let hook = stored
            .as_ref()
            .map(|s| crate::predeletion_cache::parse(&s.object));
        let Some(Ok(hook)) = hook else {
            return self.dequeue(&entry.key).await;
        };
        let mut complete = true;
        for (group, kind) in &hook.resources {
            complete &= self.hold_kind(&hook, group, kind, report).await?;
        }
        match complete {
            true => self.dequeue(&entry.key).await,
            false => {
                report.waiting += 1;
                Ok(())
            }
        }
    }

    /// One kind's objects: true when every match holds the finalizer.
    async fn hold_kind(
        &self,
        hook: &Hook,
        group: &str,
        kind: &str,
        report: &mut Sweep,
    ) -> Result<bool, ApiError> {
        let finalizer = hook.finalizer();
        let mut complete = true;
        let mut start = None;
        loop {
            let page = self
                .server
                .store
                .query_type(group, kind, PAGE, start)
                .await
                .map_err(from_store)?;
            for stored in &page.items {
                let object = object_of(stored)?;
                let held = object.metadata.finalizers.contains(&finalizer);
                let terminating = domain::deletion::is_terminating(&object);
                if held || terminating || !hook.matches(group, kind, &object.metadata.labels) {
                    continue;
                }
                let Some(target) = ObjectRef::from_key(&stored.key) else {
                    continue;
                };
                let mut finalizers = object.metadata.finalizers.clone();
                finalizers.push(finalizer.clone());
                let patch = json!({"metadata": {
                    "finalizers": finalizers, "resourceVersion": stored.version.to_string(),
                }});
                report.deletes += 1;
                let (status, body) = self
                    .call(http::Method::PATCH, &target, None, Some(patch))
                    .await?;
                if status != 200 {
                    tracing::info!(status, %body, name = %target.name, hook = %hook.name, "not held yet; next pass");
                    complete = false;
                }
            }
            start = page.next;
            if start.is_none() {
                return Ok(complete);
            }
        }
    }

    /// Runs hook `name` for a Terminating object (or not yet: its back-off);
    /// true when its finalizer may go.
    pub(super) async fn run_hook(
        &self,
        target: &ObjectRef,
        stored: &Stored,
        object: &Object,
        name: &str,
    ) -> Result<bool, ApiError> {
        let store = &self.server.store;
        let mut hooks = self.server.pre_deletion.current(store).await?;
        if !hooks.iter().any(|h| h.name == name) {
            // A hook written since this instance last looked holds objects
            // already: only the stamp read now can say it is gone.
            hooks = self.server.pre_deletion.reload_if_changed(store).await?;
        }
        let Some(hook) = hooks.iter().find(|h| h.name == name) else {
            tracing::info!(hook = name, name = %target.name, "the hook is gone; its finalizer goes");
            return Ok(true);
        };
        let uid = &object.metadata.uid;
        let attempts = self.attempts(uid, name).await?;
        let now = chrono::Utc::now();
        let due =
            |at: &String| chrono::DateTime::parse_from_rfc3339(at).map_or(true, |at| at <= now);
        if attempts.succeeded {
            return Ok(true);
        }
        if !attempts.next_at.as_ref().is_none_or(due) {
            return Ok(false);
        }
        let request = hook.request(&stored.object);
        let outcome = self.actions.run(&hook.action, &request).await;
        let failures = attempts.failures + u32::from(outcome.is_err());
        let next_at = now + hook.delay_after(failures);
        let record = |succeeded: bool| Write::PutItem {
            key: hook_attempts_key(uid, name),
            attributes: vec![
                ("failures".into(), failures.to_string()),
                ("nextAt".into(), rfc3339(next_at)),
                ("succeeded".into(), succeeded.to_string()),
            ],
        };
        match outcome {
            Ok(()) => {
                self.write(record(true)).await?;
                Ok(true)
            }
            Err(error) if hook.gives_up(failures) => {
                tracing::warn!(hook = name, name = %target.name, %error, failures, "the hook failed; failurePolicy Ignore lets the object go");
                self.write(record(true)).await?;
                self.record_failure(target, object, name, &error.to_string(), true)
                    .await;
                Ok(true)
            }
            Err(error) => {
                tracing::info!(hook = name, name = %target.name, %error, failures, "the hook failed; tried again after its back-off");
                self.write(record(false)).await?;
                self.record_failure(target, object, name, &error.to_string(), false)
                    .await;
                let condition = hook.failure_condition(failures, &error, &rfc3339(now));
                self.show_failure(target, object, hook, &condition).await;
                Ok(false)
            }
        }
    }

    /// Forgets an object's record of a hook once its finalizer went.
    pub(super) async fn forget_attempts(
        &self,
        object: &Object,
        name: &str,
    ) -> Result<(), ApiError> {
        let forget = Write::Delete {
            key: hook_attempts_key(&object.metadata.uid, name),
            expect: Expect::Anything,
        };
        self.write(forget).await
    }

    async fn attempts(&self, uid: &str, name: &str) -> Result<Attempts, ApiError> {
        let item = self
            .server
            .store
            .plain_item(&hook_attempts_key(uid, name))
            .await
            .map_err(from_store)?;
        let Some(item) = item else {
            return Ok(Attempts::default());
        };
        Ok(Attempts {
            failures: item
                .get("failures")
                .and_then(|f| f.parse().ok())
                .unwrap_or(0),
            next_at: item.get("nextAt").cloned(),
            succeeded: item.get("succeeded").is_some_and(|s| s == "true"),
        })
    }

    async fn write(&self, write: Write) -> Result<(), ApiError> {
        self.server
            .store
            .write(vec![write])
            .await
            .map_err(from_store)
    }

    /// Leaves a hook's failure for a person to see: an Event on the
    /// object (`kubectl describe` shows it).
    async fn record_failure(
        &self,
        target: &ObjectRef,
        object: &Object,
        hook: &str,
        error: &str,
        gave_up: bool,
    ) {
        let involved = Involved {
            api_version: object.api_version.clone(),
            kind: target.kind.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            uid: object.metadata.uid.clone(),
        };
        let notice = Notice::hook_failed(involved, hook, error, gave_up);
        self.server
            .record(vec![(target.context.clone(), notice)])
            .await;
    }

    /// Shows a hook's failure on the object it holds: as a condition in
    /// its `/status` where it has one; else by one merge patch, as a
    /// condition where its schema keeps a status and as the annotation
    /// named as the hook's finalizer (a ConfigMap has no status). A write
    /// that fails is the next attempt's to make.
    async fn show_failure(
        &self,
        target: &ObjectRef,
        object: &Object,
        hook: &Hook,
        condition: &Value,
    ) {
        let Some(kind) = self.catalog.preferred(&target.group, &target.kind) else {
            return;
        };
        let Some(status) = domain::deletion::with_condition(object.status(), condition) else {
            return;
        };
        let (subresource, patch) = match kind.status_subresource {
            true => (Some("status"), json!({"status": status})),
            false => (
                None,
                json!({
                    "metadata": {"annotations": {hook.finalizer(): condition["message"]}},
                    "status": status,
                }),
            ),
        };
        match self
            .call(http::Method::PATCH, target, subresource, Some(patch))
            .await
        {
            Ok((200, _)) => {}
            Ok((status, body)) => {
                tracing::info!(status, %body, name = %target.name, "the hook's failure was not shown")
            }
            Err(err) => tracing::warn!(error = %err, "the hook's failure was not shown"),
        }
    }
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
