//! Watch (#22), pure: the subjects the change feed publishes each change
//! on for watchers, what a resourceVersion says about where a watch
//! starts, a watch's options, what one change becomes for one watcher
//! (its selectors), and the frames it is sent.
//!
//! **resourceVersion.** A stored object's is its own counter ("7"), which
//! updates check. A watch is ordered by the watch stream's sequence (the
//! order the publisher stored the changes in), so what a watch hands out
//! carries that position too: an event's object has `"{counter}.{seq}"`
//! (an update reads the part before the dot), a list and a bookmark have
//! `"0.{seq}"`. A watch from either resumes after `seq`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

/// The watch stream's defaults (`FEED_WATCH_STREAM`, `FEED_WATCH_PREFIX`).
pub const DEFAULT_STREAM: &str = "MILO_WATCH";
pub const DEFAULT_PREFIX: &str = "milo.watch";

/// The annotation of the bookmark that ends a WatchList's initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// One subject token: `.` separates tokens in NATS, and no name, group or
/// context part holds `_`, so `.` becomes `_`; an empty part is `_`.
fn token(part: &str) -> String {
    if part.is_empty() {
        "_".into()
    } else {
        part.replace('.', "_")
    }
}

/// The subject a change of an object in `context` (its key part: `_`,
/// `org:{name}`, `project:{name}`), group, kind and namespace is published
/// on for watchers.
pub fn subject(prefix: &str, context: &str, group: &str, kind: &str, namespace: &str) -> String {
    format!(
        "{prefix}.{}.{}.{}.{}",
        token(context),
        token(group),
        token(kind),
        token(namespace)
    )
}

/// The subjects a watch of a collection reads: one namespace's, or all.
pub fn filter(
    prefix: &str,
    context: &str,
    group: &str,
    kind: &str,
    namespace: Option<&str>,
) -> String {
    let namespace = namespace.map_or_else(|| "*".to_string(), token);
    format!(
        "{prefix}.{}.{}.{}.{namespace}",
        token(context),
        token(group),
        token(kind)
    )
}

/// What a committed change was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        }
    }

    pub fn parse(value: &str) -> Option<ChangeKind> {
        match value {
            "create" => Some(ChangeKind::Create),
            "update" => Some(ChangeKind::Update),
            "delete" => Some(ChangeKind::Delete),
            _ => None,
        }
    }
}

/// The watch stream's message of one change: the object after it (before
/// it, for a delete) and, for an update, before it, so that a watcher
/// whose selector the object leaves or enters sees DELETED or ADDED.
pub fn message(change: ChangeKind, object: &Value, previous: Option<&Value>) -> Value {
    let mut message = json!({"change": change.as_str(), "object": object});
    if let Some(previous) = previous {
        message["previous"] = previous.clone();
    }
    message
}

/// A watch event's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
            EventType::Bookmark => "BOOKMARK",
            EventType::Error => "ERROR",
        }
    }
}

/// What a change is to a watcher whose selectors the object matched
/// before it (`before`) and matches after it (`after`), as Kubernetes
/// sends it: entering the selection is ADDED, leaving it DELETED; None
/// when the watcher sees neither side.
pub fn event_type(change: ChangeKind, before: bool, after: bool) -> Option<EventType> {
    match change {
        ChangeKind::Create => after.then_some(EventType::Added),
        ChangeKind::Delete => before.then_some(EventType::Deleted),
        ChangeKind::Update => match (before, after) {
            (true, true) => Some(EventType::Modified),
            (false, true) => Some(EventType::Added),
            (true, false) => Some(EventType::Deleted),
            (false, false) => None,
        },
    }
}

/// Where a watch starts, read from its resourceVersion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// "" or "0": the current state as ADDED events, then what follows.
    Now,
    /// A list's, bookmark's or event's: the changes after this position.
    After(u64),
    /// An object's own counter (a GET's): only a watch of that one object
    /// can start there (its changes since, from its current state).
    ObjectVersion(u64),
}

