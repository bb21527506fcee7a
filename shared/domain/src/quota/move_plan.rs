//! Moving a project or folder to a new parent: its subtree's usage leaves
//! the ancestors it no longer has and joins the ones it gains, in one
//! transaction, refused if a gained ancestor has no room.
//!
//! Two races are closed by conditions, not locks: usage changing inside
//! the subtree between the read and the move (the subject's buckets must
//! still read as they did), and claims planned on the old path landing
//! after the move (the move rewrites the parent recorded in the subject's
//! buckets, which every claim's write checks; see `BucketChange::parent`).

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

/// One of the subject's buckets in a move: it must still read as it did
/// (`expected`; `None`: no bucket, and one is created at zero), its
/// recorded parent must be `old_parent` (or none), and it is set to
/// `new_parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reparent {
    pub key: BucketKey,
    pub expected: Option<BucketLevel>,
    pub old_parent: Node,
    pub new_parent: Node,
}

/// The writes of a move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovePlan {
    /// The ancestors' bucket changes: lost ones give the usage back, gained
    /// ones take it under [`HeadroomCheck::IfLimited`].
    pub changes: Vec<BucketChange>,
    /// The subject's buckets, one per registered resource type.
    pub reparents: Vec<Reparent>,
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
    /// The paths are not those of a node's old and new parent.
    #[error("cannot move {subject}: {reason}")]
    BadPaths { subject: String, reason: String },
}

impl MoveRefusal {
    /// 403 Forbidden for quota; a bad path is the caller's bug (500).
    pub fn to_api_error(&self) -> ApiError {
        match self {
            MoveRefusal::BadPaths { .. } => ApiError::internal(self.to_string()),
            _ => ApiError::Forbidden {
                message: self.to_string(),
            },
        }
    }
}

/// Plans moving `subject` from under `old_path` to under `new_path` (the
/// paths of its old and new parent: parent first, organization last).
/// `registered_types` are every registered resource type (the subject's
/// buckets for each are re-parented, absent ones created, so that no claim
/// on the old path can land afterwards); `buckets` holds what was read of
/// the subject's and both paths' buckets; `own_claims` are the claims for
/// the subject itself. Ancestors on both paths keep their counts.
pub fn plan_move(
    subject: &Node,
    old_path: &QuotaPath,
    new_path: &QuotaPath,
    registered_types: &[String],
    buckets: &BTreeMap<BucketKey, BucketLevel>,
    own_claims: &[ResourceClaim],
) -> Result<MovePlan, MoveRefusal> {
    let bad = |reason: &str| MoveRefusal::BadPaths {
        subject: subject.to_string(),
        reason: reason.to_string(),
    };
    if old_path.contains(subject) || new_path.contains(subject) {
        return Err(bad("a node cannot be above itself"));
    }
    if old_path.organization() != new_path.organization() {
        return Err(bad("moves stay within one organization"));
    }
    let (Some(old_parent), Some(new_parent)) = (old_path.nodes().first(), new_path.nodes().first())
    else {
        return Err(bad("a path has no parent"));
    };

    let usage = subject_usage(subject, buckets, own_claims);
    let mut changes = Vec::new();
    let mut denials = Vec::new();
    for (resource_type, u) in &usage {
        for node in old_path.nodes().iter().filter(|n| !new_path.contains(n)) {
            changes.push(BucketChange {
                key: BucketKey::new(node.clone(), resource_type),
                allocated_delta: -u.allocated,
                claim_count_delta: -u.claim_count,
                check: HeadroomCheck::None,
                parent: old_path.parent_of(node).cloned(),
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
                parent: new_path.parent_of(node).cloned(),
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

    let mut types: Vec<&String> = registered_types.iter().chain(usage.keys()).collect();
    types.sort();
    types.dedup();
    let reparents: Vec<Reparent> = types
        .into_iter()
        .map(|t| {
            let key = BucketKey::new(subject.clone(), t);
            Reparent {
                expected: buckets.get(&key).copied(),
                key,
                old_parent: old_parent.clone(),
                new_parent: new_parent.clone(),
            }
        })
        .collect();
    let writes = changes.len() + reparents.len();
    if writes > MAX_BUCKET_CHANGES {
        return Err(MoveRefusal::TooLarge {
            changes: writes,
            max: MAX_BUCKET_CHANGES,
        });
    }
    Ok(MovePlan { changes, reparents })
}
