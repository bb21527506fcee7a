//! Watch (#22): `?watch=true` on every list path of every context, as
//! Kubernetes serves it. The change feed's publisher puts every change on
//! its collection's subject of the watch stream (domain::watch); a watch
//! reads its collection's subjects from a position on (source.rs) and
//! sends what its selectors see of each change (events.rs). Nothing is
//! kept per collection or per project, and an idle watch reads nothing.
//!
//! Where it starts (domain::watch::Start): "" or "0", the current state as
//! ADDED events (with `sendInitialEvents`, ended by the bookmark WatchList
//! clients wait for), then every change from the position read before
//! that state was; a list's, bookmark's or event's position, the changes
//! after it (410 once the stream no longer holds them); a GET's object
//! counter, for a watch of that one object, its current state if newer.

mod events;
pub mod source;

use bytes::Bytes;
use domain::kinds::KindInfo;
use domain::watch::{self, EventType, Shown, Start, WatchOptions, WatchParameters};
use domain::ApiError;
use futures_util::StreamExt;
use serde_json::json;
use store::Context;

use crate::authorization::Access;
use crate::codec::Response;
use crate::list::{self, Matcher};
use crate::placement::object_ref;
use crate::present::Presenter;
use crate::{ApiServer, Call};

pub use source::{Pacing, WatchSource};

/// Objects read per page of a watch's initial events.
const INITIAL_PAGE: i32 = 500;

/// A list path watched: `(context, kind, namespace)` as the list would read.
pub(crate) async fn serve(
    server: &ApiServer,
    collection: (&Context, &KindInfo, Option<&str>),
    call: &Call<'_>,
    access: &Access,
) -> Result<Response, ApiError> {
    let (context, kind, namespace) = collection;
    let options = options(call)?;
    let matcher = Matcher::new(collection, call, access)?;
    let Some(source) = server.watch.as_ref() else {
        return Err(ApiError::MethodNotAllowed {
            message: "watch needs the change feed's stream, and this server has no NATS_URL; poll with list instead".into(),
        });
    };
    let stored = object_ref(context, kind, "", "").collection();
    let filter = watch::filter(
        source.prefix(),
        &stored.context.key_part(),
        &stored.group,
        &stored.kind,
        namespace,
    );
    let begin = Begin {
        server,
        collection,
        call,
        access,
        presenter: Presenter::new(server, kind, call).await?,
        shown: Shown::default(),
    };
    let (initial, after, begin) = begin.at(&options, &matcher, source.bounds().await?).await?;
    let changes = source.changes(filter, after).await?;
    let limit = options
        .timeout
        .unwrap_or(source.limit())
        .min(source.limit());
    let watch = events::Watch {
        matcher,
        presenter: begin.presenter,
        shown: begin.shown,
        bookmarks: options.bookmarks,
        position: after,
        bookmark_kind: (kind.api_version(), kind.kind.clone()),
        deadline: tokio::time::Instant::now() + limit,
        pacing: source.pacing(),
    };
    let stream = futures_util::stream::iter(initial).chain(events::stream(watch, changes));
    Ok(Response::streaming("application/json", Box::pin(stream)))
}

fn options(call: &Call<'_>) -> Result<WatchOptions, ApiError> {
    let get = |name: &str| {
        call.query
            .extra
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    };
    WatchOptions::parse(&WatchParameters {
        resource_version: get("resourceVersion"),
        resource_version_match: get("resourceVersionMatch"),
        allow_watch_bookmarks: get("allowWatchBookmarks"),
        send_initial_events: get("sendInitialEvents"),
        timeout_seconds: get("timeoutSeconds"),
    })
    .map_err(ApiError::bad_request)
}

/// How a watch begins: what it sends before the stream's changes.
struct Begin<'a> {
    server: &'a ApiServer,
    collection: (&'a Context, &'a KindInfo, Option<&'a str>),
    call: &'a Call<'a>,
    access: &'a Access,
    presenter: Presenter,
    /// What the initial events showed.
    shown: Shown,
}

