//! notify-hook: an example pre-deletion hook with a NATS action. It
//! announces every object the platform is about to delete and, if asked,
//! passes the request on so that another service hears of it.
//!
//! For each request on the subject it prints
//! `deleting <kind> <namespace>/<name> (uid <uid>, hook <hook>)` (the name
//! alone for a cluster-scoped object), publishes the body to the forward
//! subject if there is one, and replies `{"allowed": true}`. A body that is
//! not a `PreDeletionHookRequest` gets `{"allowed": false, "reason": …}`,
//! which the platform counts as a failure.
//!
//! Environment:
//! - `NATS_URL`: default `nats://127.0.0.1:4222`
//! - `NOTIFY_SUBJECT`: the hook's subject, default `hooks.deleting`
//! - `NOTIFY_FORWARD_SUBJECT`: where to publish each request (optional)
//! - `RUST_LOG`: log filter for stderr, default `info`

use async_nats::{Client, Message};
use futures_util::StreamExt;
use predeletion_examples::{init_logs, say, HookRequest};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logs();
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let subject = std::env::var("NOTIFY_SUBJECT").unwrap_or_else(|_| "hooks.deleting".into());
    let forward = std::env::var("NOTIFY_FORWARD_SUBJECT").ok();

    let client = async_nats::connect(&url).await?;
    let mut requests = client.subscribe(subject.clone()).await?;
    // Only once the server has the subscription can a request reach it.
    client.flush().await?;
    say(&format!("subscribed to {subject}"));

    // One at a time, so the lines and forwards come in the order asked.
    while let Some(message) = requests.next().await {
        handle(&client, forward.as_deref(), message).await;
    }
    Err("the subscription ended (connection closed)".into())
}

async fn handle(client: &Client, forward: Option<&str>, message: Message) {
    let reply = match HookRequest::parse(&message.payload) {
        Ok(request) => {
            say(&format!(
                "deleting {} {} (uid {}, hook {})",
                request.kind,
                request.display_name(),
                request.uid,
                request.hook
            ));
            match forward {
                Some(to) => forward_to(client, to, message.payload.clone()).await,
                None => json!({"allowed": true}),
            }
        }
        Err(reason) => {
            tracing::warn!("bad request on {}: {reason}", message.subject);
            json!({"allowed": false, "reason": reason})
        }
    };
    let Some(reply_to) = message.reply else {
        // A plain publish, not a request: nobody waits for an answer.
        tracing::warn!("message on {} has no reply subject", message.subject);
        return;
    };
    if let Err(e) = client.publish(reply_to, reply.to_string().into()).await {
        tracing::error!("cannot reply: {e}");
    }
}

/// The reply: the deletion may go on only once the others can hear of it.
async fn forward_to(client: &Client, to: &str, payload: bytes::Bytes) -> serde_json::Value {
    match client.publish(to.to_string(), payload).await {
        Ok(()) => json!({"allowed": true}),
        Err(e) => {
            tracing::error!("cannot forward to {to}: {e}");
            json!({"allowed": false, "reason": format!("cannot forward: {e}")})
        }
    }
}
