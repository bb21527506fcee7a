//! What the two example hooks share: reading the platform's
//! `PreDeletionHookRequest` and setting up logs.

use std::io::Write;

use serde_json::Value;

/// A `PreDeletionHookRequest` as the platform sends it to a hook's action.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRequest {
    pub hook: String,
    /// The whole object as stored.
    pub object: Value,
    pub uid: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

impl HookRequest {
    /// Reads a request body; the error says what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<HookRequest, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        if value["kind"] != "PreDeletionHookRequest" {
            return Err("kind must be PreDeletionHookRequest".to_string());
        }
        let object = &value["object"];
        if !object.is_object() {
            return Err("object must be an object".to_string());
        }
        let metadata = &object["metadata"];
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        let uid = text(&metadata["uid"]);
        // The archive names its files after the uid, so it must not be able
        // to name a path elsewhere.
        if uid.is_empty() || !uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("object.metadata.uid must be a non-empty uid (letters, digits, -)".into());
        }
        Ok(HookRequest {
            hook: text(&value["hook"]),
            uid,
            kind: text(&object["kind"]),
            name: text(&metadata["name"]),
            namespace: metadata["namespace"].as_str().map(str::to_string),
            object: object.clone(),
        })
    }

    /// `namespace/name`, or the name alone for a cluster-scoped object.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Logs go to stderr (`RUST_LOG`, default `info`): stdout carries the
/// lines a caller or test waits for.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Prints one line to stdout, flushed so a waiting reader sees it now.
/// A stdout that is gone (the reader exited) does not stop the service.
pub fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        tracing::debug!("cannot write to stdout: {e}");
    }
}
