//! Event recording (#22): the notices a request raised (a quota denial,
//! an admission policy's denial or warning) or a gc step raised (a
//! pre-deletion hook that failed), written as Events once the answer is
//! decided and never changing it: a notice that cannot be recorded is
//! logged. What an Event says is domain::event_record's; here it is
//! placed, counted and kept for the retention.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::event_record::{core_event, events_api_event, Notice, Occurrence};
use domain::kinds;
use domain::ApiError;
use serde_json::{json, Value};
use store::{Context, Expect, ObjectItemFields, ObjectRef, StoreError, Write};

use crate::codec::Response;
use crate::placement::{builtin_ref, is_hierarchy_kind};
use crate::{ApiServer, Call};

/// How long an Event is kept when `EVENT_RETENTION_SECONDS` does not say
/// (Kubernetes' `--event-ttl`).
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(3600);

/// How often a repeat is counted again when another instance counted the
/// same Event at the same moment; past that, the count is one short.
const COUNT_ATTEMPTS: usize = 3;

/// The notices of one request, in the context each is recorded in.
#[derive(Default)]
pub(crate) struct Notices(Mutex<Vec<(Context, Notice)>>);

impl Notices {
    pub fn raise(&self, context: &Context, notice: Notice) {
        if let Ok(mut notices) = self.0.lock() {
            notices.push((context.clone(), notice));
        }
    }

    pub fn take(&self) -> Vec<(Context, Notice)> {
        self.0
            .lock()
            .map(|mut notices| std::mem::take(&mut *notices))
            .unwrap_or_default()
    }
}

/// The retention from `EVENT_RETENTION_SECONDS`, if set.
pub(crate) fn retention_from_env() -> Result<Duration, String> {
    match std::env::var("EVENT_RETENTION_SECONDS") {
        Ok(text) => match text.parse::<u64>() {
            Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
            _ => Err(format!(
                "EVENT_RETENTION_SECONDS is not a positive number of seconds: {text:?}"
            )),
        },
        Err(_) => Ok(DEFAULT_EVENT_RETENTION),
    }
}

impl ApiServer {
    /// The same server keeping Events for `retention`.
    pub fn with_event_retention(mut self, retention: Duration) -> Self {
        self.event_retention = retention;
        self
    }

    /// When an Event written at `now` expires (the table's TTL attribute).
    pub(crate) fn event_expiry(&self, now: DateTime<Utc>) -> i64 {
        let retention = i64::try_from(self.event_retention.as_secs()).unwrap_or(i64::MAX);
        now.timestamp().saturating_add(retention)
    }

    /// Records what a request leaves for a person to see: the notices its
    /// steps raised, and its refusal's (a quota denial names the consumers
    /// without room). A dry run records nothing, as it writes nothing.
    pub(crate) async fn record_request(
        &self,
        call: &Call<'_>,
        answer: &Result<Response, ApiError>,
    ) {
        let mut notices = call.notices.take();
        if let Err(ApiError::QuotaExceeded { exceeded, object }) = answer {
            let refused = match &call.request.resource {
                Some(resource) => format!("{} {object:?}", resource.plural),
                None => format!("{object:?}"),
            };
            let verb = call.request.verb.as_str();
            notices.extend(exceeded.denials.iter().map(|denial| {
                let notice = Notice::quota_exceeded(verb, &refused, denial);
                (call.request.context.clone(), notice)
            }));
        }
        if !call.query.dry_run {
            self.record(notices).await;
        }
    }

    /// Records each notice as its Events; failures are logged, not
    /// returned: the request they came from is answered already.
    pub(crate) async fn record(&self, notices: Vec<(Context, Notice)>) {
        for (context, notice) in notices {
            if let Err(err) = self.record_one(context, notice).await {
                tracing::warn!(error = %err, "an event could not be recorded");
            }
        }
    }

    async fn record_one(&self, context: Context, mut notice: Notice) -> Result<(), StoreError> {
        let context = self.home(context, &mut notice).await?;
        let name = notice.event_name();
        let namespace = notice.namespace().to_string();
        let core = builtin_ref(&context, &kinds::EVENT, &namespace, &name).key();
        let twin = builtin_ref(&context, &kinds::EVENTS_API_EVENT, &namespace, &name).key();
        for _ in 0..COUNT_ATTEMPTS {
            let now = Utc::now();
            let previous = self.store.get(&core).await?;
            let seen = Occurrence::next(previous.as_ref().map(|p| &p.object), now);
            let (version, expect, uid) = match &previous {
                Some(p) => (
                    p.version + 1,
                    Expect::Version(p.version),
                    p.object["metadata"]["uid"].clone(),
                ),
                // An expired Event may still hold the item: replaced.
                None => (1, Expect::Anything, json!(uuid::Uuid::new_v4().to_string())),
            };
            let stored = |mut doc: Value| {
                let metadata = &mut doc["metadata"];
                metadata["uid"] = uid.clone();
                metadata["resourceVersion"] = json!(version.to_string());
                doc
            };
            // The platform writes them: no writer, so no actor in the feed.
            let fields = ObjectItemFields {
                writer: None,
                expires_at: Some(self.event_expiry(now)),
            };
            let writes = vec![
                Write::PutObjectWith {
                    key: core.clone(),
                    object: stored(core_event(&notice, &seen)),
                    version,
                    expect,
                    fields: fields.clone(),
                },
                Write::PutObjectWith {
                    key: twin.clone(),
                    object: stored(events_api_event(&notice, &seen)),
                    version,
                    expect: Expect::Anything,
                    fields,
                },
            ];
            match self.store.write(writes).await {
                Err(StoreError::Conflict { .. } | StoreError::TransactionConflict) => continue,
                other => return other,
            }
        }
        Ok(())
    }

    /// Where a notice is recorded, its object's uid filled in where the
    /// object exists (kubectl describe selects by uid; a step that raised
    /// it before a create committed did not know it). A hierarchy object's
    /// goes where it is described: an organization's in the platform, a
    /// folder's or project's in its organization's control plane.
    async fn home(&self, context: Context, notice: &mut Notice) -> Result<Context, StoreError> {
        let involved = &mut notice.involved;
        let (group, _) = kinds::split_api_version(&involved.api_version);
        let hierarchy = is_hierarchy_kind(group, &involved.kind);
        if !hierarchy && !involved.uid.is_empty() {
            return Ok(context);
        }
        let object = ObjectRef {
            context: if hierarchy {
                Context::Platform
            } else {
                context.clone()
            },
            group: group.to_string(),
            kind: involved.kind.clone(),
            namespace: involved.namespace.clone(),
            name: involved.name.clone(),
        };
        let Some(stored) = self.store.get(&object.key()).await? else {
            return Ok(context);
        };
        let metadata = &stored.object["metadata"];
        if involved.uid.is_empty() {
            involved.uid = metadata["uid"].as_str().unwrap_or_default().to_string();
        }
        if !hierarchy {
            return Ok(context);
        }
        if involved.kind == kinds::ORGANIZATION.kind {
            return Ok(Context::Platform);
        }
        let organization = metadata["labels"][kinds::ORGANIZATION_LABEL].as_str();
        Ok(organization.map_or(context, |org| Context::Organization(org.to_string())))
    }
}
