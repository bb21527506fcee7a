//! Pre-deletion hooks (#21), the pure part: a hook's spec read and
//! checked (every fault a field cause), which objects it matches, the
//! finalizer it puts on them, what its action is sent, how long a failed
//! action waits before the next attempt, and when a failure stops holding
//! the object. The kind that declares hooks, their cache and the gc's
//! runs of the actions are the adapters' part.
//!
//! A hook's spec:
//!
//! ```yaml
//! resources: [{group: example.com, kind: Widget}]   # "" for the core group
//! selector: {matchLabels: {...}, matchExpressions: [...]}  # optional
//! action:                                           # exactly one of
//!   http: {url: https://archive.example.com/hooks, timeoutSeconds: 10}
//!   nats: {subject: hooks.widgets.deleting, timeoutSeconds: 10}
//! failurePolicy: Fail      # Fail (default): the object waits until it succeeds
//!                          # Ignore: it goes after maxAttempts failures
//! maxAttempts: 5
//! backoff: {initialSeconds: 5, maxSeconds: 300}
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::label_selector::{LabelSelector, Operator, Requirement};
use crate::metadata_rules::{label_value_errors, qualified_name_errors};
use crate::Cause;

/// The finalizer of hook `{name}` is this prefix and the name.
pub const FINALIZER_PREFIX: &str = "predeletion.resourcemanager.miloapis.com/";

const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
const MAX_TIMEOUT_SECONDS: u64 = 30;
const DEFAULT_ATTEMPTS: u32 = 5;
const DEFAULT_BACKOFF: (u64, u64) = (5, 300);

#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    pub name: String,
    /// `(group, kind)` of the kinds it applies to.
    pub resources: Vec<(String, String)>,
    pub selector: LabelSelector,
    pub action: Action,
    pub failure_policy: FailurePolicy,
    pub max_attempts: u32,
    pub backoff: Backoff,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// POST the request to `url`; a 2xx answer within `timeout` succeeds.
    Http { url: String, timeout: Duration },
    /// A NATS request on `subject`; a reply within `timeout` succeeds
    /// unless it is `{"allowed": false, …}`.
    Nats { subject: String, timeout: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    Fail,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Hook {
    /// Reads and checks a PreDeletionHook's spec; every fault is a cause.
    pub fn parse(name: &str, spec: &Value) -> Result<Hook, Vec<Cause>> {
        let mut causes = Vec::new();
        // The name is the finalizer's name part, which must be a qualified
        // name's (at most 63 characters).
        for problem in qualified_name_errors(&format!("{FINALIZER_PREFIX}{name}")) {
            causes.push(Cause::invalid(
                "metadata.name",
                format!("a hook's name is its finalizer's name part: {problem}"),
            ));
        }
        let resources = resources(&spec["resources"], &mut causes);
        let selector = selector("spec.selector", &spec["selector"], &mut causes);
        let action = action(&spec["action"], &mut causes);
        let failure_policy = match spec["failurePolicy"].as_str() {
            None | Some("Fail") => FailurePolicy::Fail,
            Some("Ignore") => FailurePolicy::Ignore,
            Some(other) => {
                causes.push(Cause::not_supported(
                    "spec.failurePolicy",
                    format!("Unsupported value: {other:?}: supported values: \"Fail\", \"Ignore\""),
                ));
                FailurePolicy::Fail
            }
        };
        let max_attempts = bounded(
            &spec["maxAttempts"],
            "spec.maxAttempts",
            (1, 100),
            u64::from(DEFAULT_ATTEMPTS),
            &mut causes,
        );
        let initial = bounded(
            &spec["backoff"]["initialSeconds"],
            "spec.backoff.initialSeconds",
            (1, 3600),
            DEFAULT_BACKOFF.0,
            &mut causes,
        );
        let max = bounded(
            &spec["backoff"]["maxSeconds"],
            "spec.backoff.maxSeconds",
            (1, 86_400),
            DEFAULT_BACKOFF.1.max(initial),
            &mut causes,
        );
        if max < initial {
            causes.push(Cause::invalid(
                "spec.backoff.maxSeconds",
                format!("must be at least initialSeconds ({initial})"),
            ));
        }
        match (causes.is_empty(), action) {
            (true, Some(action)) => Ok(Hook {
                name: name.to_string(),
                resources,
                selector,
                action,
                failure_policy,
                max_attempts: u32::try_from(max_attempts).unwrap_or(DEFAULT_ATTEMPTS),
                backoff: Backoff {
                    initial: Duration::from_secs(initial),
                    max: Duration::from_secs(max),
                },
            }),
            _ => Err(causes),
        }
    }

    /// The finalizer it puts on the objects it matches.
    pub fn finalizer(&self) -> String {
        format!("{FINALIZER_PREFIX}{}", self.name)
    }

    /// Whether an object of `group`/`kind` with `labels` is one it holds.
    pub fn matches(&self, group: &str, kind: &str, labels: &BTreeMap<String, String>) -> bool {
        self.resources.iter().any(|(g, k)| g == group && k == kind) && self.selector.matches(labels)
    }

    /// How long to wait after the `failures`-th failure: the initial
    /// back-off, doubled each time, at most the maximum.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let delay = self.backoff.initial.saturating_mul(1 << doublings);
        delay.min(self.backoff.max)
    }

    /// Whether `failures` failures let the object go without the action.
    pub fn gives_up(&self, failures: u32) -> bool {
        self.failure_policy == FailurePolicy::Ignore && failures >= self.max_attempts
    }

    /// What the action is sent: the hook's name and the object as stored.
    pub fn request(&self, object: &Value) -> Value {
        json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
            "kind": "PreDeletionHookRequest",
            "hook": self.name,
            "object": object,
        })
    }

    /// The condition a failed action shows on the object it holds.
    pub fn failure_condition(&self, failures: u32, error: &str, now: &str) -> Value {
        let next = match self.gives_up(failures) {
            true => "it is not tried again (failurePolicy Ignore) and the object goes".to_string(),
            false => format!(
                "the next attempt is in {} s",
                self.delay_after(failures).as_secs()
            ),
        };
        json!({
            "type": "PreDeletionHooks",
            "status": "False",
            "reason": "HookFailed",
            "message": format!("pre-deletion hook {} failed (attempt {failures}): {error}; {next}", self.name),
            "lastTransitionTime": now,
        })
    }
}

