//! Quota under a crash (#5): a burst of 64 project creates against a limit
//! of 50, its process SIGKILLed once 20 creates have answered (the rest in
//! flight), then run again to its end. Each create is one transaction
//! (project, claim, bucket increment), so whatever the kill cut off left
//! nothing half-done: the bucket's allocated equals the live claims and the
//! live projects, and the rerun fills the quota exactly. Needs only
//! DynamoDB Local (`DYNAMODB_ENDPOINT`, `E2E_TABLE`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use e2e::pipeline::InProcess;
use serde_json::Value;

const BURST: &str = env!("CARGO_BIN_EXE_quota_burst");

fn burst(table: &str, org: &str) -> Command {
    let mut cmd = Command::new(BURST);
    cmd.env("E2E_TABLE", table).env("BURST_ORG", org);
    cmd
}

fn count(body: &[u8]) -> usize {
    let list: Value = serde_json::from_slice(body).expect("list");
    list["items"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_burst_killed_midway_leaves_usage_equal_to_live_claims_and_projects() {
    let table = std::env::var("E2E_TABLE").expect("E2E_TABLE (with-stack.sh sets it)");
    let org = format!("crash-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);

    let mut child = burst(&table, &org)
        .stdout(Stdio::piped())
        .spawn()
        .expect("quota_burst");
    let stdout = child.stdout.take().expect("stdout");
    let mut answered = 0;
    for line in BufReader::new(stdout).lines() {
        if line.expect("line").starts_with("created ") {
            answered += 1;
            if answered == 20 {
                break;
            }
        }
    }
    assert_eq!(answered, 20, "the burst ended before it could be killed");
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the burst was killed: {status:?}");

    let rerun = burst(&table, &org).output().expect("quota_burst again");
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = store::Store::client_from_env().await;
        let api = InProcess::new(client, &table).expect("pipeline");
        let get = |uri: String| {
            let api = &api;
            async move { api.call("GET", &uri, &Value::Null, 200).await.expect(&uri) }
        };
        let projects = count(
            &get(format!(
                "/apis/resourcemanager.miloapis.com/v1alpha1/projects?labelSelector=resourcemanager.miloapis.com/organization-name={org}"
            ))
            .await,
        );
        let claims = count(
            &get(format!(
                "/apis/quota.miloapis.com/v1alpha1/namespaces/organization-{org}/resourceclaims"
            ))
            .await,
        );
        let buckets: Value = serde_json::from_slice(
            &get(format!(
                "/apis/quota.miloapis.com/v1alpha1/namespaces/organization-{org}/allowancebuckets?labelSelector=quota.miloapis.com/consumer-kind=Organization"
            ))
            .await,
        )
        .expect("buckets");
        let bucket = &buckets["items"][0]["status"];
        assert_eq!(
            (
                bucket["allocated"].as_u64(),
                bucket["claimCount"].as_u64(),
                claims,
                projects
            ),
            (Some(50), Some(50), 50, 50),
            "{buckets}"
        );
    });
}
