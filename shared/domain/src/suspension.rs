//! Milo's ProjectSuspension (issue #18), pure. A suspension is stored in the
//! platform context as a child of the project it names, so it is refused
//! when that project does not exist and goes with the project when the
//! project is deleted. Writing or deleting one rewrites the project's status
//! in the same transaction: `status.suspensions` (one entry per suspension,
//! in the order they were made) and the `Suspended` condition, which the
//! project's control plane reads to refuse writes while it is suspended.

use serde_json::{json, Value};

/// The cause reason of a write refused because its project is suspended.
pub const CAUSE_REASON: &str = "ProjectSuspended";
pub const SUSPENDED_CONDITION: &str = "Suspended";

/// The project a suspension's spec names (`spec.projectRef.name`); the
/// schema requires it, so `None` only for a spec the schema refused.
pub fn suspended_project(spec: &Value) -> Option<&str> {
    spec["projectRef"]["name"].as_str()
}

/// The project's `status.suspensions` entry of one suspension (Milo's
/// ProjectSuspensionInfo: no name, so two suspensions alike in these three
/// fields are interchangeable).
pub fn entry(suspension: &Value) -> Value {
    json!({
        "reason": suspension["spec"]["reason"],
        "reinstateAuthority": suspension["spec"]["reinstateAuthority"],
        "suspendedAt": suspension["metadata"]["creationTimestamp"],
    })
}

/// A suspension's status from its creation: in effect until it is deleted
/// (which is what lifts it here, so `Lifted` is never stored).
pub fn created_status() -> Value {
    json!({ "phase": "Active" })
}

/// Whether a project (as stored) is suspended.
pub fn is_suspended(project: &Value) -> bool {
    project["status"]["suspensions"]
        .as_array()
        .is_some_and(|s| !s.is_empty())
}

/// The project's status with `entry` added.
pub fn status_with(status: &Value, entry: Value, now: &str) -> Value {
    let mut status = as_object(status);
    let mut list = status["suspensions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.push(entry);
    status["suspensions"] = Value::Array(list);
    set_condition(&mut status, true, now);
    status
}

/// The project's status with one entry equal to `entry` removed; the
/// project is active again when none is left.
pub fn status_without(status: &Value, entry: &Value, now: &str) -> Value {
    let mut status = as_object(status);
    let mut list = status["suspensions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(at) = list.iter().position(|e| e == entry) {
        list.remove(at);
    }
    let suspended = !list.is_empty();
    if suspended {
        status["suspensions"] = Value::Array(list);
    } else if let Some(fields) = status.as_object_mut() {
        fields.remove("suspensions");
    }
    set_condition(&mut status, suspended, now);
    status
}

fn as_object(status: &Value) -> Value {
    if status.is_object() {
        status.clone()
    } else {
        json!({})
    }
}

/// Sets `Suspended` (first among the conditions, as Milo lists it), its
/// transition time moved only when its status changes.
fn set_condition(status: &mut Value, suspended: bool, now: &str) {
    let (value, reason, message) = if suspended {
        ("True", "Suspended", "The project is suspended")
    } else {
        ("False", "Active", "The project is not suspended")
    };
    let mut conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let at = conditions
        .iter()
        .position(|c| c["type"] == SUSPENDED_CONDITION);
    let since = match at {
        Some(i) if conditions[i]["status"] == value => conditions[i]["lastTransitionTime"].clone(),
        _ => Value::String(now.into()),
    };
    let condition = json!({
        "type": SUSPENDED_CONDITION,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    });
    match at {
        Some(i) => conditions[i] = condition,
        None => conditions.insert(0, condition),
    }
    status["conditions"] = Value::Array(conditions);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suspension(reason: &str, at: &str) -> Value {
        json!({
            "metadata": {"name": "s", "creationTimestamp": at},
            "spec": {"projectRef": {"name": "p1"}, "reason": reason, "reinstateAuthority": "Operator"}
        })
    }

    #[test]
    fn the_project_is_read_from_the_project_ref() {
        let spec = json!({"projectRef": {"name": "p1"}, "reason": "Abuse"});
        assert_eq!(suspended_project(&spec), Some("p1"));
        assert_eq!(suspended_project(&json!({})), None);
    }

    #[test]
    fn suspensions_are_listed_in_order_and_the_last_one_lifted_makes_the_project_active() {
        let ready = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]});
        let abuse = entry(&suspension("Abuse", "t1"));
        let billing = entry(&suspension("Billing", "t2"));
        let one = status_with(&ready, abuse.clone(), "t1");
        let two = status_with(&one, billing.clone(), "t2");
        assert_eq!(two["suspensions"], json!([abuse, billing]));
        assert_eq!(two["conditions"][0]["type"], "Suspended");
        assert_eq!(two["conditions"][0]["status"], "True");
        assert_eq!(two["conditions"][0]["lastTransitionTime"], "t1");
        assert_eq!(two["conditions"][1]["type"], "Ready");
        assert!(is_suspended(&json!({ "status": two })));

        let left = status_without(&two, &abuse, "t3");
        assert_eq!(left["suspensions"], json!([billing]));
        assert_eq!(left["conditions"][0]["status"], "True");
        let none = status_without(&left, &billing, "t4");
        assert_eq!(none.get("suspensions"), None);
        assert_eq!(none["conditions"][0]["status"], "False");
        assert_eq!(none["conditions"][0]["reason"], "Active");
        assert_eq!(none["conditions"][0]["lastTransitionTime"], "t4");
        assert_eq!(none["conditions"][1]["type"], "Ready");
        assert!(!is_suspended(&json!({ "status": none })));
        assert!(!is_suspended(&json!({})));
    }
}