/// The position a resourceVersion names, as [`Start`].
pub fn start(resource_version: &str) -> Result<Start, String> {
    let malformed = || {
        format!(
            "invalid resourceVersion {resource_version:?}: use one a list, a watch event or a GET returned"
        )
    };
    match resource_version {
        "" | "0" => Ok(Start::Now),
        rv => match rv.split_once('.') {
            Some((version, sequence)) => {
                version.parse::<u64>().map_err(|_| malformed())?;
                sequence.parse().map(Start::After).map_err(|_| malformed())
            }
            None => rv
                .parse()
                .map(Start::ObjectVersion)
                .map_err(|_| malformed()),
        },
    }
}

/// The object counter a resourceVersion carries (what an update's
/// precondition compares): "7" and "7.1234" are both 7.
pub fn object_version(resource_version: &str) -> Option<u64> {
    resource_version.split('.').next()?.parse().ok()
}

/// An event's object's resourceVersion: its counter and the position.
pub fn event_resource_version(object_version: &str, sequence: u64) -> String {
    format!("{}.{sequence}", object_version_or_zero(object_version))
}

fn object_version_or_zero(resource_version: &str) -> u64 {
    object_version(resource_version).unwrap_or(0)
}

/// A list's or bookmark's resourceVersion: the position alone.
pub fn position_resource_version(sequence: u64) -> String {
    format!("0.{sequence}")
}

/// A watch's options (the query parameters Kubernetes defines for it).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchOptions {
    pub start: Start,
    pub bookmarks: bool,
    /// WatchList: the current state first, then the bookmark that ends it.
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
}

/// The raw parameters, as the query string gave them ("" when absent).
#[derive(Debug, Clone, Default)]
pub struct WatchParameters<'a> {
    pub resource_version: &'a str,
    pub resource_version_match: &'a str,
    pub allow_watch_bookmarks: &'a str,
    pub send_initial_events: &'a str,
    pub timeout_seconds: &'a str,
}

/// A boolean parameter as Kubernetes reads one: "0" and "false" in any
/// case are false, anything else true (Python clients send "True").
fn flag(value: &str) -> Option<bool> {
    (!value.is_empty()).then(|| crate::request_options::query_bool(value))
}

impl WatchOptions {
    /// Checks the parameters as Kubernetes does: WatchList
    /// (`sendInitialEvents`) needs `resourceVersionMatch=NotOlderThan` and
    /// bookmarks, and a watch takes no other `resourceVersionMatch`.
    pub fn parse(p: &WatchParameters) -> Result<WatchOptions, String> {
        let mut start = start(p.resource_version)?;
        let bookmarks = flag(p.allow_watch_bookmarks).unwrap_or(false);
        let initial = flag(p.send_initial_events);
        match (p.resource_version_match, initial) {
            ("", None) => {}
            ("NotOlderThan", Some(_)) => {}
            ("" | "Exact", Some(_)) => {
                return Err(
                    "sendInitialEvents needs resourceVersionMatch=NotOlderThan".to_string()
                )
            }
            ("NotOlderThan" | "Exact", None) => {
                return Err(format!(
                    "resourceVersionMatch={} is for lists; a watch takes it only with sendInitialEvents",
                    p.resource_version_match
                ))
            }
            (other, _) => {
                return Err(format!(
                    "resourceVersionMatch must be NotOlderThan or Exact, not {other:?}"
                ))
            }
        }
        if initial == Some(true) && !bookmarks {
            return Err("sendInitialEvents needs allowWatchBookmarks=true".to_string());
        }
        // The current state is never older than a version the caller saw.
        if initial == Some(true) {
            start = Start::Now;
        }
        let timeout = match p.timeout_seconds {
            "" => None,
            value => match value.parse::<i64>() {
                Ok(seconds) if seconds >= 0 => {
                    Some(Duration::from_secs(seconds as u64)).filter(|d| !d.is_zero())
                }
                _ => {
                    return Err(format!(
                        "timeoutSeconds must be a whole number of seconds, 0 or more, not {value:?}"
                    ))
                }
            },
        };
        Ok(WatchOptions {
            start,
            bookmarks,
            send_initial_events: initial == Some(true),
            timeout,
        })
    }
}

