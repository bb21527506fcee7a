//! The deletion lifecycle's rules (#21), pure: when a delete is graceful
//! (the object stays, Terminating, with a `deletionTimestamp`, until its
//! finalizers are gone and, for a container, its children), what a delete
//! adds for its propagation policy, what an update of a Terminating object
//! may not do, and the condition a container shows while it waits.

use serde_json::{json, Value};

use crate::error::Cause;
use crate::kinds::{split_api_version, Scope};
use crate::object::{Object, OwnerReference};
use crate::request_options::{DeleteOptions, PropagationPolicy};

/// Kubernetes' garbage-collector finalizers: the owner stays until its
/// blocking dependents are gone (Foreground), or until its dependents'
/// references to it are removed (Orphan).
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
pub const ORPHAN_FINALIZER: &str = "orphan";

/// The condition a Terminating container carries while it waits, in
/// Milo's terms (a project's ResourceCleanup).
pub const CLEANUP_CONDITION: &str = "ResourceCleanup";
pub const CLEANUP_WAITING: &str = "CleanupAwaitingCompletion";

/// The propagation a delete asked for; Background when it named none
/// (`orphanDependents: true` is the deprecated Orphan).
pub fn propagation(options: &DeleteOptions) -> PropagationPolicy {
    match (options.propagation_policy, options.orphan_dependents) {
        (Some(policy), _) => policy,
        (None, Some(true)) => PropagationPolicy::Orphan,
        _ => PropagationPolicy::Background,
    }
}

/// The finalizer a delete adds for its propagation (none for Background).
pub fn finalizer_for(policy: PropagationPolicy) -> Option<&'static str> {
    match policy {
        PropagationPolicy::Foreground => Some(FOREGROUND_FINALIZER),
        PropagationPolicy::Orphan => Some(ORPHAN_FINALIZER),
        PropagationPolicy::Background => None,
    }
}

/// Whether the object is Terminating: a delete started and it waits.
pub fn is_terminating(obj: &Object) -> bool {
    obj.metadata.deletion_timestamp.is_some()
}

/// `old` as a delete leaves it when it cannot go at once: the
/// `deletionTimestamp` set (`now`), the grace period 0, the generation
/// moved (as Kubernetes does), the propagation's finalizer added.
pub fn terminating(old: &Object, policy: PropagationPolicy, now: &str) -> Object {
    let mut new = old.clone();
    let meta = &mut new.metadata;
    meta.deletion_timestamp = Some(now.to_string());
    meta.deletion_grace_period_seconds = Some(0);
    meta.generation = Some(old.metadata.generation.unwrap_or(1) + 1);
    if let Some(finalizer) = finalizer_for(policy) {
        if !meta.finalizers.iter().any(|f| f == finalizer) {
            meta.finalizers.push(finalizer.to_string());
        }
    }
    new
}

/// Whether a Terminating object may go now as far as its own metadata
/// says: no finalizer left (a container also waits for its children).
pub fn finalizers_done(obj: &Object) -> bool {
    is_terminating(obj) && obj.metadata.finalizers.is_empty()
}

/// What an update of a Terminating object may not do: add a finalizer
/// (Kubernetes' rule; removing them is how the object goes).
pub fn update_causes(old: &Object, new: &Object) -> Vec<Cause> {
    if !is_terminating(old) {
        return Vec::new();
    }
    let added: Vec<&str> = new
        .metadata
        .finalizers
        .iter()
        .filter(|f| !old.metadata.finalizers.contains(f))
        .map(String::as_str)
        .collect();
    match added.is_empty() {
        true => Vec::new(),
        false => vec![Cause::forbidden(
            "metadata.finalizers",
            format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                added.join(", ")
            ),
        )],
    }
}

/// The owner references an object's owner index items name (#21): all
/// but its hierarchy parent's (a folder's or project's), whose delete the
/// cascade through the child index already reaches it by.
pub fn indexed_owner_references<'a>(
    kind: &str,
    obj: &'a Object,
) -> impl Iterator<Item = &'a OwnerReference> + 'a {
    let parent = crate::hierarchy::parent_of(kind, obj.spec());
    obj.metadata
        .owner_references
        .iter()
        .filter(|o| !o.uid.is_empty())
        .filter(move |o| {
            !parent
                .as_ref()
                .is_some_and(|p| o.kind == p.kind.kind().kind && o.name == p.name)
        })
}

