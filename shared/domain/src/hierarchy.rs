//! The organization hierarchy: organizations hold folders (up to
//! [`MAX_FOLDER_DEPTH`] levels) and projects. The rules here are pure; the
//! API layer reads the ancestors and children they need from the store.

use serde_json::{json, Map, Value};

use crate::kinds::{KindInfo, FOLDER, ORGANIZATION, PROJECT};
use crate::metadata_rules::dns1123_label_errors;
use crate::Cause;

pub const MAX_FOLDER_DEPTH: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentKind {
    Organization,
    Folder,
}

impl ParentKind {
    pub fn kind(self) -> &'static KindInfo {
        match self {
            ParentKind::Organization => &ORGANIZATION,
            ParentKind::Folder => &FOLDER,
        }
    }
}

/// A reference from a folder or project to where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    pub kind: ParentKind,
    pub name: String,
}

/// The spec field that names a kind's parent: Milo's `ownerRef` on projects,
/// `parentRef` on folders; organizations have none.
pub fn parent_field(kind: &KindInfo) -> Option<&'static str> {
    match kind.kind {
        "Project" => Some("ownerRef"),
        "Folder" => Some("parentRef"),
        _ => None,
    }
}

/// The parent named by a valid spec.
pub fn parent_of(kind: &KindInfo, spec: &Value) -> Option<ParentRef> {
    let reference = spec.get(parent_field(kind)?)?;
    let kind = match reference.get("kind")?.as_str()? {
        "Organization" => ParentKind::Organization,
        "Folder" => ParentKind::Folder,
        _ => return None,
    };
    Some(ParentRef {
        kind,
        name: reference.get("name")?.as_str()?.to_string(),
    })
}

/// In an organization's context a folder or project may leave out its parent:
/// it then sits directly under that organization, as in Milo.
pub fn default_parent(kind: &KindInfo, fields: &mut Map<String, Value>, organization: &str) {
    let Some(field) = parent_field(kind) else {
        return;
    };
    let spec = fields.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        spec.entry(field)
            .or_insert_with(|| json!({"kind": "Organization", "name": organization}));
    }
}

/// Validates a kind's spec; `old` is the stored spec on update.
pub fn validate_spec(kind: &KindInfo, spec: &Value, old: Option<&Value>) -> Vec<Cause> {
    if !(spec.is_object() || spec.is_null()) {
        return vec![Cause::invalid("spec", "must be an object")];
    }
    match kind.kind {
        "Organization" => validate_organization(spec, old),
        "Folder" | "Project" => validate_parent_ref(kind, spec),
        _ => Vec::new(),
    }
}

fn validate_organization(spec: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let new_type = spec.get("type");
    match new_type {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "Personal" || t == "Standard" => {}
        Some(other) => causes.push(Cause::not_supported(
            "spec.type",
            format!("Unsupported value: {other}: supported values: \"Personal\", \"Standard\""),
        )),
    }
    let old_type = old.and_then(|o| o.get("type")).filter(|t| !t.is_null());
    if let Some(old_type) = old_type {
        if new_type != Some(old_type) {
            causes.push(Cause::invalid(
                "spec.type",
                "organization type is immutable",
            ));
        }
    }
    if let Some(contact) = spec.get("contactInfo") {
        if !contact.is_object() {
            causes.push(Cause::invalid("spec.contactInfo", "must be an object"));
        }
    }
    causes
}

fn validate_parent_ref(kind: &KindInfo, spec: &Value) -> Vec<Cause> {
    let Some(field) = parent_field(kind) else {
        return Vec::new();
    };
    let path = format!("spec.{field}");
    let Some(reference) = spec.get(field).filter(|r| !r.is_null()) else {
        return vec![Cause::required(path)];
    };
    if !reference.is_object() {
        return vec![Cause::invalid(path, "must be an object with kind and name")];
    }
    let mut causes = Vec::new();
    match reference.get("kind").and_then(Value::as_str) {
        None => causes.push(Cause::required(format!("{path}.kind"))),
        Some("Organization" | "Folder") => {}
        Some(other) => causes.push(Cause::not_supported(
            format!("{path}.kind"),
            format!(
                "Unsupported value: \"{other}\": supported values: \"Organization\", \"Folder\""
            ),
        )),
    }
    match reference.get("name").and_then(Value::as_str) {
        None | Some("") => causes.push(Cause::required(format!("{path}.name"))),
        Some(name) => {
            for message in dns1123_label_errors(name) {
                causes.push(Cause::invalid(format!("{path}.name"), message));
            }
        }
    }
    causes
}

