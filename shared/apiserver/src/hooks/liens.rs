//! Liens' holds (#21). A lien counts a hold on its target and on every
//! container above it (the target's namespace, its project or
//! organization, the folders above) in its own transaction: a counter
//! item per held object (`h#…`, store's `HOLDS`), which also names the
//! liens behind it. Every delete, every start of one (Terminating) and
//! every move checks in its own transaction that its object is not held
//! (`Expect::Unheld`), so a delete, or one whose cascade would reach a
//! held object, is refused by what is stored, not by a read before it.
//! A held folder or project does not move: its holds stay where they are.

use domain::deletion;
use domain::hierarchy;
use domain::kinds::{self, KindInfo};
use domain::lien::{held_message, Lien, HOLD_ATTRIBUTE_PREFIX};
use domain::object::Object;
use domain::ApiError;
use serde_json::json;
use store::{Attribute, Context, CounterWrite, Expect, ObjectRef, Write, HOLDS};

use super::HookContext;
use crate::errors::from_store;
use crate::hierarchy_reads::{self, Link};
use crate::placement::{self, builtin_ref};
use crate::write_set::{Refused, Role};
use crate::ApiServer;

/// A held object's counter item, moved by a lien's create or delete.
pub(super) const HOLD: Role = Role::Hook {
    hook: "liens",
    part: "hold",
};
/// An object a new lien holds: checked live (not being deleted).
pub(super) const HELD_LIVE: Role = Role::Hook {
    hook: "liens",
    part: "held object, live",
};
/// The object a delete, a start of one or a move writes: checked unheld.
pub(super) const UNHELD: Role = Role::Hook {
    hook: "liens",
    part: "object, unheld",
};

pub(super) fn is_lien(kind: &KindInfo) -> bool {
    kind.is(&kinds::LIEN)
}

/// A lien created: a hold on each object it reaches (role [`HOLD`]),
/// each checked live ([`HELD_LIVE`]).
pub(super) async fn created(
    cx: &HookContext<'_>,
    obj: &Object,
) -> Result<(Vec<Write>, Vec<Write>), ApiError> {
    if !is_lien(cx.kind) {
        return Ok((Vec::new(), Vec::new()));
    }
    let (attribute, text) = hold_entry(cx, obj);
    let (mut holds, mut live) = (Vec::new(), Vec::new());
    for held in held_chain(cx, &Lien::of(obj)).await? {
        holds.push(Write::Counters(CounterWrite {
            key: held.hold_key(),
            document: Some(json!({})),
            add: vec![(HOLDS.into(), 1)],
            set: vec![(attribute.clone(), text.clone())],
            remove: Vec::new(),
            condition: None,
        }));
        live.push(Write::Check {
            key: held.key(),
            expect: Expect::Live,
        });
    }
    Ok((holds, live))
}

/// A lien deleted: its holds released ([`HOLD`]). Any other object
/// deleted: checked unheld ([`UNHELD`]).
pub(super) async fn deleted(
    cx: &HookContext<'_>,
    old: &Object,
) -> Result<(Role, Vec<Write>), ApiError> {
    if !is_lien(cx.kind) {
        return Ok((UNHELD, vec![unheld(cx, old)]));
    }
    let (attribute, _) = hold_entry(cx, old);
    let chain = held_chain(cx, &Lien::of(old)).await?;
    let releases = chain
        .into_iter()
        .map(|held| {
            Write::Counters(CounterWrite {
                key: held.hold_key(),
                document: Some(json!({})),
                add: vec![(HOLDS.into(), -1)],
                set: Vec::new(),
                remove: vec![attribute.clone()],
                condition: None,
            })
        })
        .collect();
    Ok((HOLD, releases))
}