/// Kubernetes' scope rules for owner references, which carry no
/// namespace: the owner's kind must be served (`scope_of` answers its
/// scope), and a cluster-scoped object cannot be owned by a namespaced
/// kind (a namespaced owner is looked up in the dependent's namespace).
pub fn owner_reference_causes(
    obj: &Object,
    dependent_namespaced: bool,
    scope_of: impl Fn(&str, &str) -> Option<Scope>,
) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (i, owner) in obj.metadata.owner_references.iter().enumerate() {
        let field = format!("metadata.ownerReferences[{i}]");
        let (group, _) = split_api_version(&owner.api_version);
        match scope_of(group, &owner.kind) {
            None => causes.push(Cause::invalid(
                format!("{field}.kind"),
                format!(
                    "{} {} is not a kind this server serves; an owner must be an object that can exist",
                    owner.api_version, owner.kind
                ),
            )),
            Some(Scope::Namespaced) if !dependent_namespaced => causes.push(Cause::invalid(
                field,
                format!(
                    "a cluster-scoped object cannot be owned by {} {}, which is namespaced (owner references carry no namespace)",
                    owner.kind, owner.name
                ),
            )),
            Some(_) => {}
        }
    }
    causes
}

/// One thing a Terminating container waits for, as its condition names
/// it: `configmap default/held-resource (finalizers: example.com/x)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The kind, lowercase.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Its finalizers when it is Terminating; empty while it is still
    /// being deleted (or its own contents are).
    pub finalizers: Vec<String>,
    /// Why its delete was refused (a rule of its kind), if it was.
    pub refused: Option<String>,
}

impl Waiting {
    pub fn of(kind: &str, obj: &Object) -> Waiting {
        Waiting {
            kind: kind.to_lowercase(),
            namespace: obj.metadata.namespace.clone(),
            name: obj.metadata.name.clone(),
            finalizers: obj.metadata.finalizers.clone(),
            refused: None,
        }
    }

    /// An object whose delete was refused, with the refusal's message.
    pub fn refused(kind: &str, obj: &Object, message: &str) -> Waiting {
        Waiting {
            refused: Some(message.to_string()),
            ..Waiting::of(kind, obj)
        }
    }

    fn describe(&self) -> String {
        let name = match self.namespace.as_str() {
            "" => self.name.clone(),
            ns => format!("{ns}/{}", self.name),
        };
        let mut described = format!("{} {name}", self.kind);
        if !self.finalizers.is_empty() {
            described += &format!(" (finalizers: {})", self.finalizers.join(", "));
        }
        if let Some(refusal) = &self.refused {
            described += &format!(" (its delete was refused: {refusal})");
        }
        described
    }
}

/// How many waiting objects a condition names; the rest are counted.
const NAMED_AT_MOST: usize = 10;

/// The condition of a Terminating container: True while something is
/// left (naming it), False once nothing is.
pub fn cleanup_condition(waiting: &[Waiting], now: &str) -> Value {
    let (status, message) = match waiting.len() {
        0 => ("False", "nothing left to delete".to_string()),
        n => {
            let mut named: Vec<String> = waiting
                .iter()
                .take(NAMED_AT_MOST)
                .map(Waiting::describe)
                .collect();
            if n > NAMED_AT_MOST {
                named.push(format!("and {} more", n - NAMED_AT_MOST));
            }
            ("True", format!("waiting for {}", named.join("; ")))
        }
    };
    json!({
        "type": CLEANUP_CONDITION,
        "status": status,
        "reason": CLEANUP_WAITING,
        "message": message,
        "lastTransitionTime": now,
    })
}

