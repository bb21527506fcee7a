//! Milo's ProjectSuspension (issue #18), pure: which project a suspension
//! names. A suspension is stored in the platform context as a child of the
//! project it names, so it is refused when that project does not exist and
//! goes with the project when the project is deleted.

use serde_json::Value;

/// The project a suspension's spec names (`spec.projectRef.name`); the
/// schema requires it, so `None` only for a spec the schema refused.
pub fn suspended_project(spec: &Value) -> Option<&str> {
    spec["projectRef"]["name"].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_project_is_read_from_the_project_ref() {
        let spec = json!({"projectRef": {"name": "p1"}, "reason": "Abuse"});
        assert_eq!(suspended_project(&spec), Some("p1"));
        assert_eq!(suspended_project(&json!({})), None);
    }
}
