//! Moving a project or folder to a new parent: its subtree's usage leaves
//! the ancestors it no longer has and joins the ones it gains, in one
//! transaction, refused if a gained ancestor has no room.

use std::collections::BTreeMap;

use super::bucket::{BucketKey, BucketLevel};
use super::claim::ResourceClaim;
use super::plan::{BucketChange, Denial, HeadroomCheck, QuotaExceeded, MAX_BUCKET_CHANGES};
use super::refs::{Node, QuotaPath};
use crate::ApiError;

/// What a subtree holds of one resource type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubtreeUsage {
    pub allocated: i64,
    pub claim_count: i64,
}

/// What moves with `subject`, per resource type: its own buckets' usage
/// (every claim below it, since claims count on every node of their path)
/// plus its own claims (the claims for the subject itself, counted from its
/// parent up, so not in its own buckets).
pub fn subject_usage(
    subject: &Node,
    buckets: &BTreeMap<BucketKey, BucketLevel>,
    own_claims: &[ResourceClaim],
) -> BTreeMap<String, SubtreeUsage> {
    let mut usage: BTreeMap<String, SubtreeUsage> = BTreeMap::new();
    for (key, level) in buckets.iter().filter(|(k, _)| k.consumer == *subject) {
        let u = usage.entry(key.resource_type.clone()).or_default();
        u.allocated += level.allocated;
        u.claim_count += level.claim_count;
    }
    for claim in own_claims {
        for request in &claim.requests {
            let u = usage.entry(request.resource_type.clone()).or_default();
            u.allocated += request.amount;
            u.claim_count += 1;
        }
    }
    usage.retain(|_, u| u.allocated != 0 || u.claim_count != 0);
    usage
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveRefusal {
    /// A gained ancestor has no room for the subtree.
    #[error("cannot move here: {0}")]
    Exceeded(QuotaExceeded),
    /// More bucket writes than one transaction holds (a subtree using many
    /// resource types moving far).
    #[error("cannot move here: the move would change {changes} quota buckets in one transaction; at most {max}")]
    TooLarge { changes: usize, max: usize },
}

impl MoveRefusal {
    /// 403 Forbidden either way: the move is refused as a whole.
    pub fn to_api_error(&self) -> ApiError {
        ApiError::Forbidden {
            message: self.to_string(),
        }
    }
}

/// The bucket writes of a move. `old_path` and `new_path` are the paths of
/// the subject's old and new parent (parent first, organization last);
/// ancestors on both keep their counts. Gained ancestors are checked as a
/// claim's non-consumer buckets are ([`HeadroomCheck::IfLimited`]): one
/// with a grant must have room for the whole subtree.
pub fn plan_move(
    old_path: &QuotaPath,
    new_path: &QuotaPath,
    usage: &BTreeMap<String, SubtreeUsage>,
    buckets: &BTreeMap<BucketKey, BucketLevel>,
) -> Result<Vec<BucketChange>, MoveRefusal> {
    let mut changes = Vec::new();
    let mut denials = Vec::new();
    for (resource_type, u) in usage {
        for node in old_path.nodes().iter().filter(|n| !new_path.contains(n)) {
            changes.push(BucketChange {
                key: BucketKey::new(node.clone(), resource_type),
                allocated_delta: -u.allocated,
                claim_count_delta: -u.claim_count,
                check: HeadroomCheck::None,
            });
        }
        let mut refused: Option<(&Node, BucketLevel)> = None;
        for node in new_path.nodes().iter().filter(|n| !old_path.contains(n)) {
            let key = BucketKey::new(node.clone(), resource_type);
            let check = HeadroomCheck::IfLimited(u.allocated);
            let level = buckets.get(&key);
            let current = level.copied().unwrap_or_default();
            if !check.holds(level) && refused.is_none_or(|(_, l)| current.headroom() < l.headroom())
            {
                refused = Some((node, current));
            }
            changes.push(BucketChange {
                key,
                allocated_delta: u.allocated,
                claim_count_delta: u.claim_count,
                check,
            });
        }
        if let Some((node, level)) = refused {
            denials.push(Denial {
                resource_type: resource_type.clone(),
                requested: u.allocated,
                consumer: node.clone(),
                allocated: level.allocated,
                limit: level.limit,
            });
        }
    }
    if !denials.is_empty() {
        return Err(MoveRefusal::Exceeded(QuotaExceeded { denials }));
    }
    if changes.len() > MAX_BUCKET_CHANGES {
        return Err(MoveRefusal::TooLarge {
            changes: changes.len(),
            max: MAX_BUCKET_CHANGES,
        });
    }
    Ok(changes)
}
