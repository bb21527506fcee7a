//! The publisher outside Lambda (`events --publish`, make dev): reads the
//! table's stream itself, shard by shard, a parent shard to its end before
//! its children, and keeps each shard's position in a JetStream key-value
//! bucket, beside what it published: a NATS whose data is reset forgets
//! the position with the messages, and the shards are published again.
//!
//! A position is recorded only after its batch is stored, so a poller
//! stopped in between publishes the batch again when it starts, and the
//! stream's duplicate window drops what it already holds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use store::stream::{Shard, TableStream};

use crate::publisher::{FeedError, Published, Publisher};

/// How long an idle poller waits before it reads the stream again.
const IDLE: Duration = Duration::from_millis(100);
/// How often the shards are listed again (a shard splits about every four
/// hours on AWS; locally there is one).
const SHARDS_EVERY: Duration = Duration::from_secs(5);
/// How long it waits after a failure (NATS or DynamoDB away).
const BACK_OFF: Duration = Duration::from_secs(1);
/// A shard read to its end (closed): its children come next.
const DONE: &str = "done";

pub struct Poller {
    publisher: Publisher,
    stream: TableStream,
    positions: kv::Store,
    /// What is kept between passes; dropped after a failure, so the next
    /// pass starts again from the recorded positions.
    state: tokio::sync::Mutex<State>,
}

/// Where a shard's reading resumes.
#[derive(Debug, Clone)]
enum Position {
    Start,
    After(String),
    Done,
}

/// The shards as last listed, each one's position, and the iterator an
/// idle shard's last read returned (so an idle pass is one GetRecords).
#[derive(Default)]
struct State {
    shards: Vec<Shard>,
    listed: Option<Instant>,
    positions: HashMap<String, Position>,
    iterators: HashMap<String, String>,
}

impl Poller {
    pub async fn new(publisher: Publisher, stream: TableStream) -> Result<Poller, FeedError> {
        let bucket = publisher.config().checkpoints.clone();
        let js = publisher.jetstream();
        let positions = match js.get_key_value(&bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.clone(),
                    history: 1,
                    ..Default::default()
                })
                .await
                .map_err(|e| FeedError::Checkpoint(format!("creating bucket {bucket}: {e}")))?,
        };
        Ok(Poller {
            publisher,
            stream,
            positions,
            state: tokio::sync::Mutex::new(State::default()),
        })
    }

    /// Publishes until the process stops, riding out failures.
    pub async fn run(&self) -> ! {
        loop {
            match self.pass().await {
                Ok(report) if report == Published::default() => tokio::time::sleep(IDLE).await,
                Ok(report) => tracing::info!(?report, "published"),
                Err(err) => {
                    tracing::warn!(%err, "publishing stopped; trying again");
                    tokio::time::sleep(BACK_OFF).await;
                }
            }
        }
    }

    /// One read of every shard that is due, from its position to its end.
    pub async fn pass(&self) -> Result<Published, FeedError> {
        let mut state = self.state.lock().await;
        let result = self.pass_with(&mut state).await;
        if result.is_err() {
            *state = State::default();
        }
        result
    }

    async fn pass_with(&self, state: &mut State) -> Result<Published, FeedError> {
        if state.listed.is_none_or(|at| at.elapsed() >= SHARDS_EVERY) {
            state.shards = self.stream.shards().await?;
            state.listed = Some(Instant::now());
        }
        for shard in &state.shards {
            if !state.positions.contains_key(&shard.id) {
                let position = self.position(&shard.id).await?;
                state.positions.insert(shard.id.clone(), position);
            }
        }
        let mut total = Published::default();
        for shard in state.shards.clone() {
            if !due(&shard, &state.positions) {
                continue;
            }
            let report = self.read_shard(&shard, state).await?;
            total.stored += report.stored;
            total.duplicates += report.duplicates;
            total.skipped += report.skipped;
        }
        Ok(total)
    }

    async fn read_shard(&self, shard: &Shard, state: &mut State) -> Result<Published, FeedError> {
        let mut total = Published::default();
        let iterator = match state.iterators.remove(&shard.id) {
            Some(iterator) => Some(iterator),
            None => match state.positions.get(&shard.id) {
                Some(Position::Done) => return Ok(total),
                Some(Position::After(sequence)) => {
                    self.stream.iterator(&shard.id, Some(sequence)).await?
                }
                Some(Position::Start) | None => self.stream.iterator(&shard.id, None).await?,
            },
        };
        let Some(mut iterator) = iterator else {
            return Ok(total);
        };
        loop {
            let page = self.stream.records(&iterator).await?;
            if let Some(last) = page.records.last() {
                let report = self.publisher.publish(&page.records).await?;
                self.record(&shard.id, &last.sequence).await?;
                state
                    .positions
                    .insert(shard.id.clone(), Position::After(last.sequence.clone()));
                total.stored += report.stored;
                total.duplicates += report.duplicates;
                total.skipped += report.skipped;
            }
            match page.next {
                None => {
                    self.record(&shard.id, DONE).await?;
                    state.positions.insert(shard.id.clone(), Position::Done);
                    return Ok(total);
                }
                Some(next) if page.records.is_empty() => {
                    state.iterators.insert(shard.id.clone(), next);
                    return Ok(total);
                }
                Some(next) => iterator = next,
            }
        }
    }

    async fn position(&self, shard: &str) -> Result<Position, FeedError> {
        let value = self
            .positions
            .get(shard)
            .await
            .map_err(|e| FeedError::Checkpoint(format!("reading {shard}: {e}")))?;
        Ok(match value.as_deref().map(String::from_utf8_lossy) {
            None => Position::Start,
            Some(value) if value == DONE => Position::Done,
            Some(sequence) => Position::After(sequence.into_owned()),
        })
    }

    async fn record(&self, shard: &str, position: &str) -> Result<(), FeedError> {
        self.positions
            .put(shard, position.to_string().into())
            .await
            .map(|_| ())
            .map_err(|e| FeedError::Checkpoint(format!("recording {shard}: {e}")))
    }
}

/// Whether `shard` is read now: not done, and its parent (when the stream
/// still holds it) read to its end, so an item's changes keep their order
/// across a shard's split.
fn due(shard: &Shard, positions: &HashMap<String, Position>) -> bool {
    if matches!(positions.get(&shard.id), Some(Position::Done)) {
        return false;
    }
    match shard
        .parent
        .as_ref()
        .and_then(|parent| positions.get(parent))
    {
        None | Some(Position::Done) => true,
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>) -> Shard {
        Shard {
            id: id.into(),
            parent: parent.map(str::to_string),
        }
    }

    #[test]
    fn a_child_shard_waits_for_its_parent_to_be_read_to_its_end() {
        let mut positions = HashMap::from([
            ("a".to_string(), Position::After("5".into())),
            ("b".to_string(), Position::Start),
        ]);
        let child = shard("b", Some("a"));
        assert!(due(&shard("a", None), &positions));
        assert!(!due(&child, &positions));
        positions.insert("a".into(), Position::Done);
        assert!(due(&child, &positions));
        assert!(!due(&shard("a", None), &positions));
        // A parent trimmed from the stream holds nothing back.
        assert!(due(&shard("c", Some("gone")), &positions));
    }
}
