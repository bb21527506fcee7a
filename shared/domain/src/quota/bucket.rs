//! AllowanceBucket: one per (consumer, resource type), kept by the system.
//! Its identity, its name (Milo's), where it lives, and its counters.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::names::{ALLOWANCE_BUCKET, CONSUMER_KIND_LABEL, CONSUMER_NAME_LABEL};
use super::read::spec;
use super::refs::{Node, NodeKind, ObjectRef};
use super::registration::read_resource_type;
use crate::crd::fields::{Field, Reader};
use crate::Cause;

/// Where a project's buckets live in its control plane, as in Milo.
pub const PROJECT_BUCKET_NAMESPACE: &str = "milo-system";

/// A bucket's identity: whose it is and what it counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    pub consumer: Node,
    pub resource_type: String,
}

impl BucketKey {
    pub fn new(consumer: Node, resource_type: impl Into<String>) -> BucketKey {
        BucketKey {
            consumer,
            resource_type: resource_type.into(),
        }
    }

    /// `bucket-` and the hex SHA-256 of resource type, consumer kind and
    /// consumer name, concatenated: Milo's name for the same bucket, so one
    /// bucket has one name whoever computes it. (The concatenation has no
    /// separator, as Milo's; it stays unambiguous because kinds start with
    /// the only capital letter after the type and names are lowercase.)
    pub fn name(&self) -> String {
        let input = format!(
            "{}{}{}",
            self.resource_type,
            self.consumer.kind.kind(),
            self.consumer.name
        );
        let digest = Sha256::digest(input.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("bucket-{hex}")
    }

    /// The project whose control plane keeps this bucket, in its
    /// [`PROJECT_BUCKET_NAMESPACE`]: a project's own buckets are where Milo
    /// keeps them (and where the policies that grant to a project put its
    /// grants). `None`: the bucket is kept in its organization's namespace
    /// of the platform ([`Self::namespace`]).
    pub fn project_control_plane(&self) -> Option<&str> {
        (self.consumer.kind == NodeKind::Project).then_some(self.consumer.name.as_str())
    }

    /// The namespace the bucket lives in: a project's
    /// [`PROJECT_BUCKET_NAMESPACE`], in its control plane; an organization's
    /// or folder's, `organization-{org}` in the platform's, where Milo keeps
    /// an organization's buckets (so one organization's buckets but its
    /// projects' are one namespace to list).
    pub fn namespace(&self, organization: &str) -> String {
        match self.project_control_plane() {
            Some(_) => PROJECT_BUCKET_NAMESPACE.to_string(),
            None => Self::organization_namespace(organization),
        }
    }

    /// The platform namespace of an organization's and its folders' buckets.
    pub fn organization_namespace(organization: &str) -> String {
        format!("organization-{organization}")
    }

    /// The organization whose buckets `namespace` holds
    /// ([`Self::organization_namespace`] read back); `None` for any other
    /// namespace.
    pub fn organization_of(namespace: &str) -> Option<&str> {
        namespace.strip_prefix("organization-")
    }

    /// Milo's system labels on a bucket.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                CONSUMER_KIND_LABEL.to_string(),
                self.consumer.kind.kind().to_string(),
            ),
            (CONSUMER_NAME_LABEL.to_string(), self.consumer.name.clone()),
        ])
    }

    /// The bucket object as first written (status added by the caller):
    /// apiVersion, kind, metadata (name, namespace, labels) and spec.
    pub fn document(&self, organization: &str) -> Value {
        json!({
            "apiVersion": ALLOWANCE_BUCKET.api_version(),
            "kind": ALLOWANCE_BUCKET.kind,
            "metadata": {
                "name": self.name(),
                "namespace": self.namespace(organization),
                "labels": self.labels(),
            },
            "spec": {
                "consumerRef": self.consumer.to_ref().to_json(),
                "resourceType": self.resource_type,
            }
        })
    }
}

/// A bucket's counters. `limit` sums its grants, `allocated` the claims of
/// its subtree; `limit - allocated` may go below zero when a grant is
/// lowered under what is in use (what exists stays, new claims are refused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketLevel {
    pub limit: i64,
    pub allocated: i64,
    pub claim_count: i64,
    pub grant_count: i64,
}

impl BucketLevel {
    /// `limit - allocated`: what one more claim may take, negative when over.
    pub fn headroom(&self) -> i64 {
        self.limit.saturating_sub(self.allocated)
    }

    /// `status.available`: never below zero, as Milo reports it.
    pub fn available(&self) -> i64 {
        self.headroom().max(0)
    }

    /// Whether the bucket limits claims: once a grant contributes to it.
    pub fn is_limited(&self) -> bool {
        self.grant_count > 0
    }

    /// The counters once `delta` (one write's changes, or several summed)
    /// is added.
    pub fn plus(self, delta: BucketLevel) -> BucketLevel {
        BucketLevel {
            limit: self.limit.saturating_add(delta.limit),
            allocated: self.allocated.saturating_add(delta.allocated),
            claim_count: self.claim_count.saturating_add(delta.claim_count),
            grant_count: self.grant_count.saturating_add(delta.grant_count),
        }
    }

