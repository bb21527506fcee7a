//! The HTTP servers of the local Lambda emulator, as a library too: the
//! conformance runner serves the suites' fixed HTTPS address with the same
//! listener and TLS set-up (tests/conformance/src/proxy.rs).

pub mod listener;
