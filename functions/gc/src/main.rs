//! The `gc` function (#21): passes over the Terminating objects
//! (`apiserver::gc::sweep`) until one changes nothing or the time budget is
//! spent. As a Lambda it runs on a schedule and on the table's stream (any
//! payload: the queue, not the event, says what to do); with `--watch` it
//! is the long-running worker of `make dev` and the test stack, one pass
//! a second. It runs pre-deletion hooks' actions: HTTP POSTs, and NATS
//! requests on `NATS_URL`. Environment: that of the resources function
//! (`ApiServer::from_env`) and `NATS_URL`.

use std::time::{Duration, Instant};

use apiserver::gc::{sweep_with, NetworkActions, Sweep};
use apiserver::ApiServer;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// A pass every this long under `--watch`.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// An invoke starts no pass after this long (the function's timeout in
/// infra/template.yaml is 300 s).
const PASS_BUDGET: Duration = Duration::from_secs(240);

#[tokio::main]
async fn main() -> Result<(), Error> {
    apiserver::lambda::init_logs();
    let server = ApiServer::from_env().await?;
    // Kept across passes: the hooks' HTTP client and NATS connection.
    let actions = NetworkActions::from_env();
    if std::env::args().any(|a| a == "--watch") {
        tracing::info!("sweeping every {WATCH_INTERVAL:?} until stopped");
        loop {
            if let Err(err) = sweep_with(&server, &actions).await {
                tracing::error!(error = %err, "a pass failed; the next one goes on");
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }
    let (server, actions) = (&server, &actions);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let total = passes(server, actions).await?;
        Ok::<_, Error>(json!({
            "queued": total.queued,
            "deletes": total.deletes,
            "finished": total.finished,
            "waiting": total.waiting,
            "failed": total.failed,
        }))
    }))
    .await
}

/// Passes until one asks for no delete (what is left waits on others) or
/// the budget is spent; the last pass's counts.
async fn passes(server: &ApiServer, actions: &NetworkActions) -> Result<Sweep, Error> {
    let started = Instant::now();
    loop {
        let pass = sweep_with(server, actions)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(?pass, "pass");
        if pass.deletes == 0 || started.elapsed() > PASS_BUDGET {
            return Ok(pass);
        }
    }
}
