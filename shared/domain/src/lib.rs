//! The functional core of the platform: everything that decides, nothing that
//! does I/O. Adapters (store, HTTP, NATS) call into these modules.

pub mod admission;
pub mod apply;
pub mod builtin;
pub mod catalog;
pub mod cel_common;
pub mod change_event;
pub mod context_policy;
pub mod continue_token;
pub mod core_kinds;
pub mod crd;
pub mod deletion;
pub mod error;
pub mod event_record;
pub mod field_selector;
pub mod hierarchy;
pub mod iam;
pub mod ingest;
pub mod jsonpath;
pub mod kinds;
pub mod label_selector;
pub mod lanes;
pub mod lien;
pub mod lifecycle;
pub mod metadata_rules;
pub mod object;
pub mod patch;
pub mod predeletion;
pub mod protobuf;
pub mod quota;
pub mod request_options;
pub mod schema;
pub mod suspension;
pub mod table;
pub mod watch;

pub use error::{ApiError, Cause};
