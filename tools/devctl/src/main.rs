//! Developer tool for the local stack.
//!
//!     devctl create-table --endpoint URL --table NAME
//!     devctl create-stream [--nats-url URL]
//!     devctl mint-token --secret-file F --issuer I --audience A --subject S [--ttl-hours N] [--group G]...

use anyhow::{bail, Context, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, flags)) = args.split_first() else {
        bail!("usage: devctl create-table|create-stream|mint-token [flags]")
    };
    let flags = Flags(flags);
    match command.as_str() {
        "create-table" => create_table(&flags).await,
        "create-stream" => create_stream(&flags).await,
        "mint-token" => mint_token(&flags),
        other => bail!("unknown command {other:?}; use create-table, create-stream or mint-token"),
    }
}

struct Flags<'a>(&'a [String]);

impl Flags<'_> {
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .windows(2)
            .filter(|w| w[0] == name)
            .map(|w| w[1].as_str())
            .collect()
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    fn required(&self, name: &str) -> Result<&str> {
        self.get(name)
            .with_context(|| format!("{name} is required"))
    }
}

async fn create_table(flags: &Flags<'_>) -> Result<()> {
    std::env::set_var("DYNAMODB_ENDPOINT", flags.required("--endpoint")?);
    let table = flags.required("--table")?;
    let client = store::Store::client_from_env().await;
    let created = store::table::create_table(&client, table).await?;
    println!(
        "table {table} {}",
        if created { "created" } else { "already exists" }
    );
    Ok(())
}

/// The events stream and its dead-letter stream, named and bound to
/// subjects as the consumer's environment says (the same `EVENTS_*`
/// variables and defaults: see ingest::config), and the change feed's
/// stream (`FEED_*`: feed::config). Existing streams are left as they are.
/// Neither the consumer nor the publisher creates them itself.
async fn create_stream(flags: &Flags<'_>) -> Result<()> {
    let mut config = ingest::ConsumerConfig::from_env()?;
    if let Some(url) = flags.get("--nats-url") {
        config.nats_url = url.to_string();
    }
    let client = async_nats::connect(&config.nats_url)
        .await
        .with_context(|| format!("connecting to NATS at {}", config.nats_url))?;
    let js = async_nats::jetstream::new(client);
    ingest::streams::ensure_streams(&js, &config).await?;
    let feed = feed::FeedConfig::from_env()?;
    feed::streams::ensure_streams(&js, &feed).await?;
    println!(
        "streams {} ({}), {} ({}), {} ({}, duplicate window {} s) and {} ({}.>, kept {} s) ready",
        config.stream,
        config.event_subjects(),
        ingest::streams::dead_letter_stream(&config),
        config.dead_letter_subject,
        feed.stream,
        feed.subjects(),
        feed.duplicate_window.as_secs(),
        feed.watch_stream,
        feed.watch_prefix,
        feed.watch_window.as_secs()
    );
    Ok(())
}

fn mint_token(flags: &Flags<'_>) -> Result<()> {
    let secret_file = flags.required("--secret-file")?;
    let secret =
        std::fs::read_to_string(secret_file).with_context(|| format!("reading {secret_file}"))?;
    let ttl_hours: u64 = flags
        .get("--ttl-hours")
        .unwrap_or("24")
        .parse()
        .context("--ttl-hours is a number")?;
    let groups: Vec<String> = flags
        .all("--group")
        .into_iter()
        .map(str::to_string)
        .collect();
    let token = auth::mint_hs256(
        secret.trim(),
        flags.required("--issuer")?,
        flags.required("--audience")?,
        flags.required("--subject")?,
        &groups,
        ttl_hours * 3600,
    )?;
    println!("{token}");
    Ok(())
}
