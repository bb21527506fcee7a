//! The graph in the table: resource records (as ExternalResource objects,
//! platform context) and relationship items with their inverses.
//!
//! An event's change is ONE TransactWriteItems: the record's object
//! (conditional on the version read, or on absence), its label index items,
//! and a forward and an inverse item per relationship added (Put) or
//! removed (Delete). A concurrent replica that wrote the record first makes
//! the condition fail; [`Graph::ingest`] then reads again and plans again,
//! at most [`PLAN_ATTEMPTS`] times.
//!
//! Bound: a transaction holds at most [`store::MAX_TRANSACTION_ITEMS`]
//! (DynamoDB's limit, 100) items: 1 record + up to 4 label index changes +
//! 2 per relationship changed, so an event may change about 47
//! relationships at once. A larger change can never be written atomically
//! and is refused as [`GraphError::TooManyItems`] (dead-lettered).

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::ingest::{
    self, from_document, object_name, plan, LifecycleEvent, ObjectIdentity, Plan, Relationship,
    RelationshipKey, RelationshipType, ResourceRecord, SkipReason, Urn,
};
use domain::kinds::{EXTERNAL_RESOURCE, GRAPH_GROUP, RELATIONSHIP_TYPE};
use store::keys::{
    inverse_relationship_key, inverse_relationship_pk, relation_prefix, relationship_key,
    relationship_pk,
};
use store::{Collection, Context, Expect, ItemKey, ObjectRef, Store, StoreError, Write};

use crate::authority::{verb_for, Authority};

/// How often an event is planned again after a concurrent write of its record.
pub const PLAN_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The change needs more items than one transaction holds.
    #[error("the change needs {count} items in one transaction; the limit is {limit}")]
    TooManyItems { count: usize, limit: usize },
    /// The record moved on between the read and the write (another replica).
    #[error("the record of {urn} was written concurrently {attempts} times in a row")]
    Contended { urn: String, attempts: u32 },
    #[error("stored graph data is corrupt: {0}")]
    Corrupt(String),
    /// The function's principal may not write the record.
    #[error("{0}")]
    Forbidden(String),
    /// Whether it may could not be decided (the policy was not read).
    #[error("authorization could not be decided: {0}")]
    Undecided(String),
}

/// A record as read, with what a conditional write of it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub record: ResourceRecord,
    pub identity: ObjectIdentity,
    pub version: u64,
}

/// What ingesting one event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    Applied {
        added: Vec<Relationship>,
        removed: Vec<Relationship>,
    },
    Skipped(SkipReason),
}

#[derive(Clone)]
pub struct Graph {
    store: Store,
    /// Who its writes act as; `None`: a graph for reading, which writes nothing.
    acting_as: Option<Arc<dyn Authority>>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("store", &self.store)
            .field("acting", &self.acting_as.is_some())
            .finish()
    }
}

/// The ExternalResource object of a resource.
pub fn record_ref(urn: &Urn) -> ObjectRef {
    ObjectRef {
        context: Context::Platform,
        group: GRAPH_GROUP.into(),
        kind: EXTERNAL_RESOURCE.kind.into(),
        namespace: String::new(),
        name: object_name(urn),
    }
}

impl Graph {
    /// A graph to read; its `ingest` is refused until it acts as someone.
    pub fn new(store: Store) -> Graph {
        Graph {
            store,
            acting_as: None,
        }
    }

    /// The graph writing as the principal `authority` decides for.
    pub fn acting_as(self, authority: Arc<dyn Authority>) -> Graph {
        Graph {
            acting_as: Some(authority),
            ..self
        }
    }

