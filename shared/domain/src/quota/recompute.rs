//! Buckets recomputed from their sources (grants and claims), and the drift
//! between that and what is stored. With every write transactional there
//! should never be drift: one is a bug, to repair and report loudly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::bucket::{BucketKey, BucketLevel};
use super::claim::ResourceClaim;
use super::grant::ResourceGrant;
use super::grant_delta::{update_contributing_refs, ContributingGrantRef};
use super::refs::QuotaPath;

/// A stored claim and the path its object has now.
#[derive(Debug, Clone, Copy)]
pub struct CountedClaim<'a> {
    pub claim: &'a ResourceClaim,
    pub path: &'a QuotaPath,
}

/// A bucket as its sources make it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketTotals {
    pub level: BucketLevel,
    pub contributing: Vec<ContributingGrantRef>,
}

/// Every bucket the grants and claims imply: limits and grant counts from
/// the grants, allocated and claim counts from each claim on every node of
/// its path (as [`super::plan_claim`] counts them).
pub fn recompute(
    grants: &[ResourceGrant],
    claims: &[CountedClaim],
) -> BTreeMap<BucketKey, BucketTotals> {
    let mut out: BTreeMap<BucketKey, BucketTotals> = BTreeMap::new();
    for grant in grants {
        for (key, amount) in grant.contributions() {
            let totals = out.entry(key).or_default();
            totals.level.limit += amount;
            totals.level.grant_count += 1;
            totals.contributing = update_contributing_refs(
                &totals.contributing,
                &grant.name,
                grant.generation,
                Some(amount),
            );
        }
    }
    for counted in claims.iter().filter(|c| c.claim.granted) {
        for request in &counted.claim.requests {
            for node in counted.path.nodes() {
                let totals = out
                    .entry(BucketKey::new(node.clone(), &request.resource_type))
                    .or_default();
                totals.level.allocated += request.amount;
                totals.level.claim_count += 1;
            }
        }
    }
    out
}

/// A bucket whose stored counters differ from its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub key: BucketKey,
    /// `None`: no bucket is stored.
    pub stored: Option<BucketLevel>,
    /// What the stored bucket should read (all zero if nothing implies it).
    pub computed: BucketLevel,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |l: &BucketLevel| {
            format!(
                "limit {} allocated {} claims {} grants {}",
                l.limit, l.allocated, l.claim_count, l.grant_count
            )
        };
        let stored = self
            .stored
            .as_ref()
            .map_or_else(|| "missing".to_string(), show);
        write!(
            f,
            "bucket {} ({}, {:?}) drifted: stored {}, computed {}",
            self.key.name(),
            self.key.consumer,
            self.key.resource_type,
            stored,
            show(&self.computed)
        )
    }
}

/// The buckets to repair. A stored bucket nothing implies is drift only if
/// it counts something (buckets stay at zero, as in Milo); a missing bucket
/// is drift only if something should be counted in it.
pub fn drift(
    stored: &BTreeMap<BucketKey, BucketLevel>,
    computed: &BTreeMap<BucketKey, BucketTotals>,
) -> Vec<Drift> {
    let keys: BTreeSet<&BucketKey> = stored.keys().chain(computed.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let have = stored.get(key).copied();
        let want = computed.get(key).map(|t| t.level).unwrap_or_default();
        if have.unwrap_or_default() != want {
            out.push(Drift {
                key: key.clone(),
                stored: have,
                computed: want,
            });
        }
    }
    out
}
