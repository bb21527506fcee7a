//! The metadata of what a policy creates: name, namespace, the system's
//! labels and annotations, the owner reference to the trigger, and the
//! claim's `resourceRef`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::names::{AUTO_CREATED_LABEL, CREATED_BY_ANNOTATION, POLICY_LABEL};
use super::trigger::split_api_version;
use crate::metadata_rules::{
    dns1123_label_errors, is_label_value, validate_annotations, validate_generate_name,
    validate_labels, validate_subdomain_name, DNS1123_SUBDOMAIN_MAX_LENGTH,
};
use crate::Cause;

/// The created object's metadata: the rendered name (or generateName, or a
/// name derived from trigger and policy), namespace (or the trigger's),
/// labels with the system's, annotations with `created-by`; each checked.
pub(crate) fn assemble_metadata(
    rendered: &Value,
    trigger: &Value,
    policy: &str,
    created_by: &str,
    causes: &mut Vec<Cause>,
) -> Map<String, Value> {
    let meta = &rendered["metadata"];
    let text = |key: &str| meta[key].as_str().unwrap_or_default().to_string();
    let trigger_name = trigger["metadata"]["name"].as_str().unwrap_or_default();
    let mut out = Map::new();

    let (name, generate_name) = (text("name"), text("generateName"));
    if !name.is_empty() {
        causes.extend(validate_subdomain_name("metadata.name", &name));
        out.insert("name".into(), json!(name));
    } else if !generate_name.is_empty() {
        causes.extend(validate_generate_name(
            "metadata.generateName",
            &generate_name,
            DNS1123_SUBDOMAIN_MAX_LENGTH,
        ));
        out.insert("generateName".into(), json!(generate_name));
    } else {
        out.insert("name".into(), json!(default_name(trigger_name, policy)));
    }

    let namespace = match text("namespace") {
        n if n.is_empty() => trigger["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        n => n,
    };
    if namespace.is_empty() {
        causes.push(Cause::required("metadata.namespace"));
    } else {
        for detail in dns1123_label_errors(&namespace) {
            causes.push(Cause::invalid(
                "metadata.namespace",
                format!("Invalid value: {namespace:?}: {detail}"),
            ));
        }
    }
    out.insert("namespace".into(), json!(namespace));

    let mut labels: BTreeMap<String, String> =
        string_map(&meta["labels"], "metadata.labels", causes);
    labels.insert(AUTO_CREATED_LABEL.into(), "true".into());
    if is_label_value(policy) {
        labels.insert(POLICY_LABEL.into(), policy.into());
    }
    causes.extend(validate_labels("metadata.labels", &labels));
    out.insert("labels".into(), json!(labels));

    let mut annotations = string_map(&meta["annotations"], "metadata.annotations", causes);
    annotations.insert(CREATED_BY_ANNOTATION.into(), created_by.into());
    causes.extend(validate_annotations("metadata.annotations", &annotations));
    out.insert("annotations".into(), json!(annotations));
    out
}

fn string_map(value: &Value, path: &str, causes: &mut Vec<Cause>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(map) = value.as_object() else {
        if !value.is_null() {
            causes.push(Cause::invalid(path, "must be an object of strings"));
        }
        return out;
    };
    for (k, v) in map {
        match v.as_str() {
            Some(s) => {
                out.insert(k.clone(), s.to_string());
            }
            None => causes.push(Cause::invalid(format!("{path}[{k}]"), "must be a string")),
        }
    }
    out
}

/// `{trigger}-{policy}`, so that the same trigger and policy always give
/// the same name (a retried create finds what it wrote). Cut to fit, with
/// a short hash of the whole so that cut names stay distinct.
fn default_name(trigger: &str, policy: &str) -> String {
    let full = format!("{trigger}-{policy}");
    if full.len() <= DNS1123_SUBDOMAIN_MAX_LENGTH {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let kept: String = full
        .chars()
        .take(DNS1123_SUBDOMAIN_MAX_LENGTH - hash.len() - 1)
        .collect();
    format!("{}-{hash}", kept.trim_end_matches(['-', '.']))
}

pub(crate) fn owner_reference(trigger: &Value, controller: bool) -> Value {
    let mut owner = json!({
        "apiVersion": trigger["apiVersion"],
        "kind": trigger["kind"],
        "name": trigger["metadata"]["name"],
        "controller": controller,
        "blockOwnerDeletion": false,
    });
    if let Some(uid) = trigger["metadata"]["uid"].as_str() {
        owner["uid"] = json!(uid);
    }
    owner
}

pub(crate) fn resource_ref(trigger: &Value) -> Value {
    let (group, _) = split_api_version(trigger["apiVersion"].as_str().unwrap_or_default());
    let mut reference = json!({
        "apiGroup": group,
        "kind": trigger["kind"],
        "name": trigger["metadata"]["name"],
    });
    if let Some(ns) = trigger["metadata"]["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
    {
        reference["namespace"] = json!(ns);
    }
    reference
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_stable_and_fit() {
        assert_eq!(default_name("p1", "policy"), "p1-policy");
        let long = default_name(&"a".repeat(200), &"b".repeat(100));
        assert_eq!(long.len(), DNS1123_SUBDOMAIN_MAX_LENGTH);
        assert_eq!(long, default_name(&"a".repeat(200), &"b".repeat(100)));
        assert!(crate::metadata_rules::dns1123_subdomain_errors(&long).is_empty());
    }
}
