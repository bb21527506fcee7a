//! Discovery documents (`/version`, `/api`, `/apis`, `/apis/{g}/{v}`) for the
//! kinds the catalog serves in a context, so kubectl maps names to resources
//! (`kubectl api-resources`) the same way in every context.

use domain::catalog::Catalog;
use domain::kinds::{ContextKind, KindInfo, Scope};
use serde_json::{json, Value};

const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

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

/// `/api`: the core group, `v1` when a core kind (Namespace) is served here.
pub fn core_versions(catalog: &Catalog, context: ContextKind) -> Value {
    let served = catalog.served_in(context).any(|k| k.group.is_empty());
    let versions: &[&str] = if served { &["v1"] } else { &[] };
    json!({"kind": "APIVersions", "apiVersion": "v1", "versions": versions, "serverAddressByClientCIDRs": []})
}

fn group_document(group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
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

/// `/apis`: the named groups (the core group is under `/api`).
pub fn groups(catalog: &Catalog, context: ContextKind) -> Value {
    let groups: Vec<Value> = catalog
        .groups(context)
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_document(g, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(catalog: &Catalog, context: ContextKind, group: &str) -> Option<Value> {
    catalog
        .groups(context)
        .iter()
        .find(|(g, _)| g == group && !g.is_empty())
        .map(|(g, versions)| group_document(g, versions))
}

pub fn group_resources(
    catalog: &Catalog,
    context: ContextKind,
    group: &str,
    version: &str,
) -> Option<Value> {
    let served: Vec<&KindInfo> = catalog.served_at(context, group, version).collect();
    if served.is_empty() {
        return None;
    }
    let resources: Vec<Value> = served.iter().flat_map(|k| resource_entries(k)).collect();
    let group_version = domain::kinds::api_version(group, version);
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

fn resource_entries(kind: &KindInfo) -> Vec<Value> {
    let namespaced = kind.scope == Scope::Namespaced;
    let mut entries = vec![json!({
        "name": kind.plural,
        "singularName": kind.singular,
        "namespaced": namespaced,
        "kind": kind.kind,
        "verbs": VERBS,
        "shortNames": kind.short_names,
        "categories": kind.categories,
    })];
    if kind.status_subresource {
        entries.push(json!({
            "name": format!("{}/status", kind.plural),
            "singularName": "",
            "namespaced": namespaced,
            "kind": kind.kind,
            "verbs": ["get", "patch", "update"],
        }));
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::kinds::RESOURCEMANAGER_GROUP;

    fn names(doc: &Value) -> Vec<&str> {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect()
    }

    #[test]
    fn each_context_lists_what_it_serves() {
        let catalog = Catalog::builtin().unwrap();
        let org = group_resources(
            &catalog,
            ContextKind::Organization,
            RESOURCEMANAGER_GROUP,
            "v1alpha1",
        )
        .unwrap();
        assert_eq!(
            names(&org),
            [
                "folders",
                "folders/status",
                "projects",
                "projects/status",
                "organizationmemberships",
                "organizationmemberships/status",
                "liens"
            ]
        );
        let user = group_resources(
            &catalog,
            ContextKind::User,
            RESOURCEMANAGER_GROUP,
            "v1alpha1",
        )
        .unwrap();
        assert_eq!(
            names(&user),
            ["organizationmemberships", "organizationmemberships/status"]
        );
        assert_eq!(
            core_versions(&catalog, ContextKind::User)["versions"],
            json!([])
        );
        let core = group_resources(&catalog, ContextKind::Project, "", "v1").unwrap();
        assert_eq!(core["groupVersion"], "v1");
        assert_eq!(
            names(&core),
            [
                "namespaces",
                "namespaces/status",
                "secrets",
                "configmaps",
                "events"
            ]
        );
        // A project's control plane holds liens of its own objects (#21).
        let in_project = group_resources(
            &catalog,
            ContextKind::Project,
            RESOURCEMANAGER_GROUP,
            "v1alpha1",
        )
        .unwrap();
        assert_eq!(names(&in_project), ["liens"]);
        assert_eq!(
            core_versions(&catalog, ContextKind::Project)["versions"][0],
            "v1"
        );
    }

    #[test]
    fn unknown_group_is_absent() {
        let catalog = Catalog::builtin().unwrap();
        assert!(group(&catalog, ContextKind::Platform, "example.com").is_none());
        assert!(
            group_resources(&catalog, ContextKind::Platform, RESOURCEMANAGER_GROUP, "v9").is_none()
        );
        let groups = groups(&catalog, ContextKind::Platform);
        let listed: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["name"].as_str())
            .collect();
        assert_eq!(
            listed,
            [
                RESOURCEMANAGER_GROUP,
                "discovery.k8s.io",
                "apiextensions.k8s.io",
                "graph.miloapis.com",
                "admissionregistration.k8s.io",
                "quota.miloapis.com",
                "discovery.miloapis.com",
                "iam.miloapis.com",
                "rbac.authorization.k8s.io",
                "events.k8s.io",
            ]
        );
    }
}
