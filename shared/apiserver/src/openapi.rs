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
        stream: None,
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
    schemas.insert(OBJECT_META.into(), object_meta());
    schemas.insert(OWNER_REFERENCE.into(), owner_reference());
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

/// The registered schema, with the group-version-kind kubectl looks for
/// and, as Kubernetes publishes a custom resource, `metadata` as ObjectMeta
/// (a CRD's own schema says no more than `type: object` there) and
/// `apiVersion` and `kind` described.
fn schema(kind: &KindInfo) -> Value {
    let mut schema = kind.schema.raw().clone();
    if let Some(map) = schema.as_object_mut() {
        map.insert("x-kubernetes-group-version-kind".into(), json!([gvk(kind)]));
        let properties = map
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(properties) = properties {
            properties.insert("metadata".into(), reference(OBJECT_META, METADATA));
            for (field, description) in [("apiVersion", API_VERSION), ("kind", KIND)] {
                let property = properties
                    .entry(field)
                    .or_insert_with(|| json!({"type": "string"}));
                if let Some(property) = property.as_object_mut() {
                    property
                        .entry("description")
                        .or_insert_with(|| json!(description));
                }
            }
        }
    }
    schema
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const OWNER_REFERENCE: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference";

const METADATA: &str = "Standard object metadata: name, namespace, labels, annotations, owner references and the fields the server sets.";
const API_VERSION: &str = "The versioned schema of this representation of the object: group/version, as served at this path.";
const KIND: &str = "The kind of the object, in CamelCase.";

/// A property that is a named schema of the document, as Kubernetes writes
/// one (kubectl explain follows the `$ref`).
fn reference(name: &str, description: &str) -> Value {
    json!({
        "description": description,
        "default": {},
        "allOf": [{ "$ref": format!("#/components/schemas/{name}") }],
    })
}

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn string_map(description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "additionalProperties": { "type": "string", "default": "" },
    })
}

/// Kubernetes' ObjectMeta as this server keeps it (no managedFields).
fn object_meta() -> Value {
    let timestamp = |description: &str| json!({ "type": "string", "format": "date-time", "description": description });
    json!({
        "type": "object",
        "description": "Metadata every stored object has: what names and organizes it, and what the server records about it.",
        "properties": {
            "name": string("Unique among the objects of its kind in a namespace (or, for a cluster-scoped kind, in its context). Required on create unless generateName is set; cannot be changed."),
            "generateName": string("A prefix from which the server makes a unique name when name is not set: the prefix and five random characters."),
            "namespace": string("The namespace of a namespaced object, as the request's path names it; empty for cluster-scoped kinds."),
            "uid": string("Unique in time and space; set by the server on create and never changed. Read-only."),
            "resourceVersion": string("Opaque; changes on every write of the object. Sent back on an update or patch, it makes the write fail with a conflict (409) if the object changed meanwhile. Read-only."),
            "generation": {
                "type": "integer",
                "format": "int64",
                "description": "A sequence number of the desired state: grows by one whenever spec changes. Read-only.",
            },
            "creationTimestamp": timestamp("When the object was created (RFC 3339, UTC). Read-only."),
            "deletionTimestamp": timestamp("When the object's deletion was requested. Read-only."),
            "labels": string_map("Keys and values that organize and select objects (label selectors). A key is a qualified name ([prefix/]name), a value at most 63 characters."),
            "annotations": string_map("Keys and values for tools and people, not used for selection: at most 256 KiB together."),
            "ownerReferences": {
                "type": "array",
                "description": "The objects this one depends on. The server sets a folder's and a project's reference to its parent. At most one reference may be the controller.",
                "items": reference(OWNER_REFERENCE, "An object this one depends on."),
                "x-kubernetes-patch-merge-key": "uid",
                "x-kubernetes-patch-strategy": "merge",
            },
            "finalizers": {
                "type": "array",
                "description": "Qualified names kept with the object. This server deletes an object at once: finalizers do not hold a deletion back.",
                "items": { "type": "string", "default": "" },
                "x-kubernetes-list-type": "set",
            },
        },
    })
}

fn owner_reference() -> Value {
    json!({
        "type": "object",
        "description": "An owner of an object: enough to find it, by uid.",
        "required": ["apiVersion", "kind", "name", "uid"],
        "properties": {
            "apiVersion": string("The owner's API version (group/version)."),
            "kind": string("The owner's kind."),
            "name": string("The owner's name."),
            "uid": string("The owner's uid: the reference is to this object, not to a namesake created later."),
            "controller": {
                "type": "boolean",
                "description": "Whether the owner manages this object; at most one owner reference may say true.",
            },
            "blockOwnerDeletion": {
                "type": "boolean",
                "description": "Whether the owner's deletion waits for this object (Kubernetes' foreground deletion). Recorded as sent; this server refuses to delete a folder, project or organization that still has children in any case.",
            },
        },
        "x-kubernetes-map-type": "atomic",
    })
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
        let metadata = &organization["properties"]["metadata"];
        assert_eq!(
            metadata["allOf"][0]["$ref"],
            format!("#/components/schemas/{OBJECT_META}")
        );
        let meta = &doc["components"]["schemas"][OBJECT_META];
        assert_eq!(meta["properties"]["labels"]["type"], "object");
        assert!(doc["components"]["schemas"][OWNER_REFERENCE]["properties"]["uid"].is_object());
        let root = root(&catalog, ContextKind::Project);
        assert!(root["paths"]["api/v1"].is_object());
        assert!(group_version(&catalog, ContextKind::Organization, "example.com", "v1").is_none());
    }
}