/// The hook a finalizer belongs to, if it is a hook's.
pub fn hook_of(finalizer: &str) -> Option<&str> {
    finalizer
        .strip_prefix(FINALIZER_PREFIX)
        .filter(|name| !name.is_empty())
}

fn resources(value: &Value, causes: &mut Vec<Cause>) -> Vec<(String, String)> {
    let Some(items) = value.as_array().filter(|items| !items.is_empty()) else {
        causes.push(Cause::required("spec.resources"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let group = item["group"].as_str();
        let kind = item["kind"].as_str().filter(|k| !k.is_empty());
        match (group, kind) {
            (Some(group), Some(kind)) => out.push((group.to_string(), kind.to_string())),
            (None, _) => causes.push(Cause::required(format!("spec.resources[{index}].group"))),
            (_, None) => causes.push(Cause::required(format!("spec.resources[{index}].kind"))),
        }
    }
    out
}

/// A `metav1.LabelSelector`; absent selects every object of the kinds.
fn selector(field: &str, value: &Value, causes: &mut Vec<Cause>) -> LabelSelector {
    if value.is_null() {
        return LabelSelector::default();
    }
    let mut requirements = Vec::new();
    if let Some(labels) = value["matchLabels"].as_object() {
        for (key, v) in labels {
            let v = v.as_str().unwrap_or_default().to_string();
            let path = format!("{field}.matchLabels");
            if label_ok(&path, key, std::slice::from_ref(&v), causes) {
                requirements.push(Requirement {
                    key: key.clone(),
                    operator: Operator::Equals,
                    values: vec![v],
                });
            }
        }
    }
    let expressions = value["matchExpressions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (index, e) in expressions.iter().enumerate() {
        let path = format!("{field}.matchExpressions[{index}]");
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<String> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let operator = match e["operator"].as_str() {
            Some("In") => Operator::In,
            Some("NotIn") => Operator::NotIn,
            Some("Exists") => Operator::Exists,
            Some("DoesNotExist") => Operator::DoesNotExist,
            other => {
                causes.push(Cause::not_supported(
                    format!("{path}.operator"),
                    format!("Unsupported value: {other:?}: supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\""),
                ));
                continue;
            }
        };
        let needs_values = matches!(operator, Operator::In | Operator::NotIn);
        if needs_values == values.is_empty() {
            let message = match needs_values {
                true => "must be specified when `operator` is 'In' or 'NotIn'",
                false => "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            };
            causes.push(Cause::invalid(format!("{path}.values"), message));
            continue;
        }
        if label_ok(&format!("{path}.key"), key, &values, causes) {
            requirements.push(Requirement {
                key: key.to_string(),
                operator,
                values,
            });
        }
    }
    LabelSelector::from_requirements(requirements)
}

/// Whether a label key and its values are valid; each fault a cause.
fn label_ok(path: &str, key: &str, values: &[String], causes: &mut Vec<Cause>) -> bool {
    let mut problems = qualified_name_errors(key);
    for value in values {
        problems.extend(label_value_errors(value));
    }
    for problem in &problems {
        causes.push(Cause::invalid(path, problem.clone()));
    }
    problems.is_empty()
}

fn action(value: &Value, causes: &mut Vec<Cause>) -> Option<Action> {
    let timeout = |at: &Value, field: &str, causes: &mut Vec<Cause>| {
        let seconds = bounded(
            &at["timeoutSeconds"],
            field,
            (1, MAX_TIMEOUT_SECONDS),
            DEFAULT_TIMEOUT_SECONDS,
            causes,
        );
        Duration::from_secs(seconds)
    };
    match (&value["http"], &value["nats"]) {
        (http, Value::Null) if http.is_object() => {
            let url = http["url"].as_str().unwrap_or_default();
            let timeout = timeout(http, "spec.action.http.timeoutSeconds", causes);
            match url_problem(url) {
                Some(problem) => {
                    causes.push(Cause::invalid("spec.action.http.url", problem));
                    None
                }
                None => Some(Action::Http {
                    url: url.to_string(),
                    timeout,
                }),
            }
        }
        (Value::Null, nats) if nats.is_object() => {
            let subject = nats["subject"].as_str().unwrap_or_default();
            let timeout = timeout(nats, "spec.action.nats.timeoutSeconds", causes);
            match subject_problem(subject) {
                Some(problem) => {
                    causes.push(Cause::invalid("spec.action.nats.subject", problem));
                    None
                }
                None => Some(Action::Nats {
                    subject: subject.to_string(),
                    timeout,
                }),
            }
        }
        _ => {
            causes.push(Cause::invalid(
                "spec.action",
                "set exactly one of http (a URL to POST to) or nats (a subject to send a request on)",
            ));
            None
        }
    }
}

/// Why `url` cannot be called: not absolute http(s), no host, or
/// credentials in it (they would be stored and logged with the hook).
fn url_problem(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Some(format!(
            "{url:?} is not an absolute http:// or https:// URL"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Some(
            "must not carry credentials; the hook is readable by whoever reads hooks".into(),
        );
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Some(format!("{url:?} names no host to call"));
    }
    None
}

/// Why `subject` cannot take a request: empty tokens, wildcards, spaces.
fn subject_problem(subject: &str) -> Option<String> {
    if subject.is_empty() {
        return Some("a subject to send the request on is required".into());
    }
    let bad = subject
        .split('.')
        .any(|token| token.is_empty() || token == "*" || token == ">");
    let spaced = subject.chars().any(char::is_whitespace);
    (bad || spaced).then(|| {
        format!("{subject:?} is not a subject a request can be sent on: dot-separated tokens, no wildcards or spaces")
    })
}

/// A whole number in `[low, high]`, `default` when absent.
fn bounded(
    value: &Value,
    field: &str,
    (low, high): (u64, u64),
    default: u64,
    causes: &mut Vec<Cause>,
) -> u64 {
    if value.is_null() {
        return default;
    }
    match value.as_u64().filter(|n| (low..=high).contains(n)) {
        Some(n) => n,
        None => {
            causes.push(Cause::invalid(
                field,
                format!("must be a whole number from {low} to {high}"),
            ));
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive() -> Value {
        json!({
            "resources": [{"group": "example.com", "kind": "Widget"}],
            "selector": {"matchLabels": {"archive": "yes"},
                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]},
            "action": {"http": {"url": "https://archive.example.com/hooks", "timeoutSeconds": 5}},
            "failurePolicy": "Ignore",
            "maxAttempts": 3,
            "backoff": {"initialSeconds": 2, "maxSeconds": 10},
        })
    }

    fn fields(causes: &[Cause]) -> Vec<&str> {
        causes.iter().map(|c| c.field.as_str()).collect()
    }

    #[test]
    fn a_hook_holds_the_objects_of_its_kinds_its_selector_picks() {
        let hook = Hook::parse("archive", &archive()).unwrap();
        assert_eq!(
            hook.finalizer(),
            "predeletion.resourcemanager.miloapis.com/archive"
        );
        assert_eq!(hook_of(&hook.finalizer()), Some("archive"));
        assert_eq!(hook_of("kubernetes"), None);
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let picked = labels(&[("archive", "yes"), ("tier", "gold")]);
        assert!(hook.matches("example.com", "Widget", &picked));
        assert!(!hook.matches("example.com", "Gadget", &picked));
        assert!(!hook.matches("example.com", "Widget", &labels(&[("archive", "yes")])));
        let every = json!({"resources": [{"group": "", "kind": "ConfigMap"}],
                           "action": {"nats": {"subject": "hooks.configmaps"}}});
        let every = Hook::parse("notify", &every).unwrap();
        assert!(every.matches("", "ConfigMap", &BTreeMap::new()));
        assert_eq!(
            every.action,
            Action::Nats {
                subject: "hooks.configmaps".into(),
                timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECONDS)
            }
        );
        assert_eq!(every.failure_policy, FailurePolicy::Fail);
    }

    #[test]
    fn a_hooks_name_must_make_a_qualified_finalizer() {
        let long = "h".repeat(64);
        let causes = Hook::parse(&long, &archive()).unwrap_err();
        assert_eq!(fields(&causes), ["metadata.name"]);
        assert!(causes[0].message.contains("63"), "{}", causes[0].message);
        assert!(Hook::parse(&"h".repeat(63), &archive()).is_ok());
    }

    #[test]
    fn a_failure_waits_twice_as_long_each_time_up_to_the_most_and_ignore_gives_up() {
        let hook = Hook::parse("archive", &archive()).unwrap();
        let waits: Vec<u64> = (1..=5).map(|n| hook.delay_after(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 10, 10]);
        assert!(!hook.gives_up(2));
        assert!(hook.gives_up(3));
        let message = hook.failure_condition(1, "503 Service Unavailable", "t")["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains("attempt 1") && message.contains("in 2 s"),
            "{message}"
        );
        let mut fail = archive();
        fail["failurePolicy"] = json!("Fail");
        let fail = Hook::parse("archive", &fail).unwrap();
        assert!(!fail.gives_up(1000));
        assert_eq!(fail.delay_after(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn every_fault_of_a_spec_is_a_cause_on_its_field() {
        let bad = json!({
            "resources": [{"kind": "Widget"}],
            "selector": {"matchExpressions": [
                {"key": "tier", "operator": "Near", "values": ["a"]},
                {"key": "tier", "operator": "Exists", "values": ["a"]},
                {"key": "bad key!", "operator": "In", "values": ["a"]}]},
            "action": {"http": {"url": "ftp://archive.example.com", "timeoutSeconds": 600}},
            "failurePolicy": "Sometimes",
            "maxAttempts": 0,
            "backoff": {"initialSeconds": 60, "maxSeconds": 10},
        });
        let causes = Hook::parse("h", &bad).unwrap_err();
        assert_eq!(
            fields(&causes),
            [
                "spec.resources[0].group",
                "spec.selector.matchExpressions[0].operator",
                "spec.selector.matchExpressions[1].values",
                "spec.selector.matchExpressions[2].key",
                "spec.action.http.timeoutSeconds",
                "spec.action.http.url",
                "spec.failurePolicy",
                "spec.maxAttempts",
                "spec.backoff.maxSeconds",
            ]
        );
        for (action, field) in [
            (json!({}), "spec.action"),
            (
                json!({"http": {"url": "https://a"}, "nats": {"subject": "s"}}),
                "spec.action",
            ),
            (
                json!({"http": {"url": "https://user:pw@a.example.com"}}),
                "spec.action.http.url",
            ),
            (
                json!({"http": {"url": "https:///path"}}),
                "spec.action.http.url",
            ),
            (
                json!({"nats": {"subject": "hooks.*"}}),
                "spec.action.nats.subject",
            ),
            (
                json!({"nats": {"subject": "hooks..x"}}),
                "spec.action.nats.subject",
            ),
        ] {
            let spec = json!({"resources": [{"group": "", "kind": "ConfigMap"}], "action": action});
            assert_eq!(
                fields(&Hook::parse("h", &spec).unwrap_err()),
                [field],
                "{spec}"
            );
        }
        let none = json!({"action": {"nats": {"subject": "s"}}});
        assert_eq!(
            fields(&Hook::parse("h", &none).unwrap_err()),
            ["spec.resources"]
        );
    }

    #[test]
    fn the_action_is_sent_the_hook_and_the_object() {
        let hook = Hook::parse("archive", &archive()).unwrap();
        let object = json!({"kind": "Widget", "metadata": {"name": "w"}});
        let request = hook.request(&object);
        assert_eq!(request["hook"], "archive");
        assert_eq!(request["object"], object);
        assert_eq!(request["kind"], "PreDeletionHookRequest");
    }
}
