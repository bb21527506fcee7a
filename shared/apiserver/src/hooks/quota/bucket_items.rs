//! A bucket as a store counter item (`store::CounterWrite`): its counters
//! are numeric attributes of the item, so that one transaction adds to
//! them under a condition on their current values, and every read folds
//! them into the bucket's `status` ([`fold`]). The store knows the item's
//! numbers; what they mean (limit, allocated, headroom, grants) is here.

use serde_json::{json, Value};
use store::{Attribute, CounterCondition, CounterWrite, ItemKey, Stored, Write};

use crate::write_set::Role;

use super::CLAIM_BUCKET;

const LIMIT: &str = "b_limit";
const ALLOCATED: &str = "b_allocated";
/// `limit - allocated`, kept as an attribute so a condition can read it.
const HEADROOM: &str = "b_headroom";
const CLAIMS: &str = "b_claims";
const GRANTS: &str = "b_grants";
/// `{Kind}/{name}` of the consumer's parent (`""`: none).
const PARENT: &str = "b_parent";
/// `b_grant#{name}` = `{amount}/{generation}`: one contributing grant.
const GRANT_PREFIX: &str = "b_grant#";

/// What must hold of a bucket for its write to go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BucketCheck {
    /// Always applies (releases, limit changes).
    None,
    /// The bucket exists and `limit - allocated >= n`. (With a limit added
    /// in the same write, a grant's: `>= n - added`, and a bucket the added
    /// limit alone covers may be missing.)
    Headroom(i64),
    /// The bucket is missing, or has no grant, or `limit - allocated >= n`.
    /// (With a grant added in the same write, as [`BucketCheck::Headroom`].)
    HeadroomIfLimited(i64),
    /// The bucket reads as it was read (`None`: it does not exist): a move
    /// carries exactly the usage it planned with.
    Unchanged(Option<(i64, i64)>),
}

/// One bucket write: adds the deltas (missing counters count as 0;
/// `headroom` moves by `limit - allocated`), creates the item from
/// `document` when missing, and bumps its version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BucketWrite {
    pub key: ItemKey,
    /// The object document (no counters) written if the item is new.
    pub document: Value,
    pub limit_delta: i64,
    pub allocated_delta: i64,
    pub claim_count_delta: i64,
    pub grant_count_delta: i64,
    pub check: BucketCheck,
    /// `Some(p)`: the recorded parent must be `p` or unset (`""`: none,
    /// an organization's bucket).
    pub expect_parent: Option<String>,
    /// `Some(p)`: the recorded parent becomes `p`.
    pub set_parent: Option<String>,
    /// Contributing grants: `(name, Some((amount, generation)))` records
    /// one, `(name, None)` removes it.
    pub contributions: Vec<(String, Option<(i64, i64)>)>,
}

impl BucketWrite {
    /// This write and `other`, on the same bucket, as one: DynamoDB takes
    /// one operation per item in a transaction, and a create may both
    /// claim from a bucket and grant to it (or a delete release and take a
    /// grant back). Deltas add up; a claim's check then counts the limit
    /// the same write adds (see [`BucketCheck::Headroom`]).
    pub fn merge(mut self, other: BucketWrite) -> BucketWrite {
        use BucketCheck::*;
        self.check = match (self.check, other.check) {
            (Unchanged(read), _) | (_, Unchanged(read)) => Unchanged(read),
            (None, check) | (check, None) => check,
            (HeadroomIfLimited(a), HeadroomIfLimited(b)) => HeadroomIfLimited(a + b),
            (Headroom(a) | HeadroomIfLimited(a), Headroom(b) | HeadroomIfLimited(b)) => {
                Headroom(a + b)
            }
        };
        self.limit_delta += other.limit_delta;
        self.allocated_delta += other.allocated_delta;
        self.claim_count_delta += other.claim_count_delta;
        self.grant_count_delta += other.grant_count_delta;
        self.expect_parent = self.expect_parent.or(other.expect_parent);
        self.set_parent = self.set_parent.or(other.set_parent);
        self.contributions.extend(other.contributions);
        self
    }

