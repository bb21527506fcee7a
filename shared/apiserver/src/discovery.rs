//! Discovery documents (`/version`, `/api`, `/apis`, `/apis/{g}/{v}`) for the
//! kinds served in a context, so kubectl can map names to resources.

use domain::kinds::{self, ContextKind, KindInfo, Scope};
use serde_json::{json, Value};

const VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update"];

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "31",
        "gitVersion": concat!("v1.31.0+milo-lambda.", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": "linux/lambda",
    })
}

/// `/api`: the legacy core group. No core kinds are served yet, so it lists
/// no version (kubectl refuses a version with no resources).
pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "apiVersion": "v1", "versions": [], "serverAddressByClientCIDRs": []})
}

pub fn core_resources() -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": []})
}

fn group_names(context: ContextKind) -> Vec<&'static str> {
    let mut groups: Vec<&str> = kinds::served_in(context).map(|k| k.group).collect();
    groups.dedup();
    groups
}

fn versions_of(context: ContextKind, group: &str) -> Vec<&'static str> {
    let mut versions: Vec<&str> = kinds::served_in(context)
        .filter(|k| k.group == group)
        .map(|k| k.version)
        .collect();
    versions.dedup();
    versions
}

fn group_document(context: ContextKind, group: &str) -> Value {
    let versions: Vec<Value> = versions_of(context, group)
        .into_iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

pub fn groups(context: ContextKind) -> Value {
    let groups: Vec<Value> = group_names(context)
        .into_iter()
        .map(|g| group_document(context, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(context: ContextKind, group: &str) -> Option<Value> {
    group_names(context)
        .contains(&group)
        .then(|| group_document(context, group))
}

pub fn group_resources(context: ContextKind, group: &str, version: &str) -> Option<Value> {
    let served: Vec<&KindInfo> = kinds::served_in(context)
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let resources: Vec<Value> = served.iter().flat_map(|k| resource_entries(k)).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{group}/{version}"),
        "resources": resources,
    }))
}

fn resource_entries(kind: &KindInfo) -> [Value; 2] {
    let namespaced = kind.scope == Scope::Namespaced;
    [
        json!({
            "name": kind.plural,
            "singularName": kind.singular,
            "namespaced": namespaced,
            "kind": kind.kind,
            "verbs": VERBS,
            "shortNames": kind.short_names,
            "categories": kind.categories,
        }),
        json!({
            "name": format!("{}/status", kind.plural),
            "singularName": "",
            "namespaced": namespaced,
            "kind": kind.kind,
            "verbs": ["get", "patch", "update"],
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_context_lists_folders_and_projects() {
        let doc = group_resources(
            ContextKind::Organization,
            kinds::RESOURCEMANAGER_GROUP,
            "v1alpha1",
        )
        .unwrap();
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["folders", "folders/status", "projects", "projects/status"]
        );
    }

    #[test]
    fn unknown_group_is_absent() {
        assert!(group(ContextKind::Platform, "example.com").is_none());
        assert!(
            group_resources(ContextKind::Platform, kinds::RESOURCEMANAGER_GROUP, "v9").is_none()
        );
        assert_eq!(
            groups(ContextKind::Platform)["groups"][0]["name"],
            kinds::RESOURCEMANAGER_GROUP
        );
    }
}
