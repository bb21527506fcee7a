//! Defaulting and pruning, as Kubernetes' structural `Default` and `Prune`.
//! Both walk the object along the schema only, so the schema's depth bounds
//! their recursion.

use serde_json::Value;

use super::node::{Additional, Node};
use super::{child_path, key_path};

/// Fills absent properties (and nulls of non-nullable ones) with a copy of
/// their default, then recurses into every value with a schema: defaults
/// inside a defaulted value are applied too.
pub(super) fn apply_defaults(node: &Node, value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, prop) in &node.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                match map.get_mut(name) {
                    None => {
                        map.insert(name.clone(), default.clone());
                    }
                    Some(v) => default_null(prop, v),
                }
            }
            for (key, v) in map.iter_mut() {
                if node.is_resource() && key == "metadata" {
                    continue;
                }
                if let Some(prop) = node.property(key) {
                    apply_defaults(prop, v);
                } else if let Additional::Schema(values) = &node.additional {
                    default_null(values, v);
                    apply_defaults(values, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = node.items.as_deref() {
                for v in items {
                    default_null(item, v);
                    apply_defaults(item, v);
                }
            }
        }
        _ => {}
    }
}

/// A null where the schema is not nullable but has a default gets the
/// default, as in Kubernetes.
fn default_null(node: &Node, value: &mut Value) {
    if value.is_null() && !node.nullable {
        if let Some(default) = &node.default {
            *value = default.clone();
        }
    }
}

/// Removes the fields the schema does not know, returning their paths.
pub(super) fn prune(node: &Node, value: &mut Value) -> Vec<String> {
    let mut removed = Vec::new();
    prune_node(node, value, "", &mut removed);
    removed
}

fn prune_node(node: &Node, value: &mut Value, path: &str, removed: &mut Vec<String>) {
    if node.preserve_unknown {
        prune_known(node, value, path, removed);
        return;
    }
    match value {
        Value::Object(map) => {
            let mut unknown = Vec::new();
            for (key, v) in map.iter_mut() {
                if node.is_resource_field(key) {
                    continue;
                }
                if let Some(prop) = node.property(key) {
                    prune_node(prop, v, &child_path(path, key), removed);
                    continue;
                }
                match &node.additional {
                    Additional::Schema(values) => {
                        prune_node(values, v, &key_path(path, key), removed)
                    }
                    // `additionalProperties: true`: any value, kept whole.
                    Additional::Any => {}
                    Additional::Absent => {
                        removed.push(child_path(path, key));
                        unknown.push(key.clone());
                    }
                }
            }
            for key in unknown {
                map.shift_remove(&key);
            }
        }
        Value::Array(items) => {
            if let Some(item) = node.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    prune_node(item, v, &key_path(path, i), removed);
                }
            }
        }
        _ => {}
    }
}

/// Under `x-kubernetes-preserve-unknown-fields`: unknown fields stay, the
/// known ones are pruned along their own schema (Kubernetes' `skipPrune`).
fn prune_known(node: &Node, value: &mut Value, path: &str, removed: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if node.is_resource_field(key) {
                    continue;
                }
                if let Some(prop) = node.property(key) {
                    prune_node(prop, v, &child_path(path, key), removed);
                } else if let Additional::Schema(values) = &node.additional {
                    prune_node(values, v, &key_path(path, key), removed);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = node.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    prune_known(item, v, &key_path(path, i), removed);
                }
            }
        }
        _ => {}
    }
}
