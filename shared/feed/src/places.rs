//! Where an object lives, as the lifecycle event names it: its project,
//! its organization and every ancestor, read from the hierarchy objects
//! (one GetItem per node a batch meets, then cached for the batch).

use std::collections::HashMap;

use domain::change_event::Place;
use domain::hierarchy::{parent_of, MAX_FOLDER_DEPTH};
use domain::ingest::object_urn;
use domain::kinds::{KindId, ORGANIZATION, PROJECT, RESOURCEMANAGER_GROUP};
use domain::object::Object;
use store::{Context, ObjectRef, Store, StoreError};

use crate::changes::ObjectChange;

/// A hierarchy object: its uid and where it sits.
#[derive(Debug, Clone)]
struct Node {
    uid: String,
    parent: Option<(KindId, String)>,
}

/// The places of one batch's objects.
pub struct Places<'a> {
    store: &'a Store,
    read: HashMap<(&'static str, String), Option<Node>>,
    /// The batch's own hierarchy objects, for nodes deleted before the
    /// batch is published: a project removed with its contents is still
    /// named by the events of what it held.
    in_batch: HashMap<(&'static str, String), Node>,
}

impl<'a> Places<'a> {
    pub fn new<'b>(
        store: &'a Store,
        batch: impl IntoIterator<Item = &'b ObjectChange>,
    ) -> Places<'a> {
        let in_batch = batch
            .into_iter()
            .filter(|change| change.at.context == Context::Platform)
            .filter(|change| change.at.group == RESOURCEMANAGER_GROUP)
            .filter_map(|change| {
                let object = change.object()?;
                let kind = hierarchy_kind(&change.at.kind)?;
                Some(((kind.kind, change.at.name.clone()), node_of(kind, object)))
            })
            .collect();
        Places {
            store,
            read: HashMap::new(),
            in_batch,
        }
    }

    /// The place of the object `change` is about.
    pub async fn place(&mut self, change: &ObjectChange) -> Result<Place, StoreError> {
        let mut next = change.object().and_then(|object| start(&change.at, object));
        let mut chain = Vec::new();
        while let Some((kind, name)) = next.take() {
            // A chain longer than the hierarchy allows is corrupt; what was
            // read of it is still the truth about the nearest nodes.
            if chain.len() > MAX_FOLDER_DEPTH + 1 {
                break;
            }
            let Some(node) = self.node(kind, &name).await? else {
                break;
            };
            if let Some(urn) = object_urn(kind.kind, &node.uid) {
                chain.push((kind.kind, urn));
            }
            next = node.parent;
        }
        Ok(Place::from_chain(chain))
    }

    async fn node(&mut self, kind: KindId, name: &str) -> Result<Option<Node>, StoreError> {
        let key = (kind.kind, name.to_string());
        if let Some(known) = self.read.get(&key) {
            return Ok(known.clone());
        }
        let at = ObjectRef::in_platform(kind.group, kind.kind, name);
        let stored = self.store.get(&at.key()).await?;
        let node = match stored.map(|s| Object::from_value(s.object)) {
            Some(Ok(object)) => Some(node_of(kind, &object)),
            _ => self.in_batch.get(&key).cloned(),
        };
        self.read.insert(key, node.clone());
        Ok(node)
    }
}

/// The first node of an object's chain: its context's project or
/// organization; for a folder or project, its parent.
fn start(at: &ObjectRef, object: &Object) -> Option<(KindId, String)> {
    match &at.context {
        Context::Project(project) => Some((PROJECT, project.clone())),
        Context::Organization(organization) => Some((ORGANIZATION, organization.clone())),
        Context::Platform if at.group == RESOURCEMANAGER_GROUP => parent(&at.kind, object),
        Context::Platform => None,
    }
}

fn node_of(kind: KindId, object: &Object) -> Node {
    Node {
        uid: object.metadata.uid.clone(),
        parent: parent(kind.kind, object),
    }
}

fn parent(kind: &str, object: &Object) -> Option<(KindId, String)> {
    parent_of(kind, object.spec()).map(|parent| (parent.kind.kind(), parent.name))
}

fn hierarchy_kind(kind: &str) -> Option<KindId> {
    [ORGANIZATION, domain::kinds::FOLDER, PROJECT]
        .into_iter()
        .find(|k| k.kind == kind)
}