/// The fields each kind's spec knows, as (object path, allowed keys); used to
/// prune unknown fields or, in strict mode, to refuse them.
fn known_spec_fields(kind: &KindInfo) -> &'static [(&'static str, &'static [&'static str])] {
    match kind.kind {
        "Organization" => &[("spec", &["type", "contactInfo"])],
        "Folder" => &[
            ("spec", &["parentRef"]),
            ("spec.parentRef", &["kind", "name"]),
        ],
        "Project" => &[
            ("spec", &["ownerRef"]),
            ("spec.ownerRef", &["kind", "name"]),
        ],
        _ => &[],
    }
}

/// Paths of fields the kind does not know (`spec.foo`), for strict decoding
/// and warnings.
pub fn unknown_fields(kind: &KindInfo, doc: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    let top = ["apiVersion", "kind", "metadata", "spec", "status"];
    if let Some(map) = doc.as_object() {
        unknown.extend(map.keys().filter(|k| !top.contains(&k.as_str())).cloned());
    }
    if let Some(meta) = doc.get("metadata").and_then(Value::as_object) {
        unknown.extend(
            meta.keys()
                .filter(|k| !crate::object::METADATA_FIELDS.contains(&k.as_str()))
                .map(|k| format!("metadata.{k}")),
        );
    }
    for (path, allowed) in known_spec_fields(kind) {
        let at = path.split('.').try_fold(doc, |v, part| v.get(part));
        if let Some(map) = at.and_then(Value::as_object) {
            unknown.extend(
                map.keys()
                    .filter(|k| !allowed.contains(&k.as_str()))
                    .map(|k| format!("{path}.{k}")),
            );
        }
    }
    unknown
}

/// Removes the fields [`unknown_fields`] reports (metadata is pruned by
/// decoding).
pub fn prune_unknown(kind: &KindInfo, fields: &mut Map<String, Value>) {
    fields.retain(|k, _| k == "spec" || k == "status");
    for (path, allowed) in known_spec_fields(kind) {
        let mut parts = path.split('.');
        let Some(first) = parts.next() else { continue };
        let at = parts.try_fold(fields.get_mut(first), |v, part| Some(v?.get_mut(part)));
        if let Some(Some(Value::Object(map))) = at {
            map.retain(|k, _| allowed.contains(&k.as_str()));
        }
    }
}

/// One step up from a parent, as read from the store: the chain from a new
/// parent up to its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestor {
    pub kind: ParentKind,
    pub name: String,
}

/// The organization a chain of ancestors ends in.
pub fn organization_of(chain: &[Ancestor]) -> Option<&str> {
    chain
        .last()
        .filter(|a| a.kind == ParentKind::Organization)
        .map(|a| a.name.as_str())
}

/// Whether `kind`/`name` may sit under the parent whose ancestor chain
/// (parent first, organization last) is `chain`. `subtree_height` is the
/// number of folder levels below the object itself (0 for a project or a
/// leaf folder).
pub fn check_placement(
    kind: &KindInfo,
    name: &str,
    chain: &[Ancestor],
    subtree_height: usize,
) -> Result<(), Cause> {
    let Some(field) = parent_field(kind) else {
        return Ok(());
    };
    let field = format!("spec.{field}");
    if kind.kind == FOLDER.kind
        && chain
            .iter()
            .any(|a| a.kind == ParentKind::Folder && a.name == name)
    {
        return Err(Cause::invalid(
            field,
            format!(
                "folder \"{name}\" cannot be placed inside itself or one of its own descendants"
            ),
        ));
    }
    let folders_above = chain
        .iter()
        .filter(|a| a.kind == ParentKind::Folder)
        .count();
    let own_level = usize::from(kind.kind == FOLDER.kind);
    let depth = folders_above + own_level + subtree_height;
    if depth > MAX_FOLDER_DEPTH {
        return Err(Cause::invalid(
            field,
            format!(
                "this would nest folders {depth} levels deep below the organization; at most {MAX_FOLDER_DEPTH} are allowed"
            ),
        ));
    }
    Ok(())
}

/// A move keeps an object within its organization.
pub fn check_same_organization(
    kind: &KindInfo,
    current: &str,
    chain: &[Ancestor],
) -> Result<(), Cause> {
    let Some(field) = parent_field(kind) else {
        return Ok(());
    };
    match organization_of(chain) {
        Some(org) if org == current => Ok(()),
        Some(org) => Err(Cause::invalid(
            format!("spec.{field}"),
            format!(
                "cannot move from organization \"{current}\" to organization \"{org}\"; moves stay within one organization"
            ),
        )),
        None => Err(Cause::invalid(format!("spec.{field}"), "the parent does not lead to an organization")),
    }
}

/// The Ready condition a hierarchy object reports once its create returns.
pub fn ready_status(now: &str, generation: i64) -> Value {
    json!({
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "The resource is ready for use",
            "lastTransitionTime": now,
            "observedGeneration": generation,
        }]
    })
}

