//! The items one request writes, each with the role it plays, applied in
//! one transaction. A refused condition comes back as the role of the item
//! that failed, never as a position: the items IAM, finalizers and
//! revisions will add move positions, not roles.
//!
//! The stamps a write moves are items too; once the transaction is in,
//! [`WriteSet::commit`] brings this instance's caches up to them (the one
//! after-commit mechanism for every stamp).

use domain::ApiError;
use store::{StoreError, Write};

use crate::authorization::iam_cache;
use crate::errors::{concurrent_change, from_store};
use crate::{crds, policy_cache, predeletion_cache, quota_cache, ApiServer};

/// What an item is to the request that writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The object the request creates, changes or deletes.
    Object,
    /// One of the object's index items: labels, its parent's child
    /// index, its relationships, its owners'.
    Index,
    /// Its container's child index item: what a cascade finds it by.
    Entry,
    /// The note of who deleted the object, for the change feed.
    DeletionNote,
    /// The container the object lives in (its namespace, its
    /// organization or project, the project a record is about): checked
    /// live, or written with it.
    Container,
    /// The hierarchy parent a folder or project is placed under.
    Parent,
    /// What the kind's strategy writes with the object (a project's
    /// namespaces).
    Companion,
    /// A stamp the write moves.
    Stamp,
    /// An item a hook adds: the hook's name, and what the item is to it.
    Hook {
        hook: &'static str,
        part: &'static str,
    },
}

/// A cache of every instance that a committed write of some kinds makes
/// stale: the write moves its stamp item in its own transaction, and this
/// instance reloads at once, so its next request sees the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The catalog: CRDs and DiscoveryContextPolicies (`s#catalog`).
    Catalog,
    /// The admission policies and their bindings (`s#admission`).
    Admission,
    /// Quota's registrations and creation policies (`s#quota`).
    Quota,
    /// IAM's roles, bindings and group memberships (`s#iam`).
    Iam,
    /// The pre-deletion hooks (`s#predeletion`).
    PreDeletion,
}

impl Stamp {
    /// The write that moves the stamp, in the transaction of the change.
    fn write(self) -> Write {
        match self {
            Stamp::Catalog => crds::stamp(),
            Stamp::Admission => policy_cache::stamp(),
            Stamp::Quota => quota_cache::stamp(),
            Stamp::Iam => iam_cache::stamp(),
            Stamp::PreDeletion => predeletion_cache::stamp(),
        }
    }

    /// After the transaction: this instance's cache reloaded; with
    /// `until_every_instance`, the answer waits until every other
    /// instance has re-read the stamp too.
    async fn after_commit(
        self,
        server: &ApiServer,
        until_every_instance: bool,
    ) -> Result<(), ApiError> {
        let store = &server.store;
        match self {
            Stamp::Catalog => {
                server.catalog.reload_if_changed(store).await?;
                if until_every_instance {
                    server.catalog.until_every_instance_rechecks().await;
                }
            }
            Stamp::Admission => {
                server.admission.policies.reload_if_changed(store).await?;
            }
            Stamp::Quota => {
                server.quota.reload_if_changed(store).await?;
                if until_every_instance {
                    server.quota.until_every_instance_rechecks().await;
                }
            }
            Stamp::Iam => {
                server.iam.reload_if_changed(store).await?;
                if until_every_instance {
                    server.iam.until_every_instance_rechecks().await;
                }
            }
            Stamp::PreDeletion => {
                server.pre_deletion.reload_if_changed(store).await?;
                if until_every_instance {
                    server.pre_deletion.until_every_instance_rechecks().await;
                }
            }
        }
        Ok(())
    }
}

/// Deletes that go in batches, with no transaction, sorted so that a
/// batch cut short (a gc killed) leaves only what a cascade run again
/// finds and finishes: index items first, as the object they point at
/// still leads to them; the objects next; last the container's entries,
/// by which the cascade finds the objects. A cut can leave entries whose
/// objects are gone, and nothing else; the gc removes those.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct BatchDeletes {
    pub index: Vec<store::ItemKey>,
    pub objects: Vec<store::ItemKey>,
    pub entries: Vec<store::ItemKey>,
}

impl BatchDeletes {
    pub fn append(&mut self, mut other: BatchDeletes) {
        self.index.append(&mut other.index);
        self.objects.append(&mut other.objects);
        self.entries.append(&mut other.entries);
    }

    /// The keys in the order they must go, each slice gone before the
    /// next is sent.
    pub fn in_order(&self) -> [&[store::ItemKey]; 3] {
        [&self.index, &self.objects, &self.entries]
    }
}

/// How a refused item's condition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It expected no item, and there is one.
    Exists,
    /// It expected an item, and there is none.
    Missing,
    /// The item changed since it was read (or is being deleted).
    Changed,
}

/// The item whose condition stopped a write set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refused {
    pub role: Role,
    pub failure: Failure,
    pub write: Write,
}

