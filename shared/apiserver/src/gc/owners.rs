//! Owners and their dependents (Kubernetes' garbage collection), found
//! through the owner index (`own#{uid}`, hooks/owners.rs): a Foreground
//! delete waits for its blocking dependents, an Orphan delete releases
//! them, and an owner gone (Background) takes the dependents that have no
//! other owner left; a dependent that keeps one loses only the dangling
//! reference. Owners are matched by uid, looked up where Kubernetes looks:
//! a namespaced owner in the dependent's namespace, in its context.

use domain::deletion;
use domain::kinds::{split_api_version, Scope};
use domain::object::{Object, OwnerReference};
use domain::ApiError;
use serde_json::json;
use store::keys::owner_index_pk;
use store::{ItemKey, ObjectRef, Stored};

use super::{object_of, Deleted, Gc, Sweep};
use crate::errors::from_store;
use crate::placement;

impl Gc<'_> {
    /// Foreground: deletes the owner's dependents (those that block it,
    /// Foreground in turn); true once none that blocks it is left.
    pub(super) async fn foreground(
        &self,
        owner: &Object,
        report: &mut Sweep,
    ) -> Result<bool, ApiError> {
        let uid = &owner.metadata.uid;
        let mut blocked = false;
        for (dependent, stored) in self.dependents(uid).await? {
            let object = object_of(&stored)?;
            let blocks = object
                .metadata
                .owner_references
                .iter()
                .any(|o| o.uid == *uid && o.block_owner_deletion == Some(true));
            let still_there = match deletion::is_terminating(&object) {
                true => true,
                false => {
                    let policy = if blocks { "Foreground" } else { "Background" };
                    !matches!(
                        self.delete(&dependent, Some(policy), report).await?,
                        Deleted::Gone
                    )
                }
            };
            blocked |= blocks && still_there;
        }
        Ok(!blocked)
    }

    /// Orphan: removes the owner's reference from every dependent; true
    /// once none names it.
    pub(super) async fn orphan(
        &self,
        owner: &Object,
        report: &mut Sweep,
    ) -> Result<bool, ApiError> {
        let uid = &owner.metadata.uid;
        let mut released = true;
        for (dependent, stored) in self.dependents(uid).await? {
            let object = object_of(&stored)?;
            released &= self
                .keep_owners(&dependent, &stored, &object, |o| o.uid != *uid, report)
                .await?;
        }
        Ok(released)
    }

    /// An owner gone while dependents named it: each dependent with no
    /// owner left is deleted, one with another keeps only the owners that
    /// exist. The entry goes once no dependent names the owner.
    pub(super) async fn sweep_orphaned(
        &self,
        entry: &ItemKey,
        report: &mut Sweep,
    ) -> Result<(), ApiError> {
        let dependents = self.dependents(&entry.sk).await?;
        if dependents.is_empty() {
            report.finished += 1;
            return self.dequeue(entry).await;
        }
        for (dependent, stored) in dependents {
            let object = object_of(&stored)?;
            if deletion::is_terminating(&object) {
                continue;
            }
            let mut present = Vec::new();
            for owner in &object.metadata.owner_references {
                present.push(self.owner_exists(&dependent, owner).await?);
            }
            if !present.contains(&true) {
                self.delete(&dependent, None, report).await?;
                continue;
            }
            let refs = &object.metadata.owner_references;
            let exists =
                |o: &OwnerReference| refs.iter().position(|r| r == o).is_some_and(|i| present[i]);
            self.keep_owners(&dependent, &stored, &object, exists, report)
                .await?;
        }
        report.waiting += 1;
        Ok(())
    }

    /// The dependents the owner index lists for `uid`, read; entries whose
    /// object is gone are removed.
    async fn dependents(&self, uid: &str) -> Result<Vec<(ObjectRef, Stored)>, ApiError> {
        let store = &self.server.store;
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = store
                .query_index(&owner_index_pk(uid), "", Some(100), start)
                .await
                .map_err(from_store)?;
            let targets: Vec<ItemKey> = page.items.iter().map(|e| e.target.clone()).collect();
            let stored = store.batch_get(&targets).await.map_err(from_store)?;
            for entry in &page.items {
                match stored.iter().find(|s| s.key == entry.target) {
                    Some(s) => {
                        if let Some(dependent) = ObjectRef::from_key(&s.key) {
                            found.push((dependent, s.clone()));
                        }
                    }
                    None => self.dequeue(&entry.key).await?,
                }
            }
            start = page.next;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Whether `owner` exists where Kubernetes looks for it, with its uid.
    async fn owner_exists(
        &self,
        dependent: &ObjectRef,
        owner: &OwnerReference,
    ) -> Result<bool, ApiError> {
        let (group, _) = split_api_version(&owner.api_version);
        let Some(kind) = self.catalog.preferred(group, &owner.kind) else {
            return Ok(false);
        };
        let namespace = match kind.scope {
            Scope::Namespaced => dependent.namespace.as_str(),
            Scope::Cluster => "",
        };
        let owner_ref = placement::object_ref(&dependent.context, kind, namespace, &owner.name);
        let stored = self.read(&owner_ref).await?;
        Ok(stored.is_some_and(|s| s.object["metadata"]["uid"] == owner.uid.as_str()))
    }

    /// Keeps only the dependent's owner references `keep` says, under the
    /// version read; true when none had to go or the write went through.
    async fn keep_owners(
        &self,
        dependent: &ObjectRef,
        stored: &Stored,
        object: &Object,
        keep: impl Fn(&OwnerReference) -> bool,
        report: &mut Sweep,
    ) -> Result<bool, ApiError> {
        let refs = &object.metadata.owner_references;
        let kept: Vec<&OwnerReference> = refs.iter().filter(|o| keep(o)).collect();
        if kept.len() == refs.len() {
            return Ok(true);
        }
        let patch = json!({"metadata": {
            "ownerReferences": kept, "resourceVersion": stored.version.to_string(),
        }});
        report.deletes += 1;
        let (status, body) = self
            .call(http::Method::PATCH, dependent, None, Some(patch))
            .await?;
        if status != 200 {
            tracing::info!(status, %body, name = %dependent.name, "owner references not released; next pass");
        }
        Ok(status == 200)
    }
}
