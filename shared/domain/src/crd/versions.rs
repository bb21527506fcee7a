//! `spec.versions`: names, storage and serving flags, schemas, deprecation,
//! subresources, printer columns and selectable fields.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::schema::Schema;
use crate::Cause;

use super::fields::{dns1035_label_errors, duplicate, forbidden, invalid, required, too_many};
use super::fields::{Field, Reader};
use super::names::Names;
use super::{PrinterColumn, TypeVersion};

/// Longest `deprecationWarning`, in bytes as Kubernetes counts it.
const MAX_DEPRECATION_WARNING: usize = 256;
/// Most selectableFields per version (Kubernetes' `MaxSelectableFields`).
const MAX_SELECTABLE_FIELDS: usize = 8;
const COLUMN_TYPES: [&str; 5] = ["boolean", "date", "integer", "number", "string"];
const COLUMN_FORMATS: [&str; 8] = [
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];
/// Schema keywords the root may not use when the status subresource is on:
/// the status endpoint validates against `properties.status` alone, so these
/// would be silently skipped there. (Kubernetes lists the allowed keywords
/// instead; unknown keys never reach its check, and neither do they here.)
const ROOT_KEYWORDS_FORBIDDEN_WITH_STATUS: [&str; 22] = [
    "id",
    "$schema",
    "$ref",
    "default",
    "enum",
    "maxProperties",
    "minProperties",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "additionalProperties",
    "patternProperties",
    "dependencies",
    "additionalItems",
    "definitions",
    "nullable",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
    "x-kubernetes-map-type",
];

/// Reads every version. Kubernetes requires exactly one storage version but
/// allows every version to be unserved (a type can be switched off without
/// deleting it), so neither do we require a served version.
pub(super) fn read_versions(r: &mut Reader, spec: &Field, names: &Names) -> Vec<TypeVersion> {
    let field = spec.get("versions");
    let before = r.causes.len();
    let items = r.array(&field);
    if items.is_empty() {
        if r.causes.len() == before {
            r.push(required(&field.path, "must have at least one version"));
        }
        return Vec::new();
    }
    let mut seen = HashSet::new();
    let mut storage_count = 0;
    let mut versions = Vec::new();
    for item in &items {
        if !r.object_item(item) {
            continue;
        }
        let name = read_version_name(r, &item.get("name"), &mut seen);
        let storage = r.boolean(&item.get("storage")).unwrap_or(false);
        storage_count += usize::from(storage);
        let details = read_details(r, item, names, name.unwrap_or_default());
        if let (Some(name), Some(details)) = (name, details) {
            versions.push(details.into_version(name, storage));
        }
    }
    if storage_count != 1 {
        r.push(Cause::invalid(
            &field.path,
            "must have exactly one version marked as storage version",
        ));
    }
    versions
}

/// A DNS-1035 label (`v1`, `v1beta2`), unique among the versions: it is the
/// second segment of the API version.
fn read_version_name<'a>(
    r: &mut Reader,
    field: &Field<'a>,
    seen: &mut HashSet<&'a str>,
) -> Option<&'a str> {
    let before = r.causes.len();
    let name = r.string(field).filter(|n| !n.is_empty());
    match name {
        None if r.causes.len() == before => r.push(Cause::required(&field.path)),
        None => {}
        Some(name) => {
            let errors = dns1035_label_errors(name);
            if !errors.is_empty() {
                r.push(invalid(&field.path, name, &errors.join(",")));
            }
            if !seen.insert(name) {
                r.push(duplicate(&field.path, name));
            }
        }
    }
    name
}

/// Everything of a version but its name and storage flag.
struct Details {
    served: bool,
    deprecated: bool,
    deprecation_warning: Option<String>,
    schema: Arc<Schema>,
    status_subresource: bool,
    columns: Vec<PrinterColumn>,
    selectable_fields: Vec<String>,
}

impl Details {
    fn into_version(self, name: &str, storage: bool) -> TypeVersion {
        TypeVersion {
            name: name.to_string(),
            served: self.served,
            storage,
            deprecated: self.deprecated,
            deprecation_warning: self.deprecation_warning,
            schema: self.schema,
            status_subresource: self.status_subresource,
            columns: self.columns,
            selectable_fields: self.selectable_fields,
        }
    }
}

/// Reads the rest of a version; `None` when its schema is missing or does
/// not compile (the causes say why).
fn read_details(r: &mut Reader, item: &Field, names: &Names, name: &str) -> Option<Details> {
    let served = r.boolean(&item.get("served")).unwrap_or(false);
    let (deprecated, deprecation_warning) = read_deprecation(r, item, names, name);
    let status_subresource = read_subresources(r, &item.get("subresources"));
    let raw_schema = raw_schema(r, &item.get("schema"));
    if let (Some(raw), true) = (&raw_schema, status_subresource) {
        check_root_for_status(r, raw);
    }
    let columns = read_columns(r, &item.get("additionalPrinterColumns"));
    let raw_doc = raw_schema.as_ref().and_then(|f| f.value);
    let selectable_fields = read_selectable_fields(r, &item.get("selectableFields"), raw_doc);
    let schema = compile_schema(r, raw_schema.as_ref())?;
    Some(Details {
        served,
        deprecated,
        deprecation_warning,
        schema,
        status_subresource,
        columns,
        selectable_fields,
    })
}

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