    /// The store's write of this bucket change.
    pub fn counters(&self) -> CounterWrite {
        use CounterCondition::*;
        // A claim's need net of a limit the same write adds (a grant's).
        let added = self.limit_delta;
        let gains_grant = self.grant_count_delta > 0;
        // Whether the bucket may be missing: a claim's may when the limit
        // added with it covers it alone.
        let may_be_missing = match self.check {
            BucketCheck::None | BucketCheck::Unchanged(Option::None) => true,
            BucketCheck::Headroom(need) => added > 0 && added >= need,
            BucketCheck::HeadroomIfLimited(need) => !gains_grant || added >= need,
            BucketCheck::Unchanged(Some(_)) => false,
        };
        // A new bucket gets every counter (reads fold them into its
        // status); an existing one only those that move. A bucket the
        // condition requires to exist needs no document: the write then
        // only moves numbers (a claim's, on the hot path of every quota
        // create).
        let add = [
            (LIMIT, self.limit_delta),
            (ALLOCATED, self.allocated_delta),
            (CLAIMS, self.claim_count_delta),
            (GRANTS, self.grant_count_delta),
            (HEADROOM, self.limit_delta - self.allocated_delta),
        ]
        .into_iter()
        .filter(|(_, delta)| *delta != 0 || may_be_missing)
        .map(|(attr, delta)| (attr.to_string(), delta))
        .collect();
        let mut set: Vec<(String, String)> = Vec::new();
        if let Some(parent) = &self.set_parent {
            set.push((PARENT.into(), parent.clone()));
        }
        let mut remove = Vec::new();
        for (grant, contribution) in &self.contributions {
            let attr = format!("{GRANT_PREFIX}{grant}");
            match contribution {
                Some((amount, generation)) => set.push((attr, format!("{amount}/{generation}"))),
                Option::None => remove.push(attr),
            }
        }

        let mut conditions = Vec::new();
        match &self.check {
            BucketCheck::None => {}
            BucketCheck::Headroom(need) | BucketCheck::HeadroomIfLimited(need) => {
                let room = AtLeast(HEADROOM.into(), need - added);
                let limited = matches!(self.check, BucketCheck::Headroom(_)) || gains_grant;
                conditions.push(match (limited, may_be_missing) {
                    (true, false) => room,
                    (true, true) => Any(vec![Missing, room]),
                    (false, _) => Any(vec![Missing, Equals(GRANTS.into(), 0), room]),
                });
            }
            BucketCheck::Unchanged(Option::None) => conditions.push(Missing),
            BucketCheck::Unchanged(Some((allocated, claims))) => conditions.push(All(vec![
                Exists,
                Equals(ALLOCATED.into(), *allocated),
                Equals(CLAIMS.into(), *claims),
            ])),
        }
        if let Some(parent) = &self.expect_parent {
            conditions.push(TextOrMissing(PARENT.into(), parent.clone()));
        }
        let condition = match conditions.len() {
            0 => Option::None,
            1 => conditions.pop(),
            _ => Some(All(conditions)),
        };
        CounterWrite {
            key: self.key.clone(),
            document: may_be_missing.then(|| self.document.clone()),
            add,
            set,
            remove,
            condition,
        }
    }
}

/// A write quota plans: a store write as it is, or a bucket change, kept
/// as quota's until the request's transaction is put together (changes
/// on one bucket are merged then: [`merged`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QuotaWrite {
    Item(Write),
    Bucket(BucketWrite),
}

impl From<Write> for QuotaWrite {
    fn from(write: Write) -> QuotaWrite {
        QuotaWrite::Item(write)
    }
}

impl From<BucketWrite> for QuotaWrite {
    fn from(write: BucketWrite) -> QuotaWrite {
        QuotaWrite::Bucket(write)
    }
}

