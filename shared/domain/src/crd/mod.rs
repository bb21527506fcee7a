//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): how a resource type
//! is declared, whoever declares it (a service provider at run time, or the
//! platform for its built-in kinds). Parsing a CRD checks it whole and yields
//! a [`ResourceType`]; updates are checked against what is stored; the CRD's
//! `status` says whether its names were accepted. Pure.
//!
//! The rules are Kubernetes' (`apiextensions-apiserver` validation), with
//! these differences, each because this server does less:
//! - conversion webhooks are refused (`spec.conversion.strategy: Webhook`);
//!   versions of a type are converted by changing `apiVersion` only;
//! - `spec.names.kind` and `spec.scope` can never change (Kubernetes allows
//!   it until the type is established);
//! - `subresources.scale` is accepted and ignored;
//! - short names must be unique within the CRD.
//!
//! As in Kubernetes, every name of a type (plural, singular, kinds
//! lowercased, short names, categories, version names) must be a DNS-1035
//! label: a DNS-1123 label that starts with a letter.

mod acceptance;
pub(crate) mod fields;
mod names;
#[cfg(test)]
mod tests;
mod update;
mod versions;

pub use acceptance::{name_conflict, names_clash, status, NameConflict};
pub use update::{check_update, recorded_stored_versions, stored_versions};

use std::sync::Arc;

use serde_json::Value;

use crate::kinds::{ContextKind, Scope};
use crate::schema::Schema;
use crate::Cause;

use fields::{forbidden, supported_values, unsupported, Field, Reader};

pub const GROUP: &str = "apiextensions.k8s.io";
pub const VERSION: &str = "v1";
pub const KIND: &str = "CustomResourceDefinition";
/// Milo's annotation naming the contexts a type is served in
/// (comma-separated: Platform, Organization, Project).
pub const PARENT_CONTEXTS_ANNOTATION: &str = "discovery.miloapis.com/parent-contexts";

/// A registered type, as declared by its CRD.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// `metadata.name` of the CRD: `{plural}.{group}`.
    pub name: String,
    pub group: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub scope: Scope,
    /// From the parent-contexts annotation; `[Project]` without it. Unknown
    /// context names (Milo's `User`) are ignored.
    pub contexts: Vec<ContextKind>,
    pub versions: Vec<TypeVersion>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeVersion {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub deprecated: bool,
    /// The warning clients get; Kubernetes' default text when deprecated
    /// without one.
    pub deprecation_warning: Option<String>,
    pub schema: Arc<Schema>,
    pub status_subresource: bool,
    pub columns: Vec<PrinterColumn>,
    /// JSON paths (`.spec.color`) of selectableFields, stored without the
    /// leading dot (`spec.color`), as field selectors name them.
    pub selectable_fields: Vec<String>,
}

impl ResourceType {
    pub fn storage_version(&self) -> Option<&TypeVersion> {
        self.versions.iter().find(|v| v.storage)
    }

    pub fn version(&self, name: &str) -> Option<&TypeVersion> {
        self.versions.iter().find(|v| v.name == name)
    }
}

/// Parses and checks a whole CRD document, as the Kubernetes API server
/// does on create and update. Every problem is a cause with its path
/// (`spec.names.plural`, `spec.versions[1].schema.openAPIV3Schema...`); any
/// JSON value gives either a type or causes.
pub fn parse(crd: &Value) -> Result<ResourceType, Vec<Cause>> {
    if !crd.is_object() {
        return Err(vec![Cause::invalid(
            "",
            "must be a CustomResourceDefinition object",
        )]);
    }
    let mut r = Reader::default();
    let root = Field::root(crd);
    let metadata = root.get("metadata");
    let spec = root.get("spec");
    r.object(&metadata);
    if spec.is_present() {
        r.object(&spec);
    } else {
        r.push(Cause::required(&spec.path));
    }

    names::check_type_meta(&mut r, &root);
    let names = names::read_names(&mut r, &spec);
    names::check_name(&mut r, &metadata, &names);
    let scope = names::read_scope(&mut r, &spec.get("scope"));
    let contexts = names::read_contexts(&mut r, &metadata);
    let versions = versions::read_versions(&mut r, &spec, &names);
    check_conversion(&mut r, &spec.get("conversion"));
    check_preserve_unknown_fields(&mut r, &spec.get("preserveUnknownFields"));

    match scope {
        Some(scope) if r.causes.is_empty() => Ok(ResourceType {
            name: format!("{}.{}", names.plural, names.group),
            group: names.group,
            kind: names.kind,
            list_kind: names.list_kind,
            plural: names.plural,
            singular: names.singular,
            short_names: names.short_names,
            categories: names.categories,
            scope,
            contexts,
            versions,
        }),
        _ => Err(r.causes),
    }
}

/// Only `strategy: None` (the default): versions differ by `apiVersion`
/// alone. Conversion webhooks would need this server to call out to the
/// type's provider on every read and write.
fn check_conversion(r: &mut Reader, conversion: &Field) {
    if !r.object(conversion) {
        return;
    }
    let strategy = conversion.get("strategy");
    match r.string(&strategy) {
        Some("None") => {
            for key in ["webhook", "webhookClientConfig", "conversionReviewVersions"] {
                let field = conversion.get(key);
                if field.is_present() {
                    r.push(forbidden(
                        &field.path,
                        "should not be set when strategy is not set to Webhook",
                    ));
                }
            }
        }
        Some("Webhook") => r.push(unsupported(
            &strategy.path,
            "Webhook",
            "conversion webhooks are not supported; use None",
        )),
        Some("") | None => r.push(Cause::required(&strategy.path)),
        Some(other) => r.push(unsupported(
            &strategy.path,
            other,
            &supported_values(&["None"]),
        )),
    }
}

/// v1 refuses `preserveUnknownFields: true`: unknown fields are kept only
/// where a schema says `x-kubernetes-preserve-unknown-fields`.
fn check_preserve_unknown_fields(r: &mut Reader, field: &Field) {
    if r.boolean(field) == Some(true) {
        r.push(Cause::invalid(
            &field.path,
            "Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields \
             to true in spec.versions[*].schema instead",
        ));
    }
}

/// An additionalPrinterColumn: a column of Table responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    /// `int32`, `int64`, `float`, `double`, `byte`, `date`, `date-time`,
    /// `password`, or empty: a hint for clients (Table `columnDefinitions`).
    pub format: String,
    /// JSONPath relative to the object (`.spec.color`).
    pub json_path: String,
    pub description: String,
    /// 0 is shown by `kubectl get`; higher only with `-o wide`.
    pub priority: i64,
}
