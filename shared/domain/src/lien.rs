//! Liens (#21), after Google Cloud Resource Manager's, pure: what a Lien
//! says (its target, the permissions it restricts, why and who), the
//! checks of a lien written, and how a hold names the liens behind it in
//! the refusal of a delete. A lien restricts deletes: `{group}/{plural}.delete`
//! of its target's kind (the core group spelt `core`, as permissions are).

use crate::error::Cause;
use crate::iam::permission_group;
use crate::object::Object;

/// What a lien holds: an object of its own context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The kind's group, empty for the core group.
    pub group: String,
    pub kind: String,
    pub name: String,
    /// Set for a namespaced kind.
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lien {
    pub target: Target,
    pub restrictions: Vec<String>,
    pub reason: String,
    pub origin: String,
}

impl Lien {
    /// A lien as stored (the schema has checked its shape).
    pub fn of(obj: &Object) -> Lien {
        let spec = obj.spec();
        let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
        let target = &spec["targetRef"];
        Lien {
            target: Target {
                group: text(&target["apiGroup"]),
                kind: text(&target["kind"]),
                name: text(&target["name"]),
                namespace: text(&target["namespace"]),
            },
            restrictions: spec["restrictions"]
                .as_array()
                .map(|list| list.iter().map(text).collect())
                .unwrap_or_default(),
            reason: text(&spec["reason"]),
            origin: text(&spec["origin"]),
        }
    }

    /// The one restriction a lien on a kind of `plural` may name: its delete.
    pub fn delete_permission(&self, plural: &str) -> String {
        format!("{}/{plural}.delete", permission_group(&self.target.group))
    }

    /// Each restriction must be the delete of the target's kind (of
    /// `plural`); `namespaced`: whether that kind is, which decides
    /// whether the target names a namespace.
    pub fn causes(&self, plural: &str, namespaced: bool) -> Vec<Cause> {
        let mut causes = Vec::new();
        let delete = self.delete_permission(plural);
        for (i, restriction) in self.restrictions.iter().enumerate() {
            if *restriction != delete {
                causes.push(Cause::invalid(
                    format!("spec.restrictions[{i}]"),
                    format!(
                        "a lien on a {} restricts its delete: {delete} (not {restriction})",
                        self.target.kind
                    ),
                ));
            }
        }
        match (namespaced, self.target.namespace.is_empty()) {
            (true, true) => causes.push(Cause::invalid(
                "spec.targetRef.namespace",
                format!(
                    "{} is namespaced: name the target's namespace",
                    self.target.kind
                ),
            )),
            (false, false) => causes.push(Cause::invalid(
                "spec.targetRef.namespace",
                format!(
                    "{} is cluster-scoped: its target has no namespace",
                    self.target.kind
                ),
            )),
            _ => {}
        }
        causes
    }

    /// What a hold records of this lien, named `name` in `context` (the
    /// attribute's value): what the refusal of a delete shows.
    pub fn hold_text(&self, context: &str, name: &str) -> String {
        let at = match context {
            "" => name.to_string(),
            context => format!("{context}/{name}"),
        };
        format!("lien {at} ({}: {})", self.origin, self.reason)
    }
}

/// The prefix of the hold item's attributes that each name a lien.
pub const HOLD_ATTRIBUTE_PREFIX: &str = "lien#";

/// The message of a delete refused because liens hold the object.
pub fn held_message(kind: &str, name: &str, holds: &[String]) -> String {
    let holds = match holds.is_empty() {
        true => "a lien".to_string(),
        false => holds.join("; "),
    };
    format!(
        "{} \"{name}\" cannot be deleted: it is held by {holds}; delete the lien first (it may hold something this contains)",
        kind.to_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lien(target: serde_json::Value, restrictions: &[&str]) -> Lien {
        Lien::of(
            &Object::from_value(json!({"metadata": {"name": "keep"}, "spec": {
                "targetRef": target, "restrictions": restrictions,
                "reason": "billing runs", "origin": "billing.example.com"}}))
            .unwrap(),
        )
    }

    #[test]
    fn a_lien_restricts_the_delete_of_its_targets_kind() {
        let project = lien(
            json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p1"}),
            &["resourcemanager.miloapis.com/projects.delete"],
        );
        assert!(project.causes("projects", false).is_empty());
        let configmap = lien(
            json!({"kind": "ConfigMap", "name": "c", "namespace": "default"}),
            &["core/configmaps.delete"],
        );
        assert!(configmap.causes("configmaps", true).is_empty());
        let update = lien(
            json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p1"}),
            &["resourcemanager.miloapis.com/projects.update"],
        );
        let causes = update.causes("projects", false);
        assert_eq!(causes[0].field, "spec.restrictions[0]");
        assert!(causes[0].message.contains("projects.delete"), "{causes:?}");
    }

    #[test]
    fn a_target_names_a_namespace_exactly_when_its_kind_has_one() {
        let no_namespace = lien(
            json!({"kind": "ConfigMap", "name": "c"}),
            &["core/configmaps.delete"],
        );
        assert_eq!(
            no_namespace.causes("configmaps", true)[0].field,
            "spec.targetRef.namespace"
        );
        let extra = lien(
            json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p", "namespace": "x"}),
            &["resourcemanager.miloapis.com/projects.delete"],
        );
        assert_eq!(extra.causes("projects", false).len(), 1);
    }

    #[test]
    fn a_refusal_names_each_lien_with_its_origin_and_reason() {
        let project = lien(
            json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p1"}),
            &["resourcemanager.miloapis.com/projects.delete"],
        );
        let text = project.hold_text("project:p1", "keep");
        assert_eq!(
            text,
            "lien project:p1/keep (billing.example.com: billing runs)"
        );
        let message = held_message("Project", "p1", &[text]);
        assert!(
            message.starts_with("project \"p1\" cannot be deleted: it is held by lien"),
            "{message}"
        );
    }
}