/// `schema.openAPIV3Schema`, required in v1: without a schema every field
/// would be pruned.
fn raw_schema<'a>(r: &mut Reader, schema: &Field<'a>) -> Option<Field<'a>> {
    if schema.is_present() && !r.object(schema) {
        return None;
    }
    let doc = schema.get("openAPIV3Schema");
    if !doc.is_present() {
        r.push(required(&doc.path, "schemas are required"));
        return None;
    }
    r.object(&doc).then_some(doc)
}

fn compile_schema(r: &mut Reader, doc: Option<&Field>) -> Option<Arc<Schema>> {
    let doc = doc?;
    match Schema::compile(doc.value?, &doc.path) {
        Ok(schema) => Some(Arc::new(schema)),
        Err(causes) => {
            r.extend(causes);
            None
        }
    }
}

/// With the status subresource on, the root must be an object schema with
/// only keywords that survive splitting it into spec and status parts.
fn check_root_for_status(r: &mut Reader, doc: &Field) {
    let Some(Value::Object(root)) = doc.value else {
        return;
    };
    if let Some(type_) = root.get("type").and_then(Value::as_str) {
        if type_ != "object" {
            r.push(invalid(
                &doc.get("type").path,
                type_,
                r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#,
            ));
        }
    }
    for (key, value) in root {
        // `false` is the unset value of the boolean keywords (`nullable`).
        let set = *value != Value::Bool(false);
        if set && ROOT_KEYWORDS_FORBIDDEN_WITH_STATUS.contains(&key.as_str()) {
            r.push(forbidden(
                &doc.get(key).path,
                "must not be set at the root of the schema if the status subresource is enabled",
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// Deprecation and subresources
// ---------------------------------------------------------------------------

/// `deprecated` and the warning clients get for it: the given one, or
/// Kubernetes' default text.
fn read_deprecation(
    r: &mut Reader,
    item: &Field,
    names: &Names,
    version: &str,
) -> (bool, Option<String>) {
    let deprecated = r.boolean(&item.get("deprecated")).unwrap_or(false);
    let field = item.get("deprecationWarning");
    let warning = match r.string(&field) {
        Some(warning) => {
            for detail in deprecation_warning_errors(deprecated, warning) {
                r.push(invalid(&field.path, warning, &detail));
            }
            Some(warning.to_string())
        }
        None if deprecated => Some(format!(
            "{}/{version} {} is deprecated",
            names.group, names.kind
        )),
        None => None,
    };
    (deprecated, warning)
}

/// Kubernetes' rules for a deprecation warning: only on deprecated versions,
/// non-empty, at most 256 bytes, printable (it travels in a `Warning` HTTP
/// header). "Printable" is approximated: control characters and whitespace
/// other than the plain space are refused.
fn deprecation_warning_errors(deprecated: bool, warning: &str) -> Vec<String> {
    if !deprecated {
        return vec!["can only be set for deprecated versions".to_string()];
    }
    let mut errors = Vec::new();
    if warning.len() > MAX_DEPRECATION_WARNING {
        errors.push(format!(
            "must be <= {MAX_DEPRECATION_WARNING} characters long"
        ));
    }
    if warning.is_empty() {
        errors.push("must not be an empty string".to_string());
    }
    let non_printable = warning
        .char_indices()
        .find(|(_, c)| c.is_control() || (c.is_whitespace() && *c != ' '));
    if let Some((index, _)) = non_printable {
        errors.push(format!(
            "must only contain printable UTF-8 characters; non-printable character found at index {index}"
        ));
    }
    errors
}

/// Whether the status subresource is on (`subresources.status: {}`).
///
/// `subresources.scale` is accepted and ignored: this server has no scale
/// endpoint, and refusing it would refuse CRDs that are valid elsewhere.
fn read_subresources(r: &mut Reader, field: &Field) -> bool {
    if !r.object(field) {
        return false;
    }
    let status = field.get("status");
    r.object(&status)
}

// ---------------------------------------------------------------------------
// Printer columns
// ---------------------------------------------------------------------------

fn read_columns(r: &mut Reader, field: &Field) -> Vec<PrinterColumn> {
    let mut seen = HashSet::new();
    let mut columns = Vec::new();
    for item in r.array(field) {
        if !r.object_item(&item) {
            continue;
        }
        if let Some(column) = read_column(r, &item, &mut seen) {
            columns.push(column);
        }
    }
    columns
}

/// One column; `None` when it has a problem (noted in the reader).
fn read_column(r: &mut Reader, item: &Field, seen: &mut HashSet<String>) -> Option<PrinterColumn> {
    let before = r.causes.len();
    let name = required_string(r, &item.get("name"), "");
    if let Some(name) = name {
        // Table responses address cells by column position, but clients
        // show the names as headers: two equal headers are a mistake.
        if !seen.insert(name.to_string()) {
            r.push(duplicate(&item.get("name").path, name));
        }
    }
    let type_ = one_of(r, &item.get("type"), &COLUMN_TYPES, true);
    let format = one_of(r, &item.get("format"), &COLUMN_FORMATS, false);
    let json_path = required_string(r, &item.get("jsonPath"), "");
    if let Some(path) = json_path {
        check_simple_json_path(r, &item.get("jsonPath"), path);
    }
    let description = r.string(&item.get("description")).unwrap_or_default();
    let priority_field = item.get("priority");
    let priority = r.integer(&priority_field).unwrap_or(0);
    if priority < 0 {
        r.push(invalid(
            &priority_field.path,
            &priority.to_string(),
            "cannot be negative",
        ));
    }
    if r.causes.len() > before {
        return None;
    }
    Some(PrinterColumn {
        name: name?.to_string(),
        type_: type_?.to_string(),
        format: format.unwrap_or_default().to_string(),
        json_path: json_path?.to_string(),
        description: description.to_string(),
        priority,
    })
}

/// A string field that must be present and non-empty.
fn required_string<'a>(r: &mut Reader, field: &Field<'a>, detail: &str) -> Option<&'a str> {
    let before = r.causes.len();
    match r.string(field) {
        Some(value) if !value.is_empty() => Some(value),
        _ => {
            if r.causes.len() == before {
                r.push(required(&field.path, detail));
            }
            None
        }
    }
}

/// A string field limited to `allowed`, worded as Kubernetes words it for
/// printer columns ("must be one of ...").
fn one_of<'a>(
    r: &mut Reader,
    field: &Field<'a>,
    allowed: &[&str],
    is_required: bool,
) -> Option<&'a str> {
    let detail = format!("must be one of {}", allowed.join(","));
    let value = if is_required {
        required_string(r, field, &detail)?
    } else {
        r.string(field).filter(|v| !v.is_empty())?
    };
    if !allowed.contains(&value) {
        r.push(invalid(&field.path, value, &detail));
    }
    Some(value)
}

/// Kubernetes' "simple JSON path": it must start with a dot.
fn check_simple_json_path(r: &mut Reader, field: &Field, path: &str) -> bool {
    if path.starts_with('.') {
        true
    } else {
        r.push(invalid(
            &field.path,
            path,
            "must be a simple json path starting with .",
        ));
        false
    }
}

// ---------------------------------------------------------------------------
// Selectable fields
// ---------------------------------------------------------------------------

/// The selectableFields' paths without their leading dot (`spec.color`).
/// Each must name a string, integer or boolean field declared in the schema,
/// since a field selector compares the field's value as text.
fn read_selectable_fields(r: &mut Reader, field: &Field, schema: Option<&Value>) -> Vec<String> {
    let items = r.array(field);
    if items.len() > MAX_SELECTABLE_FIELDS {
        r.push(too_many(&field.path, items.len(), MAX_SELECTABLE_FIELDS));
    }
    let mut seen = HashSet::new();
    let mut fields = Vec::new();
    for item in &items {
        if !r.object_item(item) {
            continue;
        }
        let path_field = item.get("jsonPath");
        let Some(path) = required_string(r, &path_field, "") else {
            continue;
        };
        if !check_simple_json_path(r, &path_field, path) {
            continue;
        }
        let selectable = &path[1..];
        if let Some(schema) = schema {
            if let Err(detail) = check_selectable(schema, selectable) {
                r.push(invalid(&path_field.path, path, &detail));
                continue;
            }
        }
        if seen.insert(selectable) {
            fields.push(selectable.to_string());
        } else {
            r.push(duplicate(&path_field.path, path));
        }
    }
    fields
}

/// Why `path` (without its leading dot) cannot be a selectable field of
/// objects with this schema.
fn check_selectable(schema: &Value, path: &str) -> Result<(), String> {
    if path.contains('[') {
        return Err("is an invalid path: array notation is not allowed".to_string());
    }
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("must be a json path in the dot notation".to_string());
    }
    if segments.first() == Some(&"metadata") {
        // metadata.name and metadata.namespace are always selectable;
        // other metadata fields are not.
        return Err("must not point to fields in metadata".to_string());
    }
    let node = segments.iter().try_fold(schema, |node, segment| {
        property(node, segment).ok_or_else(|| {
            format!("is an invalid path: field {segment:?} is not declared in the schema")
        })
    })?;
    match node.get("type").and_then(Value::as_str) {
        Some("string" | "integer" | "boolean") => Ok(()),
        _ => Err("must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.".to_string()),
    }
}

/// The schema of member `name` of an object schema: a declared property,
/// or the schema of a map's values.
fn property<'s>(node: &'s Value, name: &str) -> Option<&'s Value> {
    node.get("properties")
        .and_then(|p| p.get(name))
        .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
}