/// Whether a kind takes part in the hierarchy (has a parent or children).
pub fn is_hierarchy_kind(kind: &KindInfo) -> bool {
    [ORGANIZATION.kind, FOLDER.kind, PROJECT.kind].contains(&kind.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folders(names: &[&str], org: &str) -> Vec<Ancestor> {
        let mut chain: Vec<Ancestor> = names
            .iter()
            .map(|n| Ancestor {
                kind: ParentKind::Folder,
                name: n.to_string(),
            })
            .collect();
        chain.push(Ancestor {
            kind: ParentKind::Organization,
            name: org.into(),
        });
        chain
    }

    #[test]
    fn tenth_level_folder_is_allowed_eleventh_is_not() {
        let nine: Vec<String> = (1..=9).map(|i| format!("f{i}")).collect();
        let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
        assert!(check_placement(&FOLDER, "f10", &folders(&nine, "o"), 0).is_ok());
        let ten: Vec<String> = (1..=10).map(|i| format!("f{i}")).collect();
        let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
        let err = check_placement(&FOLDER, "f11", &folders(&ten, "o"), 0).unwrap_err();
        assert_eq!(err.field, "spec.parentRef");
        assert!(err.message.contains("at most 10"));
        // A project does not count as a folder level.
        assert!(check_placement(&PROJECT, "p", &folders(&ten, "o"), 0).is_ok());
    }

    #[test]
    fn moving_a_subtree_counts_its_height() {
        assert!(check_placement(&FOLDER, "x", &folders(&["a"; 5], "o"), 4).is_ok());
        assert!(check_placement(&FOLDER, "x", &folders(&["a"; 5], "o"), 5).is_err());
    }

    #[test]
    fn folder_cannot_move_below_itself() {
        let err = check_placement(&FOLDER, "a", &folders(&["c", "b", "a"], "o"), 0).unwrap_err();
        assert!(err.message.contains("descendants"));
    }

    #[test]
    fn moves_stay_in_the_organization() {
        assert!(check_same_organization(&PROJECT, "o", &folders(&["a"], "o")).is_ok());
        assert!(check_same_organization(&PROJECT, "o", &folders(&["a"], "other")).is_err());
    }

    #[test]
    fn parent_ref_is_validated() {
        let causes = validate_spec(
            &PROJECT,
            &json!({"ownerRef": {"kind": "Team", "name": ""}}),
            None,
        );
        let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.ownerRef.kind", "spec.ownerRef.name"]);
        assert_eq!(
            validate_spec(&FOLDER, &json!({}), None)[0].field,
            "spec.parentRef"
        );
        assert!(validate_spec(
            &FOLDER,
            &json!({"parentRef": {"kind": "Folder", "name": "f"}}),
            None
        )
        .is_empty());
    }

    #[test]
    fn organization_type_is_an_immutable_enum() {
        assert!(validate_spec(&ORGANIZATION, &json!({"type": "Standard"}), None).is_empty());
        assert_eq!(
            validate_spec(&ORGANIZATION, &json!({"type": "Huge"}), None)[0].reason,
            "FieldValueNotSupported"
        );
        let old = json!({"type": "Standard"});
        let causes = validate_spec(&ORGANIZATION, &json!({"type": "Personal"}), Some(&old));
        assert!(causes[0].message.contains("immutable"));
        // Setting a type that was never set is allowed, as in Milo.
        assert!(validate_spec(
            &ORGANIZATION,
            &json!({"type": "Personal"}),
            Some(&json!({}))
        )
        .is_empty());
    }

    #[test]
    fn unknown_fields_are_found_and_pruned() {
        let doc = json!({"spec": {"ownerRef": {"kind": "Organization", "name": "o", "x": 1}, "y": 2}, "extra": 1,
                         "metadata": {"name": "p", "bogus": 1}});
        let mut unknown = unknown_fields(&PROJECT, &doc);
        unknown.sort();
        assert_eq!(
            unknown,
            ["extra", "metadata.bogus", "spec.ownerRef.x", "spec.y"]
        );
        let mut fields = doc.as_object().unwrap().clone();
        prune_unknown(&PROJECT, &mut fields);
        assert_eq!(
            Value::Object(fields)["spec"],
            json!({"ownerRef": {"kind": "Organization", "name": "o"}})
        );
    }

    #[test]
    fn default_parent_fills_only_a_missing_ref() {
        let mut fields = Map::new();
        default_parent(&PROJECT, &mut fields, "acme");
        assert_eq!(fields["spec"]["ownerRef"]["name"], "acme");
        let mut fields = json!({"spec": {"ownerRef": {"kind": "Folder", "name": "f"}}})
            .as_object()
            .unwrap()
            .clone();
        default_parent(&PROJECT, &mut fields, "acme");
        assert_eq!(fields["spec"]["ownerRef"]["name"], "f");
    }
}
