//! What a request carries besides its object: a DELETE's body
//! (Kubernetes' `DeleteOptions`) and the values of the query parameters
//! Kubernetes defines. Read strictly: a value that is not understood is an
//! error, never a default, since a misread DeleteOptions (a dry run taken
//! for a delete, a precondition dropped) deletes.

use std::str::FromStr;

use serde::Deserialize;

/// The `apiVersion`s a DeleteOptions body may name besides the resource's
/// own: kubectl and the dynamic client send `v1`, others `meta.k8s.io/v1`.
pub const DELETE_OPTIONS_API_VERSIONS: [&str; 3] = ["v1", "meta.k8s.io/v1", "meta.k8s.io/v1beta1"];

/// Longest `fieldManager` Kubernetes accepts.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PropagationPolicy {
    Orphan,
    Background,
    Foreground,
}

impl FromStr for PropagationPolicy {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "Orphan" => Ok(Self::Orphan),
            "Background" => Ok(Self::Background),
            "Foreground" => Ok(Self::Foreground),
            other => Err(format!(
                "propagationPolicy must be Orphan, Background or Foreground, not {other:?}"
            )),
        }
    }
}

/// The one dry-run mode there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum DryRun {
    All,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// A DELETE's body: every field Kubernetes' DeleteOptions has, each
/// optional (`null` is absent, as in Go), and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteOptions {
    api_version: Option<String>,
    kind: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub preconditions: Option<Preconditions>,
    pub orphan_dependents: Option<bool>,
    pub propagation_policy: Option<PropagationPolicy>,
    dry_run: Option<Vec<DryRun>>,
    pub ignore_store_read_error_with_cluster_breaking_potential: Option<bool>,
}

impl DeleteOptions {
    /// Decodes a DELETE body (empty: the defaults). `resource_api_version`
    /// is the deleted resource's, which typed clients put on their options.
    pub fn from_body(body: &[u8], resource_api_version: &str) -> Result<Self, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let options: Self = serde_json::from_slice(body)
            .map_err(|e| format!("the DeleteOptions body could not be decoded: {e}"))?;
        if let Some(kind) = options.kind.as_deref() {
            if kind != "DeleteOptions" {
                return Err(format!(
                    "the body of a DELETE is a DeleteOptions, not a {kind}"
                ));
            }
        }
        if let Some(version) = options.api_version.as_deref() {
            if version != resource_api_version && !DELETE_OPTIONS_API_VERSIONS.contains(&version) {
                return Err(format!(
                    "DeleteOptions are not served at apiVersion {version:?}; use \"meta.k8s.io/v1\""
                ));
            }
        }
        check_propagation(options.propagation_policy, options.orphan_dependents)?;
        Ok(options)
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run.as_ref().is_some_and(|modes| !modes.is_empty())
    }

    pub fn precondition_uid(&self) -> Option<&str> {
        self.preconditions.as_ref()?.uid.as_deref()
    }

    pub fn precondition_resource_version(&self) -> Option<&str> {
        self.preconditions.as_ref()?.resource_version.as_deref()
    }
}

/// `orphanDependents` is the deprecated form of `propagationPolicy`; both
/// at once is refused, as Kubernetes does.
pub fn check_propagation(
    policy: Option<PropagationPolicy>,
    orphan_dependents: Option<bool>,
) -> Result<(), String> {
    match (policy, orphan_dependents) {
        (Some(_), Some(_)) => {
            Err("orphanDependents and propagationPolicy cannot be both set".into())
        }
        _ => Ok(()),
    }
}

/// A boolean query parameter as Kubernetes reads it: only `false` (any
/// case) and `0` are false; anything else, the empty string included, is
/// true. There is thus no bad value.
pub fn query_bool(value: &str) -> bool {
    !(value == "0" || value.eq_ignore_ascii_case("false"))
}

/// An integer query parameter (`gracePeriodSeconds`, `timeoutSeconds`).
pub fn query_int(name: &str, value: &str) -> Result<i64, String> {
    value
        .parse()
        .map_err(|_| format!("{name} must be a whole number, not {value:?}"))
}

/// The `timeout` parameter: a Go duration (`32s`, `1m0.5s`, `300ms`),
/// which client-go sends for a client-side request timeout.
pub fn check_timeout(value: &str) -> Result<(), String> {
    if is_go_duration(value) {
        Ok(())
    } else {
        Err(format!(
            "invalid timeout specified in the request URL: {value:?} is not a duration such as \"30s\" or \"1m0s\""
        ))
    }
}

/// Go's `time.ParseDuration` grammar: `[-+]` then one or more decimal
/// numbers each with a unit (ns, us, µs, μs, ms, s, m, h); `0` alone too.
pub fn is_go_duration(value: &str) -> bool {
    let rest = value.strip_prefix(['-', '+']).unwrap_or(value);
    if rest == "0" {
        return true;
    }
    let mut rest = rest;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_end];
        let digits = number.chars().filter(char::is_ascii_digit).count();
        if digits == 0 || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !matches!(
            &rest[..unit_end],
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"
        ) {
            return false;
        }
        rest = &rest[unit_end..];
    }
    true
}

/// The `resourceVersionMatch` parameter of a list.
pub fn check_resource_version_match(value: &str) -> Result<(), String> {
    match value {
        "" | "NotOlderThan" | "Exact" => Ok(()),
        other => Err(format!(
            "resourceVersionMatch must be NotOlderThan or Exact, not {other:?}"
        )),
    }
}