/// `status` with `condition` in place of the one of its type (the
/// transition time kept when neither status nor message moved). `None`
/// when nothing changed.
pub fn with_condition(status: &Value, condition: &Value) -> Option<Value> {
    let mut status = match status {
        Value::Object(_) => status.clone(),
        _ => json!({}),
    };
    let kind = &condition["type"];
    let conditions = status
        .as_object_mut()?
        .entry("conditions")
        .or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut()?;
    match list.iter_mut().find(|c| c["type"] == *kind) {
        Some(existing)
            if existing["status"] == condition["status"]
                && existing["message"] == condition["message"] =>
        {
            return None
        }
        Some(existing) => *existing = condition.clone(),
        None => list.push(condition.clone()),
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(finalizers: &[&str]) -> Object {
        Object::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "held", "namespace": "default", "generation": 3,
                         "finalizers": finalizers}
        }))
        .unwrap()
    }

    #[test]
    fn a_delete_names_its_propagation_or_is_background() {
        let options = |body: &str| DeleteOptions::from_body(body.as_bytes(), "v1").unwrap();
        assert_eq!(propagation(&options("")), PropagationPolicy::Background);
        assert_eq!(
            propagation(&options(r#"{"propagationPolicy":"Foreground"}"#)),
            PropagationPolicy::Foreground
        );
        assert_eq!(
            propagation(&options(r#"{"orphanDependents":true}"#)),
            PropagationPolicy::Orphan
        );
    }

    #[test]
    fn terminating_sets_the_timestamp_moves_the_generation_and_adds_the_finalizer() {
        let old = object(&["example.com/a"]);
        let new = terminating(&old, PropagationPolicy::Foreground, "2026-12-07T00:00:00Z");
        assert_eq!(
            new.metadata.deletion_timestamp.as_deref(),
            Some("2026-12-07T00:00:00Z")
        );
        assert_eq!(new.metadata.deletion_grace_period_seconds, Some(0));
        assert_eq!(new.metadata.generation, Some(4));
        assert_eq!(
            new.metadata.finalizers,
            vec!["example.com/a", FOREGROUND_FINALIZER]
        );
        assert!(!finalizers_done(&new));
        let background = terminating(&object(&[]), PropagationPolicy::Background, "t");
        assert!(finalizers_done(&background));
    }

    #[test]
    fn a_terminating_object_takes_no_new_finalizer_but_may_lose_them() {
        let old = terminating(
            &object(&["example.com/a"]),
            PropagationPolicy::Background,
            "t",
        );
        let mut added = old.clone();
        added.metadata.finalizers.push("example.com/b".into());
        let causes = update_causes(&old, &added);
        assert_eq!(causes.len(), 1);
        assert!(causes[0].message.contains("example.com/b"), "{causes:?}");
        let mut removed = old.clone();
        removed.metadata.finalizers.clear();
        assert!(update_causes(&old, &removed).is_empty());
        // Before a delete starts, finalizers come and go freely.
        let live = object(&[]);
        assert!(update_causes(&live, &object(&["example.com/b"])).is_empty());
    }

    #[test]
    fn the_cleanup_condition_names_what_is_left_and_its_finalizers() {
        let waiting = vec![
            Waiting::of(
                "ConfigMap",
                &object(&["test.miloapis.com/consumer-cleanup"]),
            ),
            Waiting {
                kind: "namespace".into(),
                namespace: String::new(),
                name: "blocked-ns".into(),
                finalizers: vec![],
                refused: None,
            },
        ];
        let condition = cleanup_condition(&waiting, "t");
        assert_eq!(condition["status"], "True");
        assert_eq!(condition["reason"], CLEANUP_WAITING);
        let message = condition["message"].as_str().unwrap();
        assert!(
            message.contains(
                "configmap default/held (finalizers: test.miloapis.com/consumer-cleanup)"
            ) && message.contains("namespace blocked-ns"),
            "{message}"
        );
        let many: Vec<Waiting> = (0..12)
            .map(|i| Waiting {
                kind: "configmap".into(),
                namespace: "ns".into(),
                name: format!("c{i}"),
                finalizers: vec![],
                refused: None,
            })
            .collect();
        let message = cleanup_condition(&many, "t")["message"].clone();
        assert!(
            message.as_str().unwrap().ends_with("and 2 more"),
            "{message}"
        );
        let refused = Waiting::refused("OrganizationMembership", &object(&[]), "the last owner");
        let message = cleanup_condition(&[refused], "t")["message"].clone();
        assert!(
            message
                .as_str()
                .unwrap()
                .contains("(its delete was refused: the last owner)"),
            "{message}"
        );
        assert_eq!(cleanup_condition(&[], "t")["status"], "False");
    }

    #[test]
    fn a_condition_replaces_its_type_and_unchanged_is_none() {
        let status = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        let condition = cleanup_condition(&[], "t1");
        let updated = with_condition(&status, &condition).unwrap();
        assert_eq!(updated["conditions"].as_array().unwrap().len(), 2);
        let again = cleanup_condition(&[], "t2");
        assert_eq!(with_condition(&updated, &again), None);
        assert!(with_condition(&Value::Null, &condition).is_some());
    }

    #[test]
    fn an_owner_must_be_a_served_kind_and_a_cluster_object_has_no_namespaced_owner() {
        let with_owner = |api_version: &str, kind: &str| {
            Object::from_value(json!({"metadata": {"name": "d", "ownerReferences": [
                {"apiVersion": api_version, "kind": kind, "name": "o", "uid": "u"}
            ]}}))
            .unwrap()
        };
        let scope_of = |group: &str, kind: &str| match (group, kind) {
            ("", "ConfigMap") => Some(Scope::Namespaced),
            ("resourcemanager.miloapis.com", "Project") => Some(Scope::Cluster),
            _ => None,
        };
        let project = with_owner("resourcemanager.miloapis.com/v1alpha1", "Project");
        assert!(owner_reference_causes(&project, true, scope_of).is_empty());
        assert!(owner_reference_causes(&project, false, scope_of).is_empty());
        let configmap = with_owner("v1", "ConfigMap");
        assert!(owner_reference_causes(&configmap, true, scope_of).is_empty());
        let causes = owner_reference_causes(&configmap, false, scope_of);
        assert_eq!(causes.len(), 1);
        assert!(causes[0].message.contains("namespaced"), "{causes:?}");
        let missing = with_owner("example.com/v1", "Nothing");
        let causes = owner_reference_causes(&missing, true, scope_of);
        assert_eq!(causes[0].field, "metadata.ownerReferences[0].kind");
    }
}