/// Why a write set did not commit, or what failed once it did.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// An item's condition failed: the caller says what that means for
    /// the item's role.
    Refused(Refused),
    /// Anything else the store said: contention after its retries,
    /// throttling, a transaction too large.
    Store(StoreError),
    /// A Status decided already: a hook's refusal, or (the write being
    /// in) a cache it made stale that could not be reloaded.
    Status(ApiError),
}

impl CommitError {
    /// The Status of an error no role-specific reading caught.
    pub fn into_api(self) -> ApiError {
        match self {
            CommitError::Refused(_) => concurrent_change(),
            CommitError::Store(err) => from_store(err),
            CommitError::Status(err) => err,
        }
    }

    /// The refused item, if an item's condition failed.
    pub fn refused(&self) -> Option<&Refused> {
        match self {
            CommitError::Refused(refused) => Some(refused),
            _ => None,
        }
    }
}

/// The items of one request, in the order they are sent.
#[derive(Debug, Default)]
pub(crate) struct WriteSet {
    /// The writes as the store takes them, and beside each its role.
    writes: Vec<Write>,
    roles: Vec<Role>,
    /// Stamps moved, each with whether the answer waits for every instance.
    stamps: Vec<(Stamp, bool)>,
    /// Transactions of their own, applied before this one: what does not
    /// fit in it (a registration's empty buckets beyond the first few).
    earlier: Vec<Vec<Write>>,
    /// Who the object items put are written by ([`WriteSet::written_by`]).
    writer: Option<String>,
}

impl WriteSet {
    pub fn new() -> WriteSet {
        WriteSet::default()
    }

    pub fn put(&mut self, role: Role, mut write: Write) {
        if let (Some(writer), Some(fields)) = (&self.writer, write.object_fields()) {
            fields.writer = Some(writer.clone());
        }
        self.writes.push(write);
        self.roles.push(role);
    }

    /// Every object item this set puts, already or later (a hook's too),
    /// says it is written by `writer`: the actor of its change in the feed.
    pub fn written_by(&mut self, writer: &str) {
        self.writer = Some(writer.to_string());
        for fields in self.writes.iter_mut().filter_map(Write::object_fields) {
            fields.writer = Some(writer.to_string());
        }
    }

    /// The object's own write, made to expire at `expires_at` (seconds
    /// since the epoch): a kind kept only for a retention.
    pub fn expire_object(&mut self, expires_at: i64) {
        let own = self.writes.iter_mut().zip(&self.roles);
        for (write, _) in own.filter(|(_, role)| **role == Role::Object) {
            if let Some(fields) = write.object_fields() {
                fields.expires_at = Some(expires_at);
            }
        }
    }

    pub fn extend(&mut self, role: Role, writes: impl IntoIterator<Item = Write>) {
        for write in writes {
            self.put(role, write);
        }
    }

    /// Moves `stamp` in this transaction; once it is in, this instance
    /// reloads (and, with `until_every_instance`, the answer waits for
    /// every instance to). A stamp moved twice is written once.
    pub fn stamp(&mut self, stamp: Stamp, until_every_instance: bool) {
        match self.stamps.iter_mut().find(|(s, _)| *s == stamp) {
            Some((_, wait)) => *wait |= until_every_instance,
            None => {
                self.stamps.push((stamp, until_every_instance));
                self.put(Role::Stamp, stamp.write());
            }
        }
    }

    /// A transaction of its own, applied before this one.
    pub fn before(&mut self, transaction: Vec<Write>) {
        self.earlier.push(transaction);
    }

    /// Takes out the items `drop` says of, keeping the others in order
    /// (a hook planning its part again).
    pub fn remove(&mut self, drop: impl Fn(Role) -> bool) {
        let items = std::mem::take(&mut self.writes)
            .into_iter()
            .zip(std::mem::take(&mut self.roles));
        (self.writes, self.roles) = items.filter(|(_, role)| !drop(*role)).unzip();
    }

    /// The keys the set deletes, when deleting them is all it does (no
    /// other write, no stamp, nothing before it): a set that may go in a
    /// batch with others.
    pub fn deletes_only(&self) -> Option<BatchDeletes> {
        if !self.stamps.is_empty() || !self.earlier.is_empty() {
            return None;
        }
        let mut deletes = BatchDeletes::default();
        for (write, role) in self.writes.iter().zip(&self.roles) {
            let Write::Delete { key, .. } = write else {
                return None;
            };
            let phase = match role {
                Role::Object => &mut deletes.objects,
                Role::Entry => &mut deletes.entries,
                _ => &mut deletes.index,
            };
            phase.push(key.clone());
        }
        Some(deletes)
    }

    /// Applies the set all-or-nothing, then the after-commit of its stamps.
    pub async fn commit(&self, server: &ApiServer) -> Result<(), CommitError> {
        let store = &server.store;
        for transaction in &self.earlier {
            store.write(transaction).await.map_err(CommitError::Store)?;
        }
        store
            .write(&self.writes)
            .await
            .map_err(|err| self.refusal(err))?;
        for (stamp, wait) in &self.stamps {
            stamp
                .after_commit(server, *wait)
                .await
                .map_err(CommitError::Status)?;
        }
        Ok(())
    }

