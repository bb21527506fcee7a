//! The change feed (#22): every committed change of a stored object, read
//! from the table's stream (never from the request path), published once
//! to NATS JetStream as a lifecycle event in the format of ../shared/events.
//!
//! - changes.rs: which stream records are an object's change (pure);
//! - places.rs: the project, organization and ancestors an event names;
//! - actors.rs: the User who made a change (`actor_urn`);
//! - publisher.rs: a batch of records published, per object in order;
//! - poller.rs: the stream read outside Lambda, positions kept in NATS;
//! - config.rs (FEED_* env), streams.rs (the stream, made by the deployment).

pub mod actors;
pub mod changes;
pub mod config;
pub mod places;
pub mod poller;
pub mod publisher;
pub mod streams;

pub use config::FeedConfig;
pub use poller::Poller;
pub use publisher::{FeedError, Published, Publisher};