/// The versions a watch's initial events showed, by uid: a change the
/// watch then reads that is no newer is already shown (the stream is read
/// from a position taken before the list, so it can hold such changes).
#[derive(Debug, Default)]
pub struct Shown(HashMap<String, u64>);

impl Shown {
    pub fn record(&mut self, object: &Value) {
        if let (Some(uid), Some(version)) = (uid_of(object), version_of(object)) {
            self.0.insert(uid.to_string(), version);
        }
    }

    /// Whether a change to `object` (after it) was already shown; a
    /// delete never was.
    pub fn already(&self, change: ChangeKind, object: &Value) -> bool {
        if change == ChangeKind::Delete {
            return false;
        }
        match (
            uid_of(object).and_then(|uid| self.0.get(uid)),
            version_of(object),
        ) {
            (Some(shown), Some(version)) => version <= *shown,
            _ => false,
        }
    }
}

fn uid_of(object: &Value) -> Option<&str> {
    object["metadata"]["uid"].as_str()
}

fn version_of(object: &Value) -> Option<u64> {
    object_version(object["metadata"]["resourceVersion"].as_str()?)
}

/// One line of a watch response: `{"type": ..., "object": ...}`.
pub fn frame(event: EventType, object: &Value) -> Vec<u8> {
    let mut line =
        serde_json::to_vec(&json!({"type": event.as_str(), "object": object})).unwrap_or_default();
    line.push(b'\n');
    line
}