/// The `fieldManager` parameter: at most 128 bytes, printable characters.
pub fn check_field_manager(value: &str) -> Result<(), String> {
    if value.len() > FIELD_MANAGER_MAX_LENGTH {
        return Err(format!(
            "fieldManager may have at most {FIELD_MANAGER_MAX_LENGTH} bytes (it has {})",
            value.len()
        ));
    }
    match value
        .char_indices()
        .find(|(_, c)| c.is_control() || (c.is_whitespace() && *c != ' '))
    {
        Some((at, c)) => Err(format!(
            "fieldManager has an invalid character {:?} (U+{:04X}) at position {at}",
            c, c as u32
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "resourcemanager.miloapis.com/v1alpha1";

    fn decode(body: &str) -> Result<DeleteOptions, String> {
        DeleteOptions::from_body(body.as_bytes(), OWN)
    }

    #[test]
    fn an_empty_body_is_the_defaults() {
        assert_eq!(decode("").unwrap(), DeleteOptions::default());
        assert_eq!(decode("  \n").unwrap(), DeleteOptions::default());
        assert!(!decode("{}").unwrap().dry_run());
    }

    #[test]
    fn every_field_kubernetes_has_is_read() {
        let options = decode(
            r#"{"apiVersion":"meta.k8s.io/v1","kind":"DeleteOptions","gracePeriodSeconds":30,
                "preconditions":{"uid":"u-1","resourceVersion":"7"},"propagationPolicy":"Foreground",
                "dryRun":["All"],"ignoreStoreReadErrorWithClusterBreakingPotential":false}"#,
        )
        .unwrap();
        assert!(options.dry_run());
        assert_eq!(options.precondition_uid(), Some("u-1"));
        assert_eq!(options.precondition_resource_version(), Some("7"));
        assert_eq!(options.grace_period_seconds, Some(30));
        assert_eq!(
            options.propagation_policy,
            Some(PropagationPolicy::Foreground)
        );
        let options =
            decode(r#"{"orphanDependents":true,"dryRun":[],"preconditions":null}"#).unwrap();
        assert!(!options.dry_run());
        assert_eq!(options.orphan_dependents, Some(true));
        assert_eq!(options.precondition_uid(), None);
    }

    #[test]
    fn the_versions_clients_send_are_accepted() {
        for version in ["v1", "meta.k8s.io/v1", "meta.k8s.io/v1beta1", OWN] {
            let body = format!(r#"{{"apiVersion":"{version}","kind":"DeleteOptions"}}"#);
            assert!(decode(&body).is_ok(), "{version}");
        }
    }

    #[test]
    fn what_is_not_understood_is_an_error() {
        for body in [
            r#"{"dryRun":"All"}"#,
            r#"{"dryRun":["Bogus"]}"#,
            r#"{"dryRun":[true]}"#,
            r#"{"preconditions":{"resourceVersion":999}}"#,
            r#"{"preconditions":{"uid":12345}}"#,
            r#"{"preconditions":"x"}"#,
            r#"{"preconditions":{"generation":"1"}}"#,
            r#"{"gracePeriodSeconds":"30"}"#,
            r#"{"gracePeriodSeconds":1.5}"#,
            r#"{"orphanDependents":"true"}"#,
            r#"{"propagationPolicy":"Sideways"}"#,
            r#"{"propagationPolicy":"background"}"#,
            r#"{"propagationPolicy":"Orphan","orphanDependents":false}"#,
            r#"{"kind":"Pod"}"#,
            r#"{"apiVersion":"apps/v1"}"#,
            r#"{"unknown":1}"#,
            r#"[]"#,
            r#""DeleteOptions""#,
            r#"null"#,
            r#"{"dryRun":["All"]"#,
        ] {
            assert!(decode(body).is_err(), "{body}");
        }
    }

    #[test]
    fn query_booleans_are_read_as_kubernetes_reads_them() {
        for value in ["false", "False", "FALSE", "0"] {
            assert!(!query_bool(value), "{value}");
        }
        for value in ["true", "1", "", "yes"] {
            assert!(query_bool(value), "{value}");
        }
    }

    #[test]
    fn go_durations() {
        for ok in [
            "0", "32s", "1m0s", "1.5h", "300ms", "-1.5h", "+5s", "1h2m3.5s", "10us", "7µs", ".5s",
            "5.s",
        ] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in [
            "", "5", "s", "1x", "1.2.3s", ".s", "soon", "1s ", "-", "1m-2s",
        ] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }

    #[test]
    fn parameter_values() {
        assert_eq!(query_int("limit", "-3"), Ok(-3));
        assert!(query_int("gracePeriodSeconds", "x").is_err());
        assert!(query_int("gracePeriodSeconds", "").is_err());
        assert!(check_resource_version_match("NotOlderThan").is_ok());
        assert!(check_resource_version_match("notolderthan").is_err());
        assert!(check_field_manager("kubectl-client-side-apply").is_ok());
        assert!(check_field_manager(&"m".repeat(129)).is_err());
        assert!(check_field_manager("a\u{7}b").is_err());
        assert!(check_field_manager("a\tb").is_err());
        assert!(check_field_manager("with space").is_ok());
        assert_eq!(
            "Orphan".parse::<PropagationPolicy>(),
            Ok(PropagationPolicy::Orphan)
        );
        assert!("orphan".parse::<PropagationPolicy>().is_err());
        assert!(check_propagation(Some(PropagationPolicy::Orphan), Some(true)).is_err());
        assert!(check_propagation(None, Some(true)).is_ok());
    }
}
