//! What creating, changing or deleting a ResourceGrant does to bucket
//! limits. No checks: lowering a limit below what is allocated is allowed
//! (what exists stays; new claims are refused until usage drops).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::bucket::BucketKey;
use super::grant::ResourceGrant;

/// One bucket's change from one grant write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitChange {
    pub key: BucketKey,
    pub limit_delta: i64,
    /// +1 when the grant starts contributing to the bucket, -1 when it
    /// stops, 0 when it only changes its amount.
    pub grant_count_delta: i64,
    /// The grant's contribution after the write (`None`: no longer
    /// contributes), for [`update_contributing_refs`].
    pub contribution: Option<i64>,
}

/// The bucket changes of a grant write: `old` is the stored grant (`None`
/// on create), `new` the written one (`None` on delete). A changed consumer
/// moves the whole contribution. Buckets whose contribution is unchanged
/// are left out.
pub fn grant_limit_changes(
    old: Option<&ResourceGrant>,
    new: Option<&ResourceGrant>,
) -> Vec<LimitChange> {
    let before = old.map(ResourceGrant::contributions).unwrap_or_default();
    let after = new.map(ResourceGrant::contributions).unwrap_or_default();
    let keys: BTreeSet<&BucketKey> = before.keys().chain(after.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let (b, a) = (before.get(key).copied(), after.get(key).copied());
        if b == a {
            continue;
        }
        changes.push(LimitChange {
            key: key.clone(),
            limit_delta: a.unwrap_or(0) - b.unwrap_or(0),
            grant_count_delta: i64::from(a.is_some()) - i64::from(b.is_some()),
            contribution: a,
        });
    }
    changes
}

/// One `status.contributingGrantRefs[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContributingGrantRef {
    pub name: String,
    pub amount: i64,
    pub last_observed_generation: i64,
}

impl ContributingGrantRef {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "amount": self.amount,
            "lastObservedGeneration": self.last_observed_generation,
        })
    }

    pub fn from_json(value: &Value) -> Option<ContributingGrantRef> {
        Some(ContributingGrantRef {
            name: value["name"].as_str()?.to_string(),
            amount: value["amount"].as_i64()?,
            last_observed_generation: value["lastObservedGeneration"].as_i64().unwrap_or(0),
        })
    }
}

/// A bucket's contributing grants after grant `name` (at `generation`) now
/// contributes `amount` (`None`: no longer). Sorted by name, so the list
/// does not depend on the order of writes.
pub fn update_contributing_refs(
    refs: &[ContributingGrantRef],
    name: &str,
    generation: i64,
    amount: Option<i64>,
) -> Vec<ContributingGrantRef> {
    let mut by_name: BTreeMap<String, ContributingGrantRef> = refs
        .iter()
        .filter(|r| r.name != name)
        .map(|r| (r.name.clone(), r.clone()))
        .collect();
    if let Some(amount) = amount {
        by_name.insert(
            name.to_string(),
            ContributingGrantRef {
                name: name.to_string(),
                amount,
                last_observed_generation: generation,
            },
        );
    }
    by_name.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::grant::Allowance;
    use crate::quota::refs::Node;

    fn grant(consumer: Node, allowances: &[(&str, i64)]) -> ResourceGrant {
        ResourceGrant {
            name: "g".into(),
            namespace: "organization-o".into(),
            generation: 1,
            consumer,
            allowances: allowances
                .iter()
                .map(|(t, a)| Allowance {
                    resource_type: t.to_string(),
                    amount: *a,
                })
                .collect(),
        }
    }

    #[test]
    fn create_change_and_delete() {
        let v1 = grant(Node::organization("o"), &[("t", 10)]);
        let created = grant_limit_changes(None, Some(&v1));
        assert_eq!(created.len(), 1);
        assert_eq!(
            (created[0].limit_delta, created[0].grant_count_delta),
            (10, 1)
        );
        assert_eq!(created[0].contribution, Some(10));

        // Lowered below whatever is allocated: allowed, a plain delta.
        let v2 = grant(Node::organization("o"), &[("t", 3), ("u", 1)]);
        let changed = grant_limit_changes(Some(&v1), Some(&v2));
        let deltas: Vec<(&str, i64, i64)> = changed
            .iter()
            .map(|c| {
                (
                    c.key.resource_type.as_str(),
                    c.limit_delta,
                    c.grant_count_delta,
                )
            })
            .collect();
        assert_eq!(deltas, [("t", -7, 0), ("u", 1, 1)]);

        let deleted = grant_limit_changes(Some(&v2), None);
        let deltas: Vec<(i64, i64, Option<i64>)> = deleted
            .iter()
            .map(|c| (c.limit_delta, c.grant_count_delta, c.contribution))
            .collect();
        assert_eq!(deltas, [(-3, -1, None), (-1, -1, None)]);

        assert!(grant_limit_changes(Some(&v1), Some(&v1)).is_empty());
    }

    #[test]
    fn a_changed_consumer_moves_the_contribution() {
        let before = grant(Node::organization("o"), &[("t", 4)]);
        let after = grant(Node::folder("f"), &[("t", 4)]);
        let changes = grant_limit_changes(Some(&before), Some(&after));
        assert_eq!(changes.len(), 2);
        assert!(changes
            .iter()
            .any(|c| c.key.consumer == Node::organization("o") && c.limit_delta == -4));
        assert!(changes
            .iter()
            .any(|c| c.key.consumer == Node::folder("f") && c.limit_delta == 4));
    }

    #[test]
    fn a_zero_grant_still_counts_as_a_grant() {
        // A grant of 0 makes its bucket limiting at 0, as in Milo.
        let zero = grant(Node::folder("f"), &[("t", 0)]);
        let created = grant_limit_changes(None, Some(&zero));
        assert_eq!(
            (created[0].limit_delta, created[0].grant_count_delta),
            (0, 1)
        );
    }

    #[test]
    fn contributing_refs_are_replaced_by_name_and_sorted() {
        let refs = update_contributing_refs(&[], "b", 1, Some(2));
        let refs = update_contributing_refs(&refs, "a", 4, Some(3));
        assert_eq!(
            refs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let refs = update_contributing_refs(&refs, "b", 2, Some(5));
        assert_eq!(
            refs[1],
            ContributingGrantRef {
                name: "b".into(),
                amount: 5,
                last_observed_generation: 2
            }
        );
        let refs = update_contributing_refs(&refs, "a", 5, None);
        assert_eq!(refs.len(), 1);
        assert_eq!(
            ContributingGrantRef::from_json(&refs[0].to_json()),
            Some(refs[0].clone())
        );
    }
}