    /// Nothing counts in the bucket any more: no grant, no limit, no claim,
    /// nothing allocated. Only such a bucket goes with its consumer: one a
    /// grant still names keeps that limit in force for a namesake created
    /// later, and a limit without a grant is drift for the audit to repair.
    pub fn is_empty(&self) -> bool {
        *self == BucketLevel::default()
    }
}

/// Why a consumer may not be deleted yet: the claims still counted in its
/// buckets once the delete's own releases are in (`kept`: its buckets and
/// their levels after them). Such claims were written naming it (its
/// descendants' are gone before it can be), and their usage is released
/// along its path, which only its existence tells. `None`: nothing holds it.
pub fn claims_holding(kept: &[(BucketKey, BucketLevel)]) -> Option<String> {
    let held: Vec<String> = kept
        .iter()
        .filter(|(_, level)| level.claim_count > 0)
        .map(|(key, level)| {
            format!(
                "{} ResourceClaim{} of {} ({} allocated)",
                level.claim_count,
                if level.claim_count == 1 { "" } else { "s" },
                key.resource_type,
                level.allocated
            )
        })
        .collect();
    (!held.is_empty()).then(|| {
        format!(
            "its quota is still claimed by {}; delete those ResourceClaims first",
            held.join(", ")
        )
    })
}

/// How many of a type's counting buckets [`type_still_counted`] names
/// before it says how many more there are.
const NAMED_BUCKETS: usize = 5;

/// Why a resource type's registration may not be deleted yet: buckets of
/// that type that grants or claims still count in (`buckets`: the stored
/// buckets, with their levels). Once unregistered, the type can be neither
/// granted nor claimed, but these would go on counting, and nothing could
/// change them but deleting their grants and claims. `None`: nothing
/// counts it.
pub fn type_still_counted(
    resource_type: &str,
    buckets: &[(BucketKey, BucketLevel)],
) -> Option<String> {
    let counting: Vec<String> = buckets
        .iter()
        .filter(|(key, level)| key.resource_type == resource_type && !level.is_empty())
        .map(|(key, level)| {
            let plural = |n: i64| if n == 1 { "" } else { "s" };
            format!(
                "{} ({} ResourceGrant{}, {} ResourceClaim{}, {} allocated)",
                key.consumer,
                level.grant_count,
                plural(level.grant_count),
                level.claim_count,
                plural(level.claim_count),
                level.allocated
            )
        })
        .collect();
    if counting.is_empty() {
        return None;
    }
    let mut named = counting[..counting.len().min(NAMED_BUCKETS)].join(", ");
    if counting.len() > NAMED_BUCKETS {
        named.push_str(&format!(" and {} more", counting.len() - NAMED_BUCKETS));
    }
    Some(format!(
        "{resource_type} is still granted or claimed in {} AllowanceBucket{}: {named}; \
         delete those ResourceGrants and ResourceClaims first",
        counting.len(),
        if counting.len() == 1 { "" } else { "s" },
    ))
}