    /// The store's error read by the role of the item it names.
    fn refusal(&self, err: StoreError) -> CommitError {
        let failure = match err {
            StoreError::AlreadyExists { .. } => Failure::Exists,
            StoreError::NotFound { .. } => Failure::Missing,
            StoreError::Conflict { .. } => Failure::Changed,
            other => return CommitError::Store(other),
        };
        let refused = err.refused_write();
        let item = refused.and_then(|i| Some((self.roles.get(i)?, self.writes.get(i)?)));
        match item {
            Some((role, write)) => CommitError::Refused(Refused {
                role: *role,
                failure,
                write: write.clone(),
            }),
            None => CommitError::Store(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{Expect, ItemKey};

    fn check(pk: &str) -> Write {
        Write::Check {
            key: ItemKey {
                pk: pk.into(),
                sk: "o".into(),
            },
            expect: Expect::Live,
        }
    }

    #[test]
    fn a_refusal_names_the_role_of_the_item_wherever_it_stands() {
        let mut set = WriteSet::new();
        set.put(Role::Object, check("object"));
        set.extend(Role::Index, [check("a"), check("b")]);
        set.put(Role::Container, check("container"));
        let CommitError::Refused(refused) = set.refusal(StoreError::NotFound { index: 3 }) else {
            panic!("a failed condition is a refusal");
        };
        assert_eq!(refused.role, Role::Container);
        assert_eq!(refused.failure, Failure::Missing);
        assert_eq!(refused.write, check("container"));
        // An item put before it moves its position, not its role.
        set.writes.insert(1, check("stamp"));
        set.roles.insert(1, Role::Stamp);
        let moved = set.refusal(StoreError::Conflict { index: 4 });
        assert_eq!(moved.refused().map(|r| r.role), Some(Role::Container));
    }

    #[test]
    fn a_set_of_deletes_alone_may_go_in_a_batch() {
        let key = |pk: &str| ItemKey {
            pk: pk.into(),
            sk: "o".into(),
        };
        let delete = |pk: &str| Write::Delete {
            key: key(pk),
            expect: Expect::Version(3),
        };
        let mut set = WriteSet::new();
        set.put(Role::Entry, delete("entry"));
        set.put(Role::Object, delete("object"));
        set.put(Role::Index, delete("label"));
        let deletes = set.deletes_only().expect("deletes alone");
        assert_eq!(
            deletes.in_order(),
            [&[key("label")][..], &[key("object")], &[key("entry")]],
            "what finds an object goes after it, what it finds before"
        );
        set.put(Role::Container, check("container"));
        assert_eq!(set.deletes_only(), None, "a check needs a transaction");
        let mut stamped = WriteSet::new();
        stamped.put(Role::Object, delete("object"));
        stamped.stamp(Stamp::Catalog, false);
        assert_eq!(stamped.deletes_only(), None, "a stamp moves with it");
    }

    #[test]
    fn errors_that_name_no_item_stay_the_stores() {
        let set = WriteSet::new();
        assert!(matches!(
            set.refusal(StoreError::TransactionConflict),
            CommitError::Store(StoreError::TransactionConflict)
        ));
        assert!(matches!(
            set.refusal(StoreError::NotFound { index: 7 }),
            CommitError::Store(StoreError::NotFound { index: 7 })
        ));
    }

    #[test]
    fn every_object_put_is_signed_by_the_writer_and_only_the_objects_own_expires() {
        let put = |pk: &str| Write::PutObject {
            key: ItemKey {
                pk: pk.into(),
                sk: "o".into(),
            },
            object: serde_json::json!({}),
            version: 1,
            expect: Expect::Absent,
        };
        let fields = |set: &WriteSet| -> Vec<Option<store::ObjectItemFields>> {
            set.writes
                .iter()
                .map(|w| match w {
                    Write::PutObjectWith { fields, .. } => Some(fields.clone()),
                    _ => None,
                })
                .collect()
        };
        let mut set = WriteSet::new();
        set.put(Role::Object, put("object"));
        set.put(Role::Index, check("index"));
        set.expire_object(99);
        set.written_by("alice");
        set.put(
            Role::Hook {
                hook: "h",
                part: "p",
            },
            put("hook's"),
        );
        let signed = |expires_at| {
            Some(store::ObjectItemFields {
                writer: Some("alice".into()),
                expires_at,
            })
        };
        assert_eq!(fields(&set), vec![signed(Some(99)), None, signed(None)]);
    }

    #[test]
    fn a_stamp_moved_twice_is_written_once_and_waits_if_either_asks() {
        let mut set = WriteSet::new();
        set.stamp(Stamp::Quota, false);
        set.stamp(Stamp::Quota, true);
        assert_eq!(set.roles, vec![Role::Stamp]);
        assert_eq!(set.stamps, vec![(Stamp::Quota, true)]);
    }
}
