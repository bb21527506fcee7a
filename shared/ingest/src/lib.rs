//! The events function's adapters around `domain::ingest` (issue 6): the
//! graph in DynamoDB ([`graph`]), the JetStream consumer ([`consumer`]) and
//! the one handler core both its entry points share ([`handler`]).
//!
//! Flow of one message: [`handler::handle`] decodes it, keeps the relations
//! the RelationshipType objects define, and has [`graph::Graph::ingest`]
//! plan and write it in one transaction, once the function's principal
//! may ([`authority`]); [`handler::settle`] turns the
//! outcome into ack, dead letter (then ack) or nak with back-off.

pub mod authority;
pub mod config;
#[cfg(feature = "consumer")]
pub mod consumer;
pub mod graph;
pub mod handler;
#[cfg(feature = "consumer")]
pub mod streams;

pub use authority::Authority;
pub use config::{ConsumerConfig, ConsumerConfigError};
#[cfg(feature = "consumer")]
pub use consumer::{Consumer, ConsumerError, DrainReport};
pub use graph::{relationship_writes, Graph, GraphError, Ingested, Loaded};
pub use handler::{apply, decode_message, handle, settle, Action, Outcome};