impl<'a> Begin<'a> {
    /// The frames before the stream's, and the position the stream is read
    /// after; a position the stream no longer holds is 410, one it has not
    /// reached 504.
    async fn at(
        mut self,
        options: &WatchOptions,
        matcher: &Matcher,
        bounds: source::Bounds,
    ) -> Result<(Vec<Bytes>, u64, Begin<'a>), ApiError> {
        let (_, kind, _) = self.collection;
        let frames = match options.start {
            Start::Now => {
                let mut frames = self.current_state(bounds.last).await?;
                if options.send_initial_events {
                    let end = watch::bookmark(&kind.api_version(), &kind.kind, bounds.last, true);
                    frames.push(Bytes::from(watch::frame(EventType::Bookmark, &end)));
                }
                frames
            }
            Start::After(at) if at > bounds.last => {
                return Err(ApiError::TooLargeResourceVersion {
                    requested: watch::position_resource_version(at),
                    current: watch::position_resource_version(bounds.last),
                })
            }
            Start::After(at) if at + 1 < bounds.first => {
                return Err(ApiError::Gone {
                    message: format!(
                        "too old resource version: {} (the watch stream holds from {}): list again",
                        watch::position_resource_version(at),
                        watch::position_resource_version(bounds.first - 1)
                    ),
                })
            }
            Start::After(at) => return Ok((Vec::new(), at, self)),
            Start::ObjectVersion(version) => {
                let Some(name) = matcher.named() else {
                    return Err(ApiError::Gone {
                        message: format!(
                            "resourceVersion {version} is one object's; watch a collection from a list's resourceVersion, or one object with fieldSelector=metadata.name=..."
                        ),
                    });
                };
                self.since_version((name, version), bounds.last).await?
            }
        };
        Ok((frames, bounds.last, self))
    }

    /// Every object the list path selects now, as ADDED events at `at`.
    async fn current_state(&mut self, at: u64) -> Result<Vec<Bytes>, ApiError> {
        let mut frames = Vec::new();
        let mut after = None;
        loop {
            let (objects, next) = list::selected(
                self.server,
                self.collection,
                self.call,
                self.access,
                INITIAL_PAGE,
                after,
            )
            .await?;
            for object in objects {
                self.shown.record(&object);
                frames.push(self.frame(EventType::Added, object, at));
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => return Ok(frames),
            }
        }
    }

    /// One object watched from its own counter `version` (a GET's): its
    /// current state when newer (MODIFIED), or its removal (DELETED).
    async fn since_version(
        &mut self,
        (name, version): (&str, u64),
        at: u64,
    ) -> Result<Vec<Bytes>, ApiError> {
        let (objects, _) = list::selected(
            self.server,
            self.collection,
            self.call,
            self.access,
            1,
            None,
        )
        .await?;
        let Some(object) = objects.into_iter().next() else {
            let (_, kind, namespace) = self.collection;
            let gone = json!({
                "apiVersion": kind.api_version(), "kind": kind.kind,
                "metadata": {"name": name, "namespace": namespace.unwrap_or_default(),
                             "resourceVersion": version.to_string()},
            });
            return Ok(vec![self.frame(EventType::Deleted, gone, at)]);
        };
        let current = watch::object_version(
            object["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default(),
        );
        if current.is_none_or(|current| current <= version) {
            return Ok(Vec::new());
        }
        self.shown.record(&object);
        Ok(vec![self.frame(EventType::Modified, object, at)])
    }

    fn frame(&self, event: EventType, object: serde_json::Value, at: u64) -> Bytes {
        let counter = object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        let rv = watch::event_resource_version(counter, at);
        Bytes::from(watch::frame(event, &self.presenter.present(object, rv)))
    }
}

/// The object of an ERROR frame: the Status of `err`.
fn error_frame(err: &ApiError) -> Bytes {
    Bytes::from(watch::frame(EventType::Error, &err.status()))
}
