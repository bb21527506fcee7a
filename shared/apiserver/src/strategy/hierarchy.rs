//! Organizations, folders and projects: where each sits (its parent read,
//! checked against the rules: depth, cycles, one organization), how that
//! is recorded (owner reference, organization label), the namespaces it
//! starts with, and the children that keep it from being deleted.

use domain::hierarchy::{self, ParentRef};
use domain::kinds::{self, KindInfo, ORGANIZATION_LABEL};
use domain::object::{Object, OwnerReference};
use domain::Cause;
use serde_json::Value;
use store::{Context, ObjectRef, Write};

use super::{Reads, Strategy, StrategyContext};
use crate::hierarchy_reads::{self, Link};
use crate::namespaces;

pub(super) struct Hierarchy;
impl Strategy for Hierarchy {
    fn default_on_create(&self, kind: &KindInfo, context: &Context, doc: &mut Value) {
        if let (Context::Organization(org), Some(fields)) = (context, doc.as_object_mut()) {
            hierarchy::default_parent(&kind.kind, fields, org);
        }
    }

    fn contained_by_context(&self) -> bool {
        false
    }

    fn validate(&self, kind: &KindInfo, new: &Object, _valid_so_far: bool) -> Vec<Cause> {
        hierarchy::validate_spec(&kind.kind, new.spec())
    }

    fn parent_of(&self, kind: &KindInfo, obj: &Object) -> Option<ParentRef> {
        hierarchy::parent_of(&kind.kind, obj.spec())
    }

    fn parent_field(&self, kind: &KindInfo) -> String {
        format!(
            "spec.{}",
            hierarchy::parent_field(&kind.kind).unwrap_or("parentRef")
        )
    }

    fn place<'a>(
        &'a self,
        cx: &'a StrategyContext<'a>,
        obj: &'a mut Object,
        current: Option<(&'a ObjectRef, Option<ParentRef>)>,
    ) -> Reads<'a, Vec<Link>> {
        Box::pin(place(cx, obj, current))
    }

    fn keep_placement(&self, old: &Object, new: &mut Object) {
        match old.metadata.labels.get(ORGANIZATION_LABEL) {
            Some(org) => {
                new.metadata
                    .labels
                    .insert(ORGANIZATION_LABEL.into(), org.clone());
            }
            None => {
                new.metadata.labels.remove(ORGANIZATION_LABEL);
            }
        }
        new.metadata
            .owner_references
            .retain(|o| !is_hierarchy_owner(o));
        new.metadata.owner_references.extend(
            old.metadata
                .owner_references
                .iter()
                .filter(|o| is_hierarchy_owner(o))
                .cloned(),
        );
    }

    fn organization_of(&self, kind: &KindInfo, name: &str, obj: Option<&Value>) -> Option<String> {
        if kind.is(&kinds::ORGANIZATION) {
            return Some(name.to_string());
        }
        obj.and_then(|o| o["metadata"]["labels"][ORGANIZATION_LABEL].as_str())
            .map(str::to_string)
    }

    fn prepare_for_create(&self, obj: &mut Object, now: &str) {
        obj.set_status(hierarchy::ready_status(&obj.kind, now, 1));
    }

    fn created_with(&self, kind: &KindInfo, object: &ObjectRef, now: &str) -> Vec<Write> {
        namespaces::created_with(kind, object, now)
    }

    fn holds_children(&self) -> bool {
        true
    }
}

/// Resolves and checks where a folder or project sits, and sets its
/// organization label and owner reference to match. `current` is the
/// stored object's own ref and parent on update.
async fn place(
    cx: &StrategyContext<'_>,
    obj: &mut Object,
    current: Option<(&ObjectRef, Option<ParentRef>)>,
) -> Result<Vec<Link>, domain::ApiError> {
    let kind = cx.kind;
    let Some(parent) = hierarchy::parent_of(&kind.kind, obj.spec()) else {
        return Ok(Vec::new());
    };
    let field = Hierarchy.parent_field(kind);
    let store = &cx.server.store;
    let links = hierarchy_reads::chain(store, &parent, &field).await?;
    let chain = hierarchy_reads::ancestors(&links);
    let name = obj.metadata.name.clone();
    let invalid =
        |cause: Cause| domain::ApiError::invalid(&kind.group, &kind.plural, &name, vec![cause]);
    let org = hierarchy::organization_of(&chain)
        .ok_or_else(|| {
            invalid(Cause::invalid(
                &field,
                "the parent does not lead to an organization",
            ))
        })?
        .to_string();
    if let Context::Organization(context_org) = cx.context {
        if *context_org != org {
            let message = format!("the parent is not in organization \"{context_org}\"");
            return Err(invalid(Cause::invalid(&field, message)));
        }
    }
    let height = match current {
        Some((own_ref, old_parent)) => {
            hierarchy::check_same_organization(&kind.kind, &current_org(obj), &chain)
                .map_err(invalid)?;
            if old_parent.as_ref() == Some(&parent) || kind.kind != kinds::FOLDER.kind {
                0
            } else {
                hierarchy_reads::subtree_height(store, own_ref).await?
            }
        }
        None => 0,
    };
    hierarchy::check_placement(&kind.kind, &name, &chain, height).map_err(invalid)?;
    obj.metadata.labels.insert(ORGANIZATION_LABEL.into(), org);
    if let Some(first) = links.first() {
        set_parent_owner(obj, first);
    }
    Ok(links)
}

fn current_org(obj: &Object) -> String {
    obj.metadata
        .labels
        .get(ORGANIZATION_LABEL)
        .cloned()
        .unwrap_or_default()
}

/// Whether an owner reference is the one the server sets for a parent.
pub fn is_hierarchy_owner(owner: &OwnerReference) -> bool {
    owner.api_version == kinds::ORGANIZATION.api_version()
        && matches!(owner.kind.as_str(), "Organization" | "Folder")
}

fn set_parent_owner(obj: &mut Object, parent: &Link) {
    obj.metadata
        .owner_references
        .retain(|o| !is_hierarchy_owner(o));
    let kind = parent.ancestor.kind.kind();
    obj.metadata.owner_references.push(OwnerReference {
        api_version: kind.api_version(),
        kind: kind.kind.into(),
        name: parent.ancestor.name.clone(),
        uid: parent.stored.object["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .into(),
        controller: None,
        block_owner_deletion: Some(true),
    });
}
