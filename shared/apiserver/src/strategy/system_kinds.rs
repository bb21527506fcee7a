//! Kinds the system keeps (users only read them) or writes in the hot
//! path (quota's claims), and the graph's relationship types.

use domain::kinds::KindInfo;
use domain::object::Object;
use domain::Cause;
use store::Stored;

use crate::hooks::quota::bucket_items;

use super::Strategy;

/// Other services' resources, as their lifecycle events report them.
pub(super) struct ExternalResources;
impl Strategy for ExternalResources {
    fn read_only(&self) -> Option<&'static str> {
        Some("they are maintained by the events function from the lifecycle events other services publish")
    }
}

pub(super) struct AllowanceBuckets;
impl Strategy for AllowanceBuckets {
    fn read_only(&self) -> Option<&'static str> {
        Some("the system keeps them from ResourceGrants and ResourceClaims")
    }

    /// A bucket's counters are attributes of its item, so that claims
    /// add to them under conditions; its status is read from them.
    fn present_stored(&self, stored: &mut Stored) {
        stored.object = bucket_items::fold(stored);
    }
}

pub(super) struct ResourceClaims;
impl Strategy for ResourceClaims {
    /// A quota create writes a claim in the hot path of every write a
    /// policy claims for, and an index item per label would make its
    /// transaction half again as large. Claims are listed from the
    /// namespace's (or the kind's) partition, and read per organization
    /// namespace.
    fn labels_indexed(&self) -> bool {
        false
    }
}

pub(super) struct RelationshipTypes;
impl Strategy for RelationshipTypes {
    fn validate(&self, _kind: &KindInfo, new: &Object, valid_so_far: bool) -> Vec<Cause> {
        // Its rules read a spec the schema has passed.
        if !valid_so_far {
            return Vec::new();
        }
        domain::ingest::RelationshipType::admit(&new.metadata.name, new.spec())
    }
}