/// Quota's writes, each with its role, as store writes: changes on one
/// bucket merged ([`BucketWrite::merge`], in the place of the first). A
/// merged change that carries a claim's takes [`CLAIM_BUCKET`], so a
/// refusal of it is planned again.
pub(crate) fn merged(writes: Vec<(Role, QuotaWrite)>) -> Vec<(Role, Write)> {
    let mut out: Vec<(Role, QuotaWrite)> = Vec::with_capacity(writes.len());
    for (role, write) in writes {
        let QuotaWrite::Bucket(bucket) = write else {
            out.push((role, write));
            continue;
        };
        let same = out
            .iter_mut()
            .find(|(_, w)| matches!(w, QuotaWrite::Bucket(b) if b.key == bucket.key));
        match same {
            Some((first_role, QuotaWrite::Bucket(first))) => {
                *first = first.clone().merge(bucket);
                if role == CLAIM_BUCKET {
                    *first_role = CLAIM_BUCKET;
                }
            }
            _ => out.push((role, QuotaWrite::Bucket(bucket))),
        }
    }
    out.into_iter()
        .map(|(role, write)| match write {
            QuotaWrite::Item(item) => (role, item),
            QuotaWrite::Bucket(bucket) => (role, Write::Counters(bucket.counters())),
        })
        .collect()
}

fn number(stored: &Stored, name: &str) -> Option<i64> {
    match stored.attributes.get(name) {
        Some(Attribute::Number(n)) => Some(*n),
        _ => None,
    }
}

/// A stored bucket's document with its counters folded into `status`
/// (and its version into `metadata.resourceVersion`): the bucket as every
/// read serves and parses it. An item without counters is returned as
/// stored.
pub(crate) fn fold(stored: &Stored) -> Value {
    let mut object = stored.object.clone();
    let Some(allocated) = number(stored, ALLOCATED) else {
        return object;
    };
    let limit = number(stored, LIMIT).unwrap_or(0);
    let mut grants: Vec<(String, i64, i64)> = stored
        .attributes
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(GRANT_PREFIX)?;
            let Attribute::Text(text) = v else {
                return Option::None;
            };
            let (amount, generation) = text.split_once('/')?;
            Some((
                name.to_string(),
                amount.parse().ok()?,
                generation.parse().ok()?,
            ))
        })
        .collect();
    grants.sort();
    let refs: Vec<Value> = grants
        .into_iter()
        .map(|(name, amount, generation)| {
            json!({"name": name, "amount": amount, "lastObservedGeneration": generation})
        })
        .collect();
    if let Some(map) = object.as_object_mut() {
        map.insert(
            "status".into(),
            json!({
                "limit": limit,
                "allocated": allocated,
                "available": (limit - allocated).max(0),
                "claimCount": number(stored, CLAIMS).unwrap_or(0),
                "grantCount": number(stored, GRANTS).unwrap_or(0),
                "contributingGrantRefs": refs,
            }),
        );
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(stored.version.to_string()));
    }
    object
}