/// An update that starts a delete (Terminating) or moves the object:
/// checked unheld.
pub(super) fn changed(
    cx: &HookContext<'_>,
    old: &Object,
    new: &Object,
    placement: &[Link],
) -> Vec<Write> {
    let starts_delete = !deletion::is_terminating(old) && deletion::is_terminating(new);
    match starts_delete || !placement.is_empty() {
        true => vec![unheld(cx, new)],
        false => Vec::new(),
    }
}

fn unheld(cx: &HookContext<'_>, obj: &Object) -> Write {
    let this = placement::object_ref(
        cx.context,
        cx.kind,
        &obj.metadata.namespace,
        &obj.metadata.name,
    );
    Write::Check {
        key: this.hold_key(),
        expect: Expect::Unheld,
    }
}

/// The attribute a lien sets on each hold, and what it says.
fn hold_entry(cx: &HookContext<'_>, lien: &Object) -> (String, String) {
    let context = cx.context.key_part();
    let name = &lien.metadata.name;
    (
        format!("{HOLD_ATTRIBUTE_PREFIX}{context}/{name}"),
        Lien::of(lien).hold_text(&context, name),
    )
}

/// What a lien holds: its target, the target's namespace, then the
/// hierarchy object it is in (its project or organization, or itself)
/// and that object's ancestors.
async fn held_chain(cx: &HookContext<'_>, lien: &Lien) -> Result<Vec<ObjectRef>, ApiError> {
    let target = &lien.target;
    let Some(kind) = cx.catalog.preferred(&target.group, &target.kind) else {
        return Ok(Vec::new());
    };
    let target_ref = placement::object_ref(cx.context, kind, &target.namespace, &target.name);
    let mut chain = vec![target_ref.clone()];
    if !target.namespace.is_empty() {
        let namespace = builtin_ref(
            &target_ref.context,
            &kinds::NAMESPACE,
            "",
            &target.namespace,
        );
        chain.push(namespace);
    }
    let climb_from = match (&target_ref.context, placement::is_hierarchy(kind)) {
        (_, true) => target_ref.clone(),
        (Context::Project(p), false) => builtin_ref(&Context::Platform, &kinds::PROJECT, "", p),
        (Context::Organization(o), false) => {
            builtin_ref(&Context::Platform, &kinds::ORGANIZATION, "", o)
        }
        (Context::Platform, false) => return Ok(chain),
    };
    if climb_from != target_ref {
        chain.push(climb_from.clone());
    }
    let Some(stored) = cx.store.get(&climb_from.key()).await.map_err(from_store)? else {
        return Ok(chain);
    };
    if let Some(parent) = hierarchy::parent_of(&climb_from.kind, &stored.object["spec"]) {
        let links = hierarchy_reads::chain(cx.store, &parent, "spec.targetRef").await?;
        chain.extend(links.into_iter().map(|l| l.object_ref));
    }
    Ok(chain)
}

/// The Status of a write refused because its object is held: a 409
/// naming the liens the hold records.
pub(super) async fn refusal(server: &ApiServer, refused: &Refused) -> Option<ApiError> {
    if refused.role != UNHELD {
        return None;
    }
    let Write::Check { key, .. } = &refused.write else {
        return None;
    };
    let held = ObjectRef::from_key(&store::ItemKey {
        pk: key.pk.strip_prefix("h#")?.to_string(),
        sk: key.sk.clone(),
    })?;
    let holds: Vec<String> = match server.store.get(key).await {
        Ok(Some(stored)) => stored
            .attributes
            .iter()
            .filter(|(name, _)| name.starts_with(HOLD_ATTRIBUTE_PREFIX))
            .filter_map(|(_, value)| match value {
                Attribute::Text(text) => Some(text.clone()),
                Attribute::Number(_) => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let catalog = server.catalog.current(&server.store).await.ok()?;
    let plural = catalog.preferred(&held.group, &held.kind)?.plural.clone();
    Some(ApiError::conflict(
        &held.group,
        &plural,
        &held.name,
        held_message(&held.kind, &held.name, &holds),
    ))
}
