//! A running watch: each change its collection's subjects carry becomes
//! what the watcher's selectors see of it (domain::watch::event_type), at
//! its position; bookmarks when asked for; a clean end at the deadline.
//! The frames go through a bounded buffer: a reader that falls behind by
//! a whole buffer for a while ([`Pacing`]) is sent an ERROR frame and dropped,
//! so it holds up nothing but itself.

use std::time::Duration;

use bytes::Bytes;
use domain::watch::{self, EventType, Shown};
use domain::ApiError;
use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};

use super::error_frame;
use super::source::Change;
use crate::codec::BodyStream;
use crate::list::Matcher;
use crate::present::Presenter;

/// A watch's pace: how often it sends a bookmark, how many frames it
/// buffers for its reader, and how long a full buffer waits for it.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub bookmark_every: Duration,
    pub buffered_frames: usize,
    pub slow_reader: Duration,
}

impl Default for Pacing {
    /// Bookmarks often enough that an idle connection is never closed by a
    /// proxy's idle timeout; a reader 256 frames behind for 10 s is dropped.
    fn default() -> Pacing {
        Pacing {
            bookmark_every: Duration::from_secs(15),
            buffered_frames: 256,
            slow_reader: Duration::from_secs(10),
        }
    }
}

pub(super) struct Watch {
    pub matcher: Matcher,
    pub presenter: Presenter,
    pub shown: Shown,
    pub bookmarks: bool,
    /// The position of the last change read (or where the watch began).
    pub position: u64,
    /// A bookmark's apiVersion and kind.
    pub bookmark_kind: (String, String),
    pub deadline: Instant,
    pub pacing: Pacing,
}

/// The watch's frames, produced by a task of their own as the changes come.
pub(super) fn stream(
    watch: Watch,
    changes: impl Stream<Item = Result<Change, ApiError>> + Send + 'static,
) -> BodyStream {
    let (frames, buffered) = mpsc::channel(watch.pacing.buffered_frames.max(1));
    let (last, last_frame) = oneshot::channel();
    tokio::spawn(watch.run(Box::pin(changes), frames, last));
    let buffered = futures_util::stream::unfold(buffered, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    });
    let last = futures_util::stream::once(last_frame).filter_map(|frame| async move { frame.ok() });
    Box::pin(buffered.chain(last))
}

/// Why a watch stopped sending.
enum Stop {
    /// The reader went away.
    Closed,
    /// It ends with this ERROR frame.
    Error(Bytes),
}

impl Watch {
    async fn run(
        mut self,
        mut changes: std::pin::Pin<Box<dyn Stream<Item = Result<Change, ApiError>> + Send>>,
        frames: mpsc::Sender<Bytes>,
        last: oneshot::Sender<Bytes>,
    ) {
        let Pacing {
            bookmark_every,
            buffered_frames,
            slow_reader,
        } = self.pacing;
        let mut bookmarks =
            tokio::time::interval_at(Instant::now() + bookmark_every, bookmark_every);
        let stop = loop {
            let frame = tokio::select! {
                _ = tokio::time::sleep_until(self.deadline) => return,
                _ = frames.closed() => return,
                _ = bookmarks.tick(), if self.bookmarks => Some(self.bookmark()),
                change = changes.next() => match change {
                    Some(Ok(change)) => self.frame_of(change),
                    Some(Err(err)) => break Stop::Error(error_frame(&err)),
                    None => break Stop::Error(error_frame(&ApiError::ServiceUnavailable {
                        message: "the watch stream ended; watch again from the last resourceVersion".into(),
                    })),
                },
            };
            let Some(frame) = frame else { continue };
            match timeout(slow_reader, frames.send(frame)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break Stop::Closed,
                Err(_) => break Stop::Error(error_frame(&ApiError::ServiceUnavailable {
                    message: format!(
                        "the watch was closed: its reader fell {buffered_frames} events behind for {} s; watch again from the last resourceVersion",
                        slow_reader.as_secs()
                    ),
                })),
            }
        };
        if let Stop::Error(frame) = stop {
            tracing::info!("a watch ends with an error");
            let _ = last.send(frame);
        }
    }

    /// What the watcher sees of `change`: nothing when its selectors see
    /// neither side, or when the initial events showed it already.
    fn frame_of(&mut self, change: Change) -> Option<Bytes> {
        self.position = change.sequence;
        let before = match change.kind {
            watch::ChangeKind::Create => false,
            watch::ChangeKind::Update => change
                .previous
                .as_ref()
                .is_some_and(|p| self.matcher.matches(p)),
            watch::ChangeKind::Delete => self.matcher.matches(&change.object),
        };
        let after =
            change.kind != watch::ChangeKind::Delete && self.matcher.matches(&change.object);
        let event = watch::event_type(change.kind, before, after)?;
        if self.shown.already(change.kind, &change.object) {
            return None;
        }
        let version = change.object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rv = watch::event_resource_version(&version, change.sequence);
        let object = self.presenter.present(change.object, rv);
        Some(Bytes::from(watch::frame(event, &object)))
    }

    fn bookmark(&self) -> Bytes {
        let (api_version, kind) = &self.bookmark_kind;
        let object = watch::bookmark(api_version, kind, self.position, false);
        Bytes::from(watch::frame(EventType::Bookmark, &object))
    }
}
