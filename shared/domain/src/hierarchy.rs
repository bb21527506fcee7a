//! The organization hierarchy: organizations hold folders (up to
//! [`MAX_FOLDER_DEPTH`] levels) and projects. The rules here are pure; the
//! API layer reads the ancestors and children they need from the store.

use serde_json::{json, Map, Value};

use crate::kinds::{KindId, FOLDER, ORGANIZATION, PROJECT};
use crate::metadata_rules::dns1123_label_errors;
use crate::Cause;

pub const MAX_FOLDER_DEPTH: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParentKind {
    Organization,
    Folder,
}

impl ParentKind {
    pub fn kind(self) -> KindId {
        match self {
            ParentKind::Organization => ORGANIZATION,
            ParentKind::Folder => FOLDER,
        }
    }
}

/// A reference from a folder or project to where it sits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParentRef {
    pub kind: ParentKind,
    pub name: String,
}

/// The spec field that names a kind's parent: Milo's `ownerRef` on projects,
/// `parentRef` on folders; organizations have none.
pub fn parent_field(kind: &str) -> Option<&'static str> {
    match kind {
        "Project" => Some("ownerRef"),
        "Folder" => Some("parentRef"),
        _ => None,
    }
}

/// The parent named by a valid spec.
pub fn parent_of(kind: &str, spec: &Value) -> Option<ParentRef> {
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
pub fn default_parent(kind: &str, fields: &mut Map<String, Value>, organization: &str) {
    let Some(field) = parent_field(kind) else {
        return;
    };
    let spec = fields.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        spec.entry(field)
            .or_insert_with(|| json!({"kind": "Organization", "name": organization}));
    }
}

/// What the hierarchy adds to the schema's checks of a spec: the parent's
/// name must be a name a folder or organization can have. (Kinds, required
/// fields and the organization's immutable type are the CRDs' business.)
pub fn validate_spec(kind: &str, spec: &Value) -> Vec<Cause> {
    let Some(field) = parent_field(kind) else {
        return Vec::new();
    };
    let Some(name) = spec[field]["name"].as_str().filter(|n| !n.is_empty()) else {
        return Vec::new();
    };
    dns1123_label_errors(name)
        .into_iter()
        .map(|message| Cause::invalid(format!("spec.{field}.name"), message))
        .collect()
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
    kind: &str,
    name: &str,
    chain: &[Ancestor],
    subtree_height: usize,
) -> Result<(), Cause> {
    let Some(field) = parent_field(kind) else {
        return Ok(());
    };
    let field = format!("spec.{field}");
    if kind == FOLDER.kind
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
    let own_level = usize::from(kind == FOLDER.kind);
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
pub fn check_same_organization(kind: &str, current: &str, chain: &[Ancestor]) -> Result<(), Cause> {
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

/// The Ready condition an object of `kind` reports once its create
/// returns, worded as Milo's controllers word it ("Project is ready").
pub fn ready_status(kind: &str, now: &str, generation: i64) -> Value {
    json!({
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": format!("{kind} is ready"),
            "lastTransitionTime": now,
            "observedGeneration": generation,
        }]
    })
}

/// Whether a kind takes part in the hierarchy (has a parent or children).
pub fn is_hierarchy_kind(kind: &str) -> bool {
    [ORGANIZATION.kind, FOLDER.kind, PROJECT.kind].contains(&kind)
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
        assert!(check_placement(FOLDER.kind, "f10", &folders(&nine, "o"), 0).is_ok());
        let ten: Vec<String> = (1..=10).map(|i| format!("f{i}")).collect();
        let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
        let err = check_placement(FOLDER.kind, "f11", &folders(&ten, "o"), 0).unwrap_err();
        assert_eq!(err.field, "spec.parentRef");
        assert!(err.message.contains("at most 10"));
        // A project does not count as a folder level.
        assert!(check_placement(PROJECT.kind, "p", &folders(&ten, "o"), 0).is_ok());
    }

    #[test]
    fn moving_a_subtree_counts_its_height() {
        assert!(check_placement(FOLDER.kind, "x", &folders(&["a"; 5], "o"), 4).is_ok());
        assert!(check_placement(FOLDER.kind, "x", &folders(&["a"; 5], "o"), 5).is_err());
    }

    #[test]
    fn folder_cannot_move_below_itself() {
        let err =
            check_placement(FOLDER.kind, "a", &folders(&["c", "b", "a"], "o"), 0).unwrap_err();
        assert!(err.message.contains("descendants"));
    }

    #[test]
    fn moves_stay_in_the_organization() {
        assert!(check_same_organization(PROJECT.kind, "o", &folders(&["a"], "o")).is_ok());
        assert!(check_same_organization(PROJECT.kind, "o", &folders(&["a"], "other")).is_err());
    }

    #[test]
    fn parent_names_are_dns_labels() {
        let causes = validate_spec(
            PROJECT.kind,
            &json!({"ownerRef": {"kind": "Folder", "name": "Bad_Name"}}),
        );
        assert_eq!(causes[0].field, "spec.ownerRef.name");
        assert!(validate_spec(
            FOLDER.kind,
            &json!({"parentRef": {"kind": "Folder", "name": "f"}})
        )
        .is_empty());
        // Missing parts are the schema's to report, not repeated here.
        assert!(validate_spec(FOLDER.kind, &json!({})).is_empty());
    }

    #[test]
    fn default_parent_fills_only_a_missing_ref() {
        let mut fields = Map::new();
        default_parent(PROJECT.kind, &mut fields, "acme");
        assert_eq!(fields["spec"]["ownerRef"]["name"], "acme");
        let mut fields = json!({"spec": {"ownerRef": {"kind": "Folder", "name": "f"}}})
            .as_object()
            .unwrap()
            .clone();
        default_parent(PROJECT.kind, &mut fields, "acme");
        assert_eq!(fields["spec"]["ownerRef"]["name"], "f");
    }
}
