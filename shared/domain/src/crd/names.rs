//! The identity of a CRD: its name, group, resource and kind names, scope,
//! and the contexts it is served in.

use std::collections::HashSet;

use crate::kinds::{ContextKind, Scope};
use crate::metadata_rules::dns1123_subdomain_errors;
use crate::Cause;

use super::fields::{dns1035_label_errors, duplicate, invalid, required, unsupported};
use super::fields::{supported_values, Field, Reader};
use super::{GROUP, KIND, PARENT_CONTEXTS_ANNOTATION, VERSION};

/// `spec.group` and `spec.names`, after Kubernetes' defaulting (singular
/// from kind, listKind = kind + "List"). Missing names are empty strings;
/// the reader holds their causes.
#[derive(Debug, Default)]
pub(super) struct Names {
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
}

/// `apiVersion` and `kind` of the document, when given, must name a v1 CRD:
/// the v1beta1 shape (top-level `validation`, `version`) is gone since
/// Kubernetes 1.22 and would be misread.
pub(super) fn check_type_meta(r: &mut Reader, root: &Field) {
    r.type_meta(root, &format!("{GROUP}/{VERSION}"), KIND);
}

/// `metadata.name` must be `{plural}.{group}`, as Kubernetes requires: the
/// CRD's name is then unique exactly when the resource it declares is.
pub(super) fn check_name(r: &mut Reader, metadata: &Field, names: &Names) {
    let field = metadata.get("name");
    match r.string(&field) {
        None | Some("") => r.push(required(&field.path, "name or generateName is required")),
        Some(name) => {
            if name != format!("{}.{}", names.plural, names.group) {
                r.push(invalid(
                    &field.path,
                    name,
                    r#"must be spec.names.plural+"."+spec.group"#,
                ));
            }
        }
    }
}

pub(super) fn read_names(r: &mut Reader, spec: &Field) -> Names {
    let group = read_group(r, &spec.get("group"));
    let names = spec.get("names");
    r.object(&names);

    let plural = read_label(r, &names.get("plural")).unwrap_or_default();
    if plural.is_empty() {
        r.push(Cause::required(names.get("plural").path));
    }
    let kind = read_kind(r, &names.get("kind")).unwrap_or_default();
    if kind.is_empty() {
        r.push(Cause::required(names.get("kind").path));
    }
    // Defaults derived from a kind are valid when the kind is; only names
    // given explicitly can add problems of their own.
    let singular = read_label(r, &names.get("singular"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = read_kind(r, &names.get("listKind"))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| default_list_kind(&kind));
    if !kind.is_empty() && kind == list_kind {
        r.push(invalid(
            &names.get("listKind").path,
            &list_kind,
            "kind and listKind may not be the same",
        ));
    }

    Names {
        group,
        plural,
        singular,
        kind,
        list_kind,
        short_names: read_label_list(r, &names.get("shortNames"), true),
        categories: read_label_list(r, &names.get("categories"), false),
    }
}

fn default_list_kind(kind: &str) -> String {
    if kind.is_empty() {
        String::new()
    } else {
        format!("{kind}List")
    }
}

/// A DNS-1123 subdomain with at least one dot: groups without a dot are
/// reserved for Kubernetes' own APIs.
fn read_group(r: &mut Reader, field: &Field) -> String {
    let group = r.string(field).unwrap_or_default();
    if group.is_empty() {
        r.push(Cause::required(&field.path));
        return String::new();
    }
    let errors = dns1123_subdomain_errors(group);
    if !errors.is_empty() {
        r.push(invalid(&field.path, group, &errors.join(",")));
    } else if !group.contains('.') {
        r.push(invalid(
            &field.path,
            group,
            "should be a domain with at least one dot",
        ));
    }
    group.to_string()
}

/// A lowercase name (plural, singular, short name, category): a DNS-1035
/// label. Returns the value even when it is invalid (its cause is noted), so
/// that later rules can still refer to it.
fn read_label(r: &mut Reader, field: &Field) -> Option<String> {
    let value = r.string(field)?;
    let errors = dns1035_label_errors(value);
    if !value.is_empty() && !errors.is_empty() {
        r.push(invalid(&field.path, value, &errors.join(",")));
    }
    Some(value.to_string())
}

/// A kind may have mixed case (`Widget`), but lowercased it must be a
/// DNS-1035 label, so that it starts with a letter and has no odd characters.
fn read_kind(r: &mut Reader, field: &Field) -> Option<String> {
    let value = r.string(field)?;
    let errors = dns1035_label_errors(&value.to_lowercase());
    if !value.is_empty() && !errors.is_empty() {
        let detail = format!(
            "may have mixed case, but should otherwise match: {}",
            errors.join(",")
        );
        r.push(invalid(&field.path, value, &detail));
    }
    Some(value.to_string())
}

/// shortNames or categories. Short names must also be unique: each is an
/// alias kubectl resolves to one resource.
fn read_label_list(r: &mut Reader, field: &Field, unique: bool) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut labels = Vec::new();
    for item in r.array(field) {
        let Some(label) = read_label(r, &item) else {
            if !item.is_present() {
                r.push(Cause::required(&item.path));
            }
            continue;
        };
        if label.is_empty() {
            r.push(Cause::required(&item.path));
        } else if unique && !seen.insert(label.clone()) {
            r.push(duplicate(&item.path, &label));
        } else {
            labels.push(label);
        }
    }
    labels
}

pub(super) fn read_scope(r: &mut Reader, field: &Field) -> Option<Scope> {
    match r.string(field) {
        Some("Cluster") => Some(Scope::Cluster),
        Some("Namespaced") => Some(Scope::Namespaced),
        None | Some("") => {
            r.push(Cause::required(&field.path));
            None
        }
        Some(other) => {
            let detail = supported_values(&["Cluster", "Namespaced"]);
            r.push(unsupported(&field.path, other, &detail));
            None
        }
    }
}

/// The contexts named by Milo's parent-contexts annotation, in the order
/// Platform, Organization, Project, User whatever the annotation's order.
/// Names no context has are ignored; a type naming none is a project type,
/// as without the annotation.
pub(super) fn read_contexts(r: &mut Reader, metadata: &Field) -> Vec<ContextKind> {
    let annotations = metadata.get("annotations");
    let listed = if r.object(&annotations) {
        r.string(&annotations.entry(PARENT_CONTEXTS_ANNOTATION))
    } else {
        None
    };
    parent_contexts(listed)
}

fn parent_contexts(annotation: Option<&str>) -> Vec<ContextKind> {
    let named: Vec<&str> = annotation
        .map(|a| a.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let contexts: Vec<ContextKind> = ContextKind::ALL
        .into_iter()
        .filter(|context| named.contains(&context.name()))
        .collect();
    if contexts.is_empty() {
        vec![ContextKind::Project]
    } else {
        contexts
    }
}