/// A bookmark's object: the kind's identity and the position alone.
pub fn bookmark(api_version: &str, kind: &str, sequence: u64, initial_events_end: bool) -> Value {
    let mut object = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"resourceVersion": position_resource_version(sequence)},
    });
    if initial_events_end {
        object["metadata"]["annotations"] = json!({INITIAL_EVENTS_END: "true"});
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_keep_one_token_per_part() {
        let s = subject(
            "milo.watch",
            "project:p1",
            "resourcemanager.miloapis.com",
            "Project",
            "",
        );
        assert_eq!(
            s,
            "milo.watch.project:p1.resourcemanager_miloapis_com.Project._"
        );
        assert_eq!(
            subject("w", "_", "", "ConfigMap", "default"),
            "w._._.ConfigMap.default"
        );
        assert_eq!(filter("w", "_", "", "ConfigMap", None), "w._._.ConfigMap.*");
        assert_eq!(
            filter("w", "_", "", "ConfigMap", Some("team")),
            "w._._.ConfigMap.team"
        );
    }

    #[test]
    fn a_watcher_sees_an_object_enter_and_leave_its_selection() {
        use ChangeKind::*;
        use EventType::*;
        assert_eq!(event_type(Create, false, true), Some(Added));
        assert_eq!(event_type(Create, false, false), None);
        assert_eq!(event_type(Update, true, true), Some(Modified));
        assert_eq!(event_type(Update, false, true), Some(Added));
        assert_eq!(event_type(Update, true, false), Some(Deleted));
        assert_eq!(event_type(Update, false, false), None);
        assert_eq!(event_type(Delete, true, false), Some(Deleted));
        assert_eq!(event_type(Delete, false, false), None);
    }

    #[test]
    fn resource_versions_name_where_a_watch_starts() {
        assert_eq!(start(""), Ok(Start::Now));
        assert_eq!(start("0"), Ok(Start::Now));
        assert_eq!(start("0.42"), Ok(Start::After(42)));
        assert_eq!(start("7.42"), Ok(Start::After(42)));
        assert_eq!(start("7"), Ok(Start::ObjectVersion(7)));
        for bad in ["x", "7.", ".4", "1.2.3", "-1", "7.x"] {
            assert!(start(bad).is_err(), "{bad}");
        }
        assert_eq!(object_version("7.42"), Some(7));
        assert_eq!(object_version("7"), Some(7));
        assert_eq!(event_resource_version("7", 42), "7.42");
        assert_eq!(position_resource_version(42), "0.42");
        assert_eq!(start(&event_resource_version("3", 9)), Ok(Start::After(9)));
    }

    fn options(p: WatchParameters) -> Result<WatchOptions, String> {
        WatchOptions::parse(&p)
    }

    #[test]
    fn watch_list_needs_not_older_than_and_bookmarks() {
        let ok = options(WatchParameters {
            resource_version_match: "NotOlderThan",
            allow_watch_bookmarks: "true",
            send_initial_events: "true",
            resource_version: "0.5",
            ..Default::default()
        })
        .unwrap();
        assert!(ok.send_initial_events && ok.bookmarks);
        assert_eq!(ok.start, Start::Now);
        let no_match = options(WatchParameters {
            allow_watch_bookmarks: "true",
            send_initial_events: "true",
            ..Default::default()
        });
        assert!(no_match.unwrap_err().contains("NotOlderThan"));
        let no_bookmarks = options(WatchParameters {
            resource_version_match: "NotOlderThan",
            send_initial_events: "true",
            ..Default::default()
        });
        assert!(no_bookmarks.unwrap_err().contains("allowWatchBookmarks"));
        let unknown = options(WatchParameters {
            resource_version_match: "Newest",
            ..Default::default()
        });
        assert!(unknown.unwrap_err().contains("NotOlderThan or Exact"));
        let alone = options(WatchParameters {
            resource_version_match: "Exact",
            ..Default::default()
        });
        assert!(alone.unwrap_err().contains("only with sendInitialEvents"));
    }

    #[test]
    fn timeouts_are_whole_non_negative_seconds() {
        let with = |t| {
            options(WatchParameters {
                timeout_seconds: t,
                ..Default::default()
            })
        };
        assert_eq!(with("30").unwrap().timeout, Some(Duration::from_secs(30)));
        assert_eq!(with("0").unwrap().timeout, None);
        assert!(with("-1").is_err());
        assert!(with("soon").is_err());
        let flags = |value| {
            options(WatchParameters {
                allow_watch_bookmarks: value,
                ..Default::default()
            })
            .unwrap()
            .bookmarks
        };
        // As Kubernetes reads booleans: Python clients send "True".
        assert!(flags("True") && flags("1") && flags("true"));
        assert!(!flags("False") && !flags("0") && !flags(""));
    }

    #[test]
    fn a_change_the_initial_events_showed_is_not_shown_again() {
        let object = |uid: &str, rv: &str| json!({"metadata": {"uid": uid, "resourceVersion": rv}});
        let mut shown = Shown::default();
        shown.record(&object("a", "3"));
        assert!(shown.already(ChangeKind::Update, &object("a", "3")));
        assert!(shown.already(ChangeKind::Create, &object("a", "2")));
        assert!(!shown.already(ChangeKind::Update, &object("a", "4")));
        assert!(!shown.already(ChangeKind::Delete, &object("a", "3")));
        assert!(!shown.already(ChangeKind::Create, &object("b", "1")));
    }

    #[test]
    fn frames_are_json_lines_and_bookmarks_carry_the_position() {
        let line = frame(EventType::Added, &json!({"a": 1}));
        assert_eq!(line.last(), Some(&b'\n'));
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed, json!({"type": "ADDED", "object": {"a": 1}}));
        let end = bookmark("v1", "ConfigMap", 12, true);
        assert_eq!(end["metadata"]["resourceVersion"], "0.12");
        assert_eq!(end["metadata"]["annotations"][INITIAL_EVENTS_END], "true");
        assert!(bookmark("v1", "ConfigMap", 12, false)["metadata"]
            .get("annotations")
            .is_none());
    }
}
