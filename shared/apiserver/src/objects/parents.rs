//! A hierarchy object's parent: read, checked against the rules (depth,
//! cycles, one organization), and recorded (owner reference, label).

use super::*;

impl Ops<'_> {
    /// Resolves and checks where a folder or project sits, and sets its
    /// organization label and owner reference to match. `current` is the
    /// stored object's own ref and parent on update.
    pub(super) async fn place(
        &self,
        obj: &mut Object,
        current: Option<(&ObjectRef, Option<ParentRef>)>,
    ) -> Result<Vec<Link>, ApiError> {
        if !is_hierarchy(self.kind) {
            return Ok(Vec::new());
        }
        let Some(parent) = hierarchy::parent_of(&self.kind.kind, obj.spec()) else {
            return Ok(Vec::new());
        };
        let field = format!(
            "spec.{}",
            hierarchy::parent_field(&self.kind.kind).unwrap_or("parentRef")
        );
        let links = hierarchy_reads::chain(&self.server.store, &parent, &field).await?;
        let chain = hierarchy_reads::ancestors(&links);
        let name = obj.metadata.name.clone();
        let org = hierarchy::organization_of(&chain)
            .ok_or_else(|| {
                self.invalid(
                    &name,
                    vec![Cause::invalid(
                        &field,
                        "the parent does not lead to an organization",
                    )],
                )
            })?
            .to_string();
        if let Context::Organization(context_org) = self.context {
            if *context_org != org {
                let message = format!("the parent is not in organization \"{context_org}\"");
                return Err(self.invalid(&name, vec![Cause::invalid(&field, message)]));
            }
        }
        let height = match current {
            Some((own_ref, old_parent)) => {
                if let Err(cause) =
                    hierarchy::check_same_organization(&self.kind.kind, &current_org(obj), &chain)
                {
                    return Err(self.invalid(&name, vec![cause]));
                }
                if old_parent.as_ref() == Some(&parent) || self.kind.kind != kinds::FOLDER.kind {
                    0
                } else {
                    hierarchy_reads::subtree_height(&self.server.store, own_ref).await?
                }
            }
            None => 0,
        };
        hierarchy::check_placement(&self.kind.kind, &name, &chain, height)
            .map_err(|c| self.invalid(&name, vec![c]))?;
        obj.metadata.labels.insert(ORGANIZATION_LABEL.into(), org);
        if let Some(first) = links.first() {
            set_parent_owner(obj, first);
        }
        Ok(links)
    }

    pub(super) fn parent_of(&self, obj: &Object) -> Option<ParentRef> {
        is_hierarchy(self.kind)
            .then(|| hierarchy::parent_of(&self.kind.kind, obj.spec()))
            .flatten()
    }
}

pub(super) fn current_org(obj: &Object) -> String {
    obj.metadata
        .labels
        .get(ORGANIZATION_LABEL)
        .cloned()
        .unwrap_or_default()
}

pub(super) fn is_hierarchy_owner(owner: &OwnerReference) -> bool {
    owner.api_version == kinds::ORGANIZATION.api_version()
        && matches!(owner.kind.as_str(), "Organization" | "Folder")
}

pub(super) fn set_parent_owner(obj: &mut Object, parent: &Link) {
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

pub(super) fn object_ref_of_parent(parent: &ParentRef) -> ObjectRef {
    builtin_ref(&Context::Platform, &parent.kind.kind(), "", &parent.name)
}