    /// Refused unless its principal may `verb` a record.
    async fn authorize(&self, verb: &'static str) -> Result<(), GraphError> {
        let Some(authority) = &self.acting_as else {
            return Err(GraphError::Forbidden(
                "this graph acts as no principal, so it writes nothing".into(),
            ));
        };
        match authority.refusal(verb).await {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(GraphError::Forbidden(why)),
            Err(unread) => Err(GraphError::Undecided(unread)),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The stored record of `urn` and its version, strongly consistent.
    pub async fn load(&self, urn: &Urn) -> Result<Option<Loaded>, GraphError> {
        let Some(stored) = self.store.get(&record_ref(urn).key()).await? else {
            return Ok(None);
        };
        let (record, identity) =
            from_document(&stored.object).map_err(|e| GraphError::Corrupt(e.to_string()))?;
        if record.urn != *urn {
            return Err(GraphError::Corrupt(format!(
                "the object named for {urn} holds {}",
                record.urn
            )));
        }
        Ok(Some(Loaded {
            record,
            identity,
            version: stored.version,
        }))
    }

    /// Every RelationshipType defined (one Query per page of the collection).
    /// Objects whose spec does not read as a definition are skipped: the API
    /// admitted them, so this only happens to hand-edited items.
    pub async fn definitions(&self) -> Result<Vec<RelationshipType>, GraphError> {
        let pk = Collection {
            context: Context::Platform,
            group: GRAPH_GROUP.into(),
            kind: RELATIONSHIP_TYPE.kind.into(),
        }
        .pk();
        let mut definitions = Vec::new();
        let mut start = None;
        loop {
            let page = self.store.query_objects(&pk, "", None, start).await?;
            for stored in page.items {
                match serde_json::from_value::<RelationshipType>(stored.object["spec"].clone()) {
                    Ok(definition) => definitions.push(definition),
                    Err(e) => {
                        tracing::warn!(key = ?stored.key, error = %e, "unreadable RelationshipType skipped")
                    }
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(definitions),
            }
        }
    }

    /// Plans `event` against the stored record and writes the plan; on a
    /// concurrent write of the record, reads and plans again.
    pub async fn ingest(
        &self,
        event: &LifecycleEvent,
        relationships: &[Relationship],
    ) -> Result<Ingested, GraphError> {
        for _ in 0..PLAN_ATTEMPTS {
            let current = self.load(&event.subject).await?;
            let (record, add, remove) =
                match plan(current.as_ref().map(|c| &c.record), event, relationships) {
                    Plan::Skip(reason) => return Ok(Ingested::Skipped(reason)),
                    Plan::Apply {
                        record,
                        add,
                        remove,
                    } => (record, add, remove),
                };
            self.authorize(verb_for(current.is_some())).await?;
            match self.apply(current.as_ref(), &record, &add, &remove).await {
                Ok(()) => {
                    return Ok(Ingested::Applied {
                        added: add,
                        removed: remove,
                    })
                }
                Err(GraphError::Store(
                    StoreError::AlreadyExists { index: 0 }
                    | StoreError::Conflict { index: 0 }
                    | StoreError::NotFound { index: 0 },
                )) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(GraphError::Contended {
            urn: event.subject.to_string(),
            attempts: PLAN_ATTEMPTS,
        })
    }

    /// Writes `record` (replacing `current`, read at its version) and the
    /// relationship changes, in one transaction whose first write is the
    /// record's (so a failed condition at index 0 means "moved on").
    pub async fn apply(
        &self,
        current: Option<&Loaded>,
        record: &ResourceRecord,
        add: &[Relationship],
        remove: &[Relationship],
    ) -> Result<(), GraphError> {
        let object_ref = record_ref(&record.urn);
        let (identity, version, expect) = match current {
            Some(c) => (
                c.identity.clone(),
                c.version + 1,
                Expect::Version(c.version),
            ),
            None => (
                ObjectIdentity {
                    uid: uuid::Uuid::new_v4().to_string(),
                    creation_timestamp: chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                },
                1,
                Expect::Absent,
            ),
        };
        let mut writes = vec![Write::PutObject {
            key: object_ref.key(),
            object: ingest::to_document(record, &identity, version),
            version,
            expect,
        }];
        let old_labels: BTreeSet<(String, String)> = current
            .map(|c| ingest::labels(&c.record).into_iter().collect())
            .unwrap_or_default();
        let new_labels: BTreeSet<(String, String)> = ingest::labels(record).into_iter().collect();
        writes.extend(
            new_labels
                .difference(&old_labels)
                .map(|(k, v)| Write::PutIndex {
                    key: object_ref.label_index_key(k, v),
                    target: object_ref.key(),
                }),
        );
        writes.extend(
            old_labels
                .difference(&new_labels)
                .map(|(k, v)| Write::Delete {
                    key: object_ref.label_index_key(k, v),
                    expect: Expect::Anything,
                }),
        );
        writes.extend(relationship_writes(add, remove));
        if writes.len() > store::MAX_TRANSACTION_ITEMS {
            return Err(GraphError::TooManyItems {
                count: writes.len(),
                limit: store::MAX_TRANSACTION_ITEMS,
            });
        }
        self.store.write(writes).await?;
        Ok(())
    }

    /// The relationships of `resource` (it is the resource side), optionally
    /// of one relation: one Query (per page of 1 MB).
    pub async fn outgoing(
        &self,
        resource: &Urn,
        relation: Option<&str>,
    ) -> Result<Vec<Relationship>, GraphError> {
        let partition = resource.to_string();
        let keys = self
            .all_keys(&relationship_pk(&partition), relation)
            .await?;
        keys.into_iter()
            .map(|key| {
                Relationship::from_key(&RelationshipKey {
                    partition: partition.clone(),
                    sort: key.sk,
                })
                .map_err(|e| GraphError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// The relationships that point at `subject`, optionally of one relation.
    pub async fn incoming(
        &self,
        subject: &Urn,
        relation: Option<&str>,
    ) -> Result<Vec<Relationship>, GraphError> {
        let partition = subject.to_string();
        let keys = self
            .all_keys(&inverse_relationship_pk(&partition), relation)
            .await?;
        keys.into_iter()
            .map(|key| {
                Relationship::from_inverse_key(&RelationshipKey {
                    partition: partition.clone(),
                    sort: key.sk,
                })
                .map_err(|e| GraphError::Corrupt(e.to_string()))
            })
            .collect()
    }

    async fn all_keys(&self, pk: &str, relation: Option<&str>) -> Result<Vec<ItemKey>, GraphError> {
        let prefix = relation.map(relation_prefix).unwrap_or_default();
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let page = self.store.query_keys(pk, &prefix, None, start).await?;
            keys.extend(page.items);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(keys),
            }
        }
    }
}

/// The item writes that add `add` and remove `remove`: a forward and an
/// inverse item each. The resources function writes the platform's own
/// edges with them too, inside the object's transaction.
pub fn relationship_writes<'a>(
    add: impl IntoIterator<Item = &'a Relationship>,
    remove: impl IntoIterator<Item = &'a Relationship>,
) -> Vec<Write> {
    let puts = add
        .into_iter()
        .flat_map(item_keys)
        .map(|key| Write::PutItem {
            key,
            attributes: Vec::new(),
        });
    let deletes = remove
        .into_iter()
        .flat_map(item_keys)
        .map(|key| Write::Delete {
            key,
            expect: Expect::Anything,
        });
    puts.chain(deletes).collect()
}

/// The forward and the inverse item of a relationship.
fn item_keys(r: &Relationship) -> [ItemKey; 2] {
    let (resource, subject) = (r.resource.to_string(), r.subject.to_string());
    [
        relationship_key(&resource, &r.relation, &subject),
        inverse_relationship_key(&resource, &r.relation, &subject),
    ]
}
