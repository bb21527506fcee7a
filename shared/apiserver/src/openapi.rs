//! `/openapi/v3`: a document per group-version, enough for kubectl to see
//! that the server validates fields itself (the `fieldValidation` parameter
//! on PATCH) instead of falling back to client-side validation.

use domain::kinds::{self, ContextKind, KindInfo};
use serde_json::{json, Map, Value};

/// The index: one entry per group-version served in the context.
pub fn root(context: ContextKind) -> Value {
    let mut paths = Map::new();
    for kind in kinds::served_in(context) {
        let gv = format!("apis/{}/{}", kind.group, kind.version);
        paths.insert(
            gv.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{gv}") }),
        );
    }
    json!({ "paths": paths })
}

/// The document of one group-version, or None when it is not served here.
pub fn group_version(context: ContextKind, group: &str, version: &str) -> Option<Value> {
    let served: Vec<&KindInfo> = kinds::served_in(context)
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for kind in served {
        let collection = format!("/apis/{group}/{version}/{}", kind.plural);
        paths.insert(
            collection.clone(),
            json!({ "get": operation(kind, "list"), "post": operation(kind, "post") }),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": operation(kind, "get"),
                "put": operation(kind, "put"),
                "patch": operation(kind, "patch"),
                "delete": operation(kind, "delete"),
            }),
        );
        schemas.insert(schema_name(kind), schema(kind));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "milo-lambda", "version": version },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}

fn gvk(kind: &KindInfo) -> Value {
    json!({ "group": kind.group, "version": kind.version, "kind": kind.kind })
}

fn operation(kind: &KindInfo, action: &str) -> Value {
    let mut parameters =
        vec![json!({"name": "dryRun", "in": "query", "schema": {"type": "string"}})];
    if matches!(action, "post" | "put" | "patch") {
        parameters
            .push(json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}));
    }
    json!({
        "operationId": format!("{action}{}", kind.kind),
        "parameters": parameters,
        "responses": { "200": { "description": "OK" } },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(kind),
    })
}

fn schema_name(kind: &KindInfo) -> String {
    let reversed: Vec<&str> = kind.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), kind.version, kind.kind)
}

fn schema(kind: &KindInfo) -> Value {
    json!({
        "type": "object",
        "description": format!("{} of {}", kind.kind, kind.group),
        "properties": {
            "apiVersion": { "type": "string" },
            "kind": { "type": "string" },
            "metadata": { "type": "object" },
            "spec": { "type": "object" },
            "status": { "type": "object" },
        },
        "x-kubernetes-group-version-kind": [gvk(kind)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_declare_field_validation() {
        let doc = group_version(
            ContextKind::Platform,
            kinds::RESOURCEMANAGER_GROUP,
            "v1alpha1",
        )
        .unwrap();
        let patch =
            &doc["paths"]["/apis/resourcemanager.miloapis.com/v1alpha1/projects/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Project");
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        let root = root(ContextKind::Organization);
        assert!(root["paths"]["apis/resourcemanager.miloapis.com/v1alpha1"].is_object());
        assert!(group_version(ContextKind::Organization, "example.com", "v1").is_none());
    }
}
