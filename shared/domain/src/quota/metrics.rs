//! Quota metrics as CloudWatch embedded metric format (EMF) records: one
//! JSON line in a function's log is a metric, no API call needed. Built
//! here so that every adapter reports the same names and dimensions.

use serde_json::{json, Value};

use super::bucket::{BucketKey, BucketLevel};

pub const METRICS_NAMESPACE: &str = "Platform/Quota";

/// The outcome of one claim decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Granted,
    QuotaExceeded,
    ValidationFailed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Granted => "Granted",
            Decision::QuotaExceeded => "QuotaExceeded",
            Decision::ValidationFailed => "ValidationFailed",
        }
    }
}

fn record(
    timestamp_ms: i64,
    dimensions: &[&str],
    metrics: &[(&str, &str)],
    fields: Value,
) -> Value {
    let mut out = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": metrics.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }
    });
    if let (Some(out), Some(fields)) = (out.as_object_mut(), fields.as_object()) {
        out.extend(fields.clone());
    }
    out
}

/// One claim decided: `ClaimDecisions` = 1, by resource type and outcome.
pub fn decision_metric(resource_type: &str, decision: Decision, timestamp_ms: i64) -> Value {
    record(
        timestamp_ms,
        &["ResourceType", "Decision"],
        &[("ClaimDecisions", "Count")],
        json!({"ResourceType": resource_type, "Decision": decision.as_str(), "ClaimDecisions": 1}),
    )
}

/// A bucket's level after a write (or a recompute): limit, allocated,
/// available, by resource type and consumer kind (names are properties,
/// searchable in the logs, not dimensions: too many to be metrics).
pub fn bucket_level_metrics(key: &BucketKey, level: &BucketLevel, timestamp_ms: i64) -> Value {
    record(
        timestamp_ms,
        &["ResourceType", "ConsumerKind"],
        &[
            ("BucketLimit", "Count"),
            ("BucketAllocated", "Count"),
            ("BucketAvailable", "Count"),
        ],
        json!({
            "ResourceType": key.resource_type,
            "ConsumerKind": key.consumer.kind.kind(),
            "ConsumerName": key.consumer.name,
            "Bucket": key.name(),
            "BucketLimit": level.limit,
            "BucketAllocated": level.allocated,
            "BucketAvailable": level.available(),
        }),
    )
}

/// A recompute's result: how many buckets drifted (0 is the only right
/// answer; alarm on anything else).
pub fn drift_metric(drifted: usize, timestamp_ms: i64) -> Value {
    record(
        timestamp_ms,
        &[],
        &[("BucketDrift", "Count")],
        json!({"BucketDrift": drifted}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::refs::Node;

    #[test]
    fn decisions_are_emf_records() {
        let m = decision_metric("t/projects", Decision::QuotaExceeded, 1_700_000_000_000);
        let spec = &m["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], METRICS_NAMESPACE);
        assert_eq!(spec["Dimensions"], json!([["ResourceType", "Decision"]]));
        assert_eq!(spec["Metrics"][0]["Name"], "ClaimDecisions");
        assert_eq!(m["Decision"], "QuotaExceeded");
        assert_eq!(m["ClaimDecisions"], 1);
        assert_eq!(m["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }

    #[test]
    fn bucket_levels_and_drift_are_emf_records() {
        let key = BucketKey::new(Node::folder("eng"), "t");
        let level = BucketLevel {
            limit: 4,
            allocated: 5,
            claim_count: 5,
            grant_count: 1,
        };
        let m = bucket_level_metrics(&key, &level, 1);
        assert_eq!(
            (
                m["BucketLimit"].clone(),
                m["BucketAllocated"].clone(),
                m["BucketAvailable"].clone()
            ),
            (json!(4), json!(5), json!(0))
        );
        assert_eq!(m["ConsumerKind"], "Folder");
        assert_eq!(m["Bucket"], key.name());
        let d = drift_metric(2, 1);
        assert_eq!(d["BucketDrift"], 2);
        assert_eq!(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
    }
}