/// Stored buckets as reads serve them ([`fold`]).
pub(crate) fn folded(mut stored: Vec<Stored>) -> Vec<Stored> {
    for bucket in &mut stored {
        bucket.object = fold(bucket);
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::quota::ITEM;
    use std::collections::BTreeMap;
    use CounterCondition::*;

    fn key(sk: &str) -> ItemKey {
        ItemKey {
            pk: "o#_#quota.miloapis.com#AllowanceBucket".into(),
            sk: sk.into(),
        }
    }

    fn claim(need: i64) -> BucketWrite {
        BucketWrite {
            key: key("b"),
            document: json!({}),
            limit_delta: 0,
            allocated_delta: need,
            claim_count_delta: 1,
            grant_count_delta: 0,
            check: BucketCheck::Headroom(need),
            expect_parent: Some(String::new()),
            set_parent: Some(String::new()),
            contributions: Vec::new(),
        }
    }

    fn grant(name: &str, amount: i64) -> BucketWrite {
        BucketWrite {
            limit_delta: amount,
            allocated_delta: 0,
            claim_count_delta: 0,
            grant_count_delta: 1,
            check: BucketCheck::None,
            expect_parent: None,
            set_parent: None,
            contributions: vec![(name.into(), Some((amount, 1)))],
            ..claim(0)
        }
    }

    fn parent_is_none() -> CounterCondition {
        TextOrMissing(PARENT.into(), String::new())
    }

    #[test]
    fn a_claim_and_a_grant_on_one_bucket_are_one_write() {
        let both = claim(2).merge(grant("a", 5)).merge(grant("b", 1));
        assert_eq!(
            (
                both.limit_delta,
                both.allocated_delta,
                both.claim_count_delta,
                both.grant_count_delta
            ),
            (6, 2, 1, 2)
        );
        assert_eq!(both.check, BucketCheck::Headroom(2));
        assert_eq!(both.expect_parent.as_deref(), Some(""));
        assert_eq!(both.contributions.len(), 2);

        // The claim counts the limit added with it; the grants alone cover
        // it, so the bucket may be new.
        let w = both.counters();
        assert_eq!(
            w.condition,
            Some(All(vec![
                Any(vec![Missing, AtLeast(HEADROOM.into(), -4)]),
                parent_is_none()
            ]))
        );
        assert!(w.set.contains(&("b_grant#a".into(), "5/1".into())));
        assert!(w.set.contains(&("b_grant#b".into(), "1/1".into())));
        assert_eq!(w.document, Some(json!({})));

        // A limit that does not cover the claim: the bucket must exist.
        let short = claim(3).merge(grant("a", 1)).counters();
        assert_eq!(
            short.condition,
            Some(All(vec![AtLeast(HEADROOM.into(), 2), parent_is_none()]))
        );
        // Alone, a claim is as before: it moves only its numbers.
        let alone = claim(1).counters();
        assert_eq!(
            alone.condition,
            Some(All(vec![AtLeast(HEADROOM.into(), 1), parent_is_none()]))
        );
        assert_eq!(alone.document, Option::None);
        assert_eq!(
            alone.add,
            vec![
                (ALLOCATED.into(), 1),
                (CLAIMS.into(), 1),
                (HEADROOM.into(), -1)
            ]
        );
    }

    #[test]
    fn merged_writes_each_bucket_once_in_the_place_of_the_first() {
        let index = |sk: &str| {
            QuotaWrite::Item(Write::PutIndex {
                key: ItemKey {
                    pk: "l#x".into(),
                    sk: sk.into(),
                },
                target: key("b"),
            })
        };
        let out = merged(vec![
            (ITEM, grant("a", 5).into()),
            (ITEM, index("1")),
            (CLAIM_BUCKET, claim(1).into()),
            (ITEM, grant("c", 1).into()),
        ]);
        assert_eq!(out.len(), 2);
        // The merged change carries a claim: it is planned again if refused.
        assert_eq!(out[0].0, CLAIM_BUCKET);
        match &out[0].1 {
            Write::Counters(c) => {
                assert!(c.add.contains(&(LIMIT.into(), 6)), "{:?}", c.add);
                assert!(c.add.contains(&(ALLOCATED.into(), 1)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out[1].0, ITEM);
        // Grants alone keep their role.
        let out = merged(vec![
            (ITEM, grant("a", 5).into()),
            (ITEM, grant("b", 1).into()),
        ]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, ITEM);
    }

    #[test]
    fn a_buckets_counters_fold_into_its_status() {
        let stored = |attributes: BTreeMap<String, Attribute>| Stored {
            key: key("b"),
            object: json!({"metadata": {"name": "b", "resourceVersion": "1"}}),
            version: 7,
            attributes,
        };
        let n = |v: i64| Attribute::Number(v);
        let bucket = stored(BTreeMap::from([
            (LIMIT.into(), n(5)),
            (ALLOCATED.into(), n(7)),
            (CLAIMS.into(), n(2)),
            (GRANTS.into(), n(1)),
            ("b_grant#g".into(), Attribute::Text("5/3".into())),
            (PARENT.into(), Attribute::Text(String::new())),
        ]));
        let doc = fold(&bucket);
        assert_eq!(
            doc["status"],
            json!({"limit": 5, "allocated": 7, "available": 0, "claimCount": 2, "grantCount": 1,
                   "contributingGrantRefs": [{"name": "g", "amount": 5, "lastObservedGeneration": 3}]})
        );
        assert_eq!(doc["metadata"]["resourceVersion"], "7");
        // Not a bucket's item: as stored.
        let other = stored(BTreeMap::new());
        assert_eq!(fold(&other), other.object);
    }
}
