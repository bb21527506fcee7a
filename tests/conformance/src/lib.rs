//! Milo's Chainsaw suites, run as written against the local stack.
//!
//! The pure parts (unit-tested without I/O): [`jmespath`] (the expression
//! language), [`assertion`] (assertion trees), [`resources`] (documents,
//! templating), [`model`] (the Test and Configuration documents) and
//! [`manifest`] (expected results and the verdict). The I/O parts:
//! [`client`] (a cluster from a kubeconfig), [`engine`] (one test, as
//! Chainsaw runs it) and [`proxy`] (the suites' fixed HTTPS address and
//! static tokens, in front of the stack). The binary is `conformance`.

pub mod assertion;
pub mod client;
pub mod engine;
pub mod jmespath;
pub mod manifest;
pub mod model;
pub mod proxy;
pub mod resources;
