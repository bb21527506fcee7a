//! Whether a type's names can be accepted next to the other registered
//! types, and the CRD `status` that says so (Kubernetes' NamesAccepted and
//! Established conditions).

use serde_json::{json, Value};

use super::ResourceType;

/// Why a type's names cannot be accepted: Kubernetes' `NamesAccepted`
/// reason (`PluralConflict`, `SingularConflict`, `ShortNamesConflict`,
/// `KindConflict`, `ListKindConflict`) and a message naming every clash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameConflict {
    pub reason: &'static str,
    pub message: String,
}

/// The clashes of `candidate`'s names with `others` (the registered types;
/// a type with the candidate's CRD name is the candidate itself and is
/// skipped), as Kubernetes' naming controller finds them: within the same
/// group, the plural, singular and short names must not be any other type's
/// plural, singular or short name, and the kind and list kind not any other
/// type's kind or list kind. Names in other groups never clash: clients
/// qualify them with the group (`widgets.example.com`).
///
/// The reason is that of the last clash in Kubernetes' order (plural,
/// singular, short names, kind, list kind), as Kubernetes reports it.
pub fn name_conflict(candidate: &ResourceType, others: &[&ResourceType]) -> Option<NameConflict> {
    let rivals: Vec<&ResourceType> = others
        .iter()
        .copied()
        .filter(|o| o.group == candidate.group && o.name != candidate.name)
        .collect();
    let resource_user = |name: &str| {
        rivals.iter().copied().find(|o| {
            o.plural == name || o.singular == name || o.short_names.iter().any(|s| s == name)
        })
    };
    let kind_user = |name: &str| {
        rivals
            .iter()
            .copied()
            .find(|o| o.kind == name || o.list_kind == name)
    };

    let mut clashes: Vec<(&'static str, String)> = Vec::new();
    let mut note = |reason, name: &str, user: Option<&ResourceType>| {
        if let Some(user) = user {
            clashes.push((
                reason,
                format!("{name:?} is already in use by crd {}", user.name),
            ));
        }
    };
    note(
        "PluralConflict",
        &candidate.plural,
        resource_user(&candidate.plural),
    );
    note(
        "SingularConflict",
        &candidate.singular,
        resource_user(&candidate.singular),
    );
    for short_name in &candidate.short_names {
        note("ShortNamesConflict", short_name, resource_user(short_name));
    }
    note("KindConflict", &candidate.kind, kind_user(&candidate.kind));
    note(
        "ListKindConflict",
        &candidate.list_kind,
        kind_user(&candidate.list_kind),
    );

    let reason = clashes.last()?.0;
    let messages: Vec<String> = clashes.into_iter().map(|(_, m)| m).collect();
    Some(NameConflict {
        reason,
        message: messages.join(", "),
    })
}

/// The message of [`name_conflict`], e.g.
/// `"wd" is already in use by crd widgets2.example.com`.
pub fn names_clash(candidate: &ResourceType, others: &[&ResourceType]) -> Option<String> {
    name_conflict(candidate, others).map(|c| c.message)
}

/// The CRD's `status`: the NamesAccepted and Established conditions (both
/// with `lastTransitionTime` = `now`), `acceptedNames` and `storedVersions`.
/// A type whose names clash is not established: its resource is not served.
/// Its `acceptedNames` are then empty (Kubernetes would keep names accepted
/// earlier; a type here is refused at creation instead).
pub fn status(
    rt: &ResourceType,
    conflict: Option<&NameConflict>,
    stored_versions: &[String],
    now: &str,
) -> Value {
    let (names_accepted, established, accepted_names) = match conflict {
        None => (
            condition(
                "NamesAccepted",
                true,
                "NoConflicts",
                "no conflicts found",
                now,
            ),
            condition(
                "Established",
                true,
                "InitialNamesAccepted",
                "the initial names have been accepted",
                now,
            ),
            accepted_names(rt),
        ),
        Some(conflict) => (
            condition(
                "NamesAccepted",
                false,
                conflict.reason,
                &conflict.message,
                now,
            ),
            condition(
                "Established",
                false,
                "NotAccepted",
                "not all names are accepted",
                now,
            ),
            json!({ "plural": "", "kind": "" }),
        ),
    };
    json!({
        "conditions": [names_accepted, established],
        "acceptedNames": accepted_names,
        "storedVersions": stored_versions,
    })
}

fn condition(type_: &str, ok: bool, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": type_,
        "status": if ok { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    })
}

/// `status.acceptedNames`; empty lists are left out, as Kubernetes does.
fn accepted_names(rt: &ResourceType) -> Value {
    let mut names = json!({
        "plural": rt.plural,
        "singular": rt.singular,
        "kind": rt.kind,
        "listKind": rt.list_kind,
    });
    if !rt.short_names.is_empty() {
        names["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        names["categories"] = json!(rt.categories);
    }
    names
}