/// Reads a stored AllowanceBucket: its key (spec) and counters (status;
/// absent counters read as 0).
pub fn parse_bucket(doc: &Value) -> Result<(BucketKey, BucketLevel), Vec<Cause>> {
    let mut r = Reader::default();
    let root = Field::root(doc);
    let spec = spec(&mut r, &root);
    let consumer_field = spec.get("consumerRef");
    let consumer = ObjectRef::read(&mut r, &consumer_field).and_then(|reference| {
        Node::require(&reference, &consumer_field.path)
            .map_err(|cause| r.push(cause))
            .ok()
    });
    let resource_type = read_resource_type(&mut r, &spec.get("resourceType"));
    let status = root.get("status");
    let mut counter = |name: &str| -> i64 {
        let field = status.get(name);
        r.integer(&field).unwrap_or(0)
    };
    let level = BucketLevel {
        limit: counter("limit"),
        allocated: counter("allocated"),
        claim_count: counter("claimCount"),
        grant_count: counter("grantCount"),
    };
    if !r.causes.is_empty() {
        return Err(r.causes);
    }
    match (consumer, resource_type) {
        (Some(consumer), Some(resource_type)) => {
            Ok((BucketKey::new(consumer, resource_type), level))
        }
        _ => Err(vec![Cause::required("spec")]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_is_held_only_by_claims_still_counted_in_its_buckets() {
        let key = |t: &str| BucketKey::new(Node::project("p1"), t);
        let level = |claim_count, allocated| BucketLevel {
            limit: 5,
            allocated,
            claim_count,
            grant_count: 1,
        };
        assert_eq!(claims_holding(&[]), None);
        assert_eq!(claims_holding(&[(key("a/seats"), level(0, 0))]), None);
        let held = claims_holding(&[
            (key("a/seats"), level(1, 2)),
            (key("a/disks"), level(0, 0)),
            (key("a/cpus"), level(3, 6)),
        ])
        .unwrap();
        assert_eq!(
            held,
            "its quota is still claimed by 1 ResourceClaim of a/seats (2 allocated), \
             3 ResourceClaims of a/cpus (6 allocated); delete those ResourceClaims first"
        );
    }

    #[test]
    fn a_type_is_held_by_any_bucket_of_it_that_still_counts() {
        let key = |name: &str, t: &str| BucketKey::new(Node::organization(name), t);
        let granted = BucketLevel {
            limit: 5,
            allocated: 2,
            claim_count: 1,
            grant_count: 2,
        };
        assert_eq!(type_still_counted("a/seats", &[]), None);
        // Empty buckets of the type, and counting ones of other types, do
        // not hold it.
        let others = [
            (key("o1", "a/seats"), BucketLevel::default()),
            (key("o2", "a/disks"), granted),
        ];
        assert_eq!(type_still_counted("a/seats", &others), None);
        let mut buckets = others.to_vec();
        buckets.push((key("o3", "a/seats"), granted));
        assert_eq!(
            type_still_counted("a/seats", &buckets).unwrap(),
            "a/seats is still granted or claimed in 1 AllowanceBucket: Organization \"o3\" \
             (2 ResourceGrants, 1 ResourceClaim, 2 allocated); delete those ResourceGrants \
             and ResourceClaims first"
        );
        // A limit left without any grant (drift) holds it too: only an
        // empty bucket may go with the registration.
        let many: Vec<_> = (0..7)
            .map(|i| {
                let level = BucketLevel {
                    limit: 1,
                    ..BucketLevel::default()
                };
                (key(&format!("o{i}"), "a/seats"), level)
            })
            .collect();
        let message = type_still_counted("a/seats", &many).unwrap();
        assert!(message.contains("in 7 AllowanceBuckets"), "{message}");
        assert!(
            message
                .contains("\"o4\" (0 ResourceGrants, 0 ResourceClaims, 0 allocated) and 2 more;"),
            "{message}"
        );
        assert!(!message.contains("\"o5\""), "{message}");
    }

    #[test]
    fn name_is_milos_hash_of_type_kind_and_name() {
        let key = BucketKey::new(
            Node::organization("acme"),
            "resourcemanager.miloapis.com/projects",
        );
        let name = key.name();
        assert!(name.starts_with("bucket-"));
        assert_eq!(name.len(), "bucket-".len() + 64);
        // sha256("resourcemanager.miloapis.com/projectsOrganizationacme")
        let expected = Sha256::digest(b"resourcemanager.miloapis.com/projectsOrganizationacme");
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(name, format!("bucket-{hex}"));
        assert!(crate::metadata_rules::dns1123_subdomain_errors(&name).is_empty());
        // Kind and type are both part of the identity.
        assert_ne!(
            BucketKey::new(
                Node::folder("acme"),
                "resourcemanager.miloapis.com/projects"
            )
            .name(),
            name
        );
        assert_ne!(
            BucketKey::new(Node::organization("acme"), "other").name(),
            name
        );
    }

    #[test]
    fn document_carries_spec_labels_and_namespace() {
        let key = BucketKey::new(Node::folder("eng"), "t/projects");
        let doc = key.document("acme");
        assert_eq!(doc["metadata"]["namespace"], "organization-acme");
        assert_eq!(doc["metadata"]["labels"][CONSUMER_KIND_LABEL], "Folder");
        assert_eq!(doc["metadata"]["labels"][CONSUMER_NAME_LABEL], "eng");
        assert_eq!(doc["spec"]["consumerRef"]["kind"], "Folder");
        let project = BucketKey::new(Node::project("web"), "t/projects").document("acme");
        assert_eq!(project["metadata"]["namespace"], PROJECT_BUCKET_NAMESPACE);
        assert_eq!(
            doc["spec"]["consumerRef"]["apiGroup"],
            "resourcemanager.miloapis.com"
        );
        let (parsed, level) = parse_bucket(&doc).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(level, BucketLevel::default());
    }

    #[test]
    fn available_never_goes_below_zero() {
        let over = BucketLevel {
            limit: 2,
            allocated: 5,
            claim_count: 5,
            grant_count: 1,
        };
        assert_eq!(over.headroom(), -3);
        assert_eq!(over.available(), 0);
        assert!(over.is_limited());
        assert!(!BucketLevel::default().is_limited());
    }

    #[test]
    fn stored_bucket_reads_its_counters() {
        let mut doc = BucketKey::new(Node::organization("o"), "t").document("o");
        doc["status"] =
            json!({"limit": 5, "allocated": 1, "available": 4, "claimCount": 1, "grantCount": 2});
        let (_, level) = parse_bucket(&doc).unwrap();
        assert_eq!(
            level,
            BucketLevel {
                limit: 5,
                allocated: 1,
                claim_count: 1,
                grant_count: 2
            }
        );
        doc["status"]["limit"] = json!("5");
        assert_eq!(parse_bucket(&doc).unwrap_err()[0].field, "status.limit");
    }
}
