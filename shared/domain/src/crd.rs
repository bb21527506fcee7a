//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): how a resource type
//! is declared, whoever declares it (a service provider at run time, or the
//! platform for its built-in kinds). Parsing a CRD checks it whole and yields
//! a [`ResourceType`]; updates are checked against what is stored. Pure.
//!
//! STUB: parse/check_update are being written; the types are the contract.

use std::sync::Arc;

use serde_json::Value;

use crate::kinds::{ContextKind, Scope};
use crate::schema::Schema;
use crate::Cause;

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

/// Parses and checks a whole CRD document. Every problem is a cause with
/// its path (`spec.names.plural`, `spec.versions[1].schema.openAPIV3Schema...`).
pub fn parse(crd: &Value) -> Result<ResourceType, Vec<Cause>> {
    let _ = crd;
    Err(vec![Cause::invalid("", "not implemented yet")])
}

/// An additionalPrinterColumn: a column of Table responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    /// JSONPath relative to the object (`.spec.color`).
    pub json_path: String,
    pub description: String,
    /// 0 is shown by `kubectl get`; higher only with `-o wide`.
    pub priority: i64,
}
