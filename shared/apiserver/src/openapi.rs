//! `/openapi/v3`: a document per group-version with each kind's schema as
//! registered, so `kubectl explain` works and kubectl sees that the server
//! validates fields itself (the `fieldValidation` parameter on PATCH).

use domain::catalog::Catalog;

use crate::codec::Response;
use domain::kinds::{ContextKind, KindInfo, Scope};
use serde_json::{json, Map, Value};

fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v2`, which kubectl reads only when a `/openapi/v3` read failed
/// (its fallback): an empty OpenAPI v2 document (an empty protobuf message
/// is zero bytes). kubectl then finds no schema for the kind, skips its
/// client-side checks and sends the request, which the server validates as
/// always. Answering 404 instead made the whole command fail with "failed to
/// download openapi" after a v3 read went wrong in transit. The content
/// type is kube-apiserver's for protobuf OpenAPI: Go's mime parser refuses
/// the `@` of the media type kubectl asks for.
pub fn legacy_v2() -> Response {
    Response {
        status: 200,
        headers: vec![("content-type".into(), "application/octet-stream".into())],
        body: Vec::new(),
    }
}

/// The index: one entry per group-version served in the context.
pub fn root(catalog: &Catalog, context: ContextKind) -> Value {
    let mut paths = Map::new();
    for kind in catalog.served_in(context) {
        let gv = group_version_path(&kind.group, &kind.version);
        paths.insert(
            gv.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{gv}") }),
        );
    }
    json!({ "paths": paths })
}

/// The document of one group-version, or None when it is not served here.
pub fn group_version(
    catalog: &Catalog,
    context: ContextKind,
    group: &str,
    version: &str,
) -> Option<Value> {
    let served: Vec<&KindInfo> = catalog.served_at(context, group, version).collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for kind in served {
        let namespace = if kind.scope == Scope::Namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let collection = format!(
            "/{}{namespace}/{}",
            group_version_path(group, version),
            kind.plural
        );
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
    let group = if kind.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        kind.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", kind.version, kind.kind)
}

/// The registered schema, with the group-version-kind kubectl looks for.
fn schema(kind: &KindInfo) -> Value {
    let mut schema = kind.schema.raw().clone();
    if let Some(map) = schema.as_object_mut() {
        map.insert("x-kubernetes-group-version-kind".into(), json!([gvk(kind)]));
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::kinds::RESOURCEMANAGER_GROUP;

    #[test]
    fn documents_carry_schemas_and_field_validation() {
        let catalog = Catalog::builtin().unwrap();
        let doc = group_version(
            &catalog,
            ContextKind::Platform,
            RESOURCEMANAGER_GROUP,
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
        let organization =
            &doc["components"]["schemas"]["com.miloapis.resourcemanager.v1alpha1.Organization"];
        assert_eq!(
            organization["properties"]["spec"]["properties"]["type"]["enum"],
            json!(["Personal", "Standard"])
        );
        let root = root(&catalog, ContextKind::Project);
        assert!(root["paths"]["api/v1"].is_object());
        assert!(group_version(&catalog, ContextKind::Organization, "example.com", "v1").is_none());
    }
}
