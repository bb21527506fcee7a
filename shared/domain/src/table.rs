//! `meta.k8s.io/v1` Table responses, so `kubectl get` prints readable columns.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::jsonpath;
use crate::kinds::KindInfo;

/// A Table of `objects` (full documents) for `kind`, as of `now`.
pub fn table(kind: &KindInfo, objects: &[Value], now: DateTime<Utc>, list_meta: Value) -> Value {
    let mut columns = vec![json!({
        "name": "Name", "type": "string", "format": "name", "description": "Name of the object", "priority": 0
    })];
    columns.extend(kind.columns.iter().map(|c| {
        json!({"name": c.name, "type": c.type_, "format": "", "description": c.description, "priority": c.priority})
    }));
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut cells = vec![obj["metadata"]["name"].clone()];
            cells.extend(
                kind.columns
                    .iter()
                    .map(|c| cell(obj, &c.json_path, &c.type_, now)),
            );
            json!({ "cells": cells, "object": partial_metadata(obj) })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// kubectl reads names and labels of rows from this partial object.
fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"].clone(),
    })
}

fn cell(obj: &Value, path: &str, type_: &str, now: DateTime<Utc>) -> Value {
    let values = jsonpath::select(obj, path);
    let Some(first) = values.first() else {
        return Value::Null;
    };
    if type_ == "date" {
        if let Some(at) = first
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            return Value::String(human_duration(
                now.signed_duration_since(at.with_timezone(&Utc)),
            ));
        }
    }
    if values.len() > 1 {
        let joined: Vec<String> = values.iter().map(|v| plain(v)).collect();
        return Value::String(joined.join(","));
    }
    (*first).clone()
}

fn plain(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// Ages as kubectl prints them: `45s`, `12m`, `3h`, `5d`, `2y`.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7_199 => format!("{}m", s / 60),
        7_200..=172_799 => format!("{}h", s / 3_600),
        172_800..=31_535_999 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_rows_show_type_ready_and_age() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let org = json!({
            "metadata": {"name": "acme", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "annotations": {"kubernetes.io/display-name": "Acme Inc"}},
            "spec": {"type": "Standard"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        let t = table(
            &crate::catalog::Catalog::builtin()
                .unwrap()
                .kind(&crate::kinds::ORGANIZATION)
                .unwrap(),
            &[org],
            now,
            json!({}),
        );
        let names: Vec<_> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(names, ["Name", "Display Name", "Type", "Ready", "Age"]);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["acme", "Acme Inc", "Standard", "True", "60m"])
        );
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "acme");
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(chrono::Duration::seconds(5)), "5s");
        assert_eq!(human_duration(chrono::Duration::hours(3)), "3h");
        assert_eq!(human_duration(chrono::Duration::days(400)), "1y");
    }
}
