//! Counter items: quota buckets (issue #5). A bucket is an object item
//! (`obj`, `rv`, type index) whose counters are numeric item attributes,
//! so that one TransactWriteItems can add to them under a condition on
//! their current values (DynamoDB evaluates `headroom >= :n` itself; no
//! read-modify-write). Reads fold the counters back into the object's
//! `status`, so every read path (get, list, tables) serves them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::ItemKey;

const LIMIT: &str = "b_limit";
const ALLOCATED: &str = "b_allocated";
const HEADROOM: &str = "b_headroom";
const CLAIMS: &str = "b_claims";
const GRANTS: &str = "b_grants";
const PARENT: &str = "b_parent";
/// `b_grant#{name}` = `{amount}/{generation}`: one contributing grant.
const GRANT_PREFIX: &str = "b_grant#";

/// What must hold of a bucket for its write to go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketCheck {
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
pub struct BucketWrite {
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
}

/// `writes` with every item written once: bucket writes on one item merged
/// ([`BucketWrite::merge`], in the place of the first), an index item put
/// twice put once; beside each write kept, the position in `writes` of
/// the first write it stands for (so a refusal names the caller's write).
/// `None` when nothing is shared (the usual case: the caller's list is
/// sent uncopied).
pub fn merged(writes: &[crate::Write]) -> Option<(Vec<crate::Write>, Vec<usize>)> {
    use crate::Write;
    let mut seen = std::collections::HashSet::new();
    let shared = writes.iter().any(|w| match w {
        Write::Bucket(b) => !seen.insert(&b.key),
        Write::PutIndex { key, .. } => !seen.insert(key),
        _ => false,
    });
    if !shared {
        return None;
    }
    let mut out: Vec<Write> = Vec::with_capacity(writes.len());
    let mut origin: Vec<usize> = Vec::with_capacity(writes.len());
    let mut at: HashMap<ItemKey, usize> = HashMap::new();
    for (position, write) in writes.iter().enumerate() {
        match write {
            Write::Bucket(b) => match at.get(&b.key) {
                Some(&i) => {
                    if let Write::Bucket(first) = &mut out[i] {
                        *first = first.clone().merge(b.clone());
                    }
                }
                None => {
                    at.insert(b.key.clone(), out.len());
                    out.push(write.clone());
                    origin.push(position);
                }
            },
            Write::PutIndex { key, .. } if at.contains_key(key) => {}
            Write::PutIndex { key, .. } => {
                at.insert(key.clone(), out.len());
                out.push(write.clone());
                origin.push(position);
            }
            _ => {
                out.push(write.clone());
                origin.push(position);
            }
        }
    }
    Some((out, origin))
}

/// A bucket's update: (update expression, condition, names, values).
pub(crate) struct Expressions {
    pub update: String,
    pub condition: Option<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn expressions(write: &BucketWrite) -> Expressions {
    let mut values = HashMap::from([(":one".to_string(), n(1))]);
    let mut names = HashMap::new();
    let mut set = vec!["rv = if_not_exists(rv, :zero) + :one".to_string()];
    // A claim's need net of a limit the same write adds (a grant's).
    let added = write.limit_delta;
    let gains_grant = write.grant_count_delta > 0;
    // Whether the bucket may be missing: a claim's may when the limit added
    // with it covers it alone.
    let may_be_missing = match write.check {
        BucketCheck::None | BucketCheck::Unchanged(None) => true,
        BucketCheck::Headroom(need) => added > 0 && added >= need,
        BucketCheck::HeadroomIfLimited(need) => !gains_grant || added >= need,
        BucketCheck::Unchanged(Some(_)) => false,
    };
    // A bucket the condition requires to exist needs no document to be
    // created from: the write then only moves numbers (a claim's, on the
    // hot path of every quota create).
    let must_exist = !may_be_missing;
    if !must_exist {
        values.insert(":doc".into(), AttributeValue::S(write.document.to_string()));
        set.push("obj = if_not_exists(obj, :doc)".into());
        if let Some((type_pk, type_sk)) = crate::keys::type_index_of(&write.key) {
            values.insert(":tpk".into(), AttributeValue::S(type_pk));
            values.insert(":tsk".into(), AttributeValue::S(type_sk));
            set.push("gsi1pk = if_not_exists(gsi1pk, :tpk)".into());
            set.push("gsi1sk = if_not_exists(gsi1sk, :tsk)".into());
        }
    }
    // A new bucket gets every counter (reads fold them into its status);
    // an existing one only those that move.
    for (attr, placeholder, delta) in [
        (LIMIT, ":dl", write.limit_delta),
        (ALLOCATED, ":da", write.allocated_delta),
        (CLAIMS, ":dc", write.claim_count_delta),
        (GRANTS, ":dg", write.grant_count_delta),
        (HEADROOM, ":dh", write.limit_delta - write.allocated_delta),
    ] {
        if delta != 0 || !must_exist {
            values.insert(placeholder.to_string(), n(delta));
            set.push(format!(
                "{attr} = if_not_exists({attr}, :zero) + {placeholder}"
            ));
        }
    }
    values.insert(":zero".into(), n(0));
    if let Some(parent) = &write.set_parent {
        values.insert(":np".into(), AttributeValue::S(parent.clone()));
        set.push(format!("{PARENT} = :np"));
    }
    let mut remove = Vec::new();
    for (i, (grant, contribution)) in write.contributions.iter().enumerate() {
        let name = format!("#g{i}");
        names.insert(name.clone(), format!("{GRANT_PREFIX}{grant}"));
        match contribution {
            Some((amount, generation)) => {
                values.insert(
                    format!(":gv{i}"),
                    AttributeValue::S(format!("{amount}/{generation}")),
                );
                set.push(format!("{name} = :gv{i}"));
            }
            None => remove.push(name),
        }
    }
    let mut update = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        update.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }

    let mut conditions = Vec::new();
    match &write.check {
        BucketCheck::None => {}
        BucketCheck::Headroom(need) | BucketCheck::HeadroomIfLimited(need) => {
            values.insert(":need".into(), n(need - added));
            let limited = matches!(write.check, BucketCheck::Headroom(_)) || gains_grant;
            conditions.push(match (limited, may_be_missing) {
                (true, false) => format!("{HEADROOM} >= :need"),
                (true, true) => format!("(attribute_not_exists(pk) OR {HEADROOM} >= :need)"),
                (false, _) => {
                    format!("(attribute_not_exists(pk) OR {GRANTS} = :zero OR {HEADROOM} >= :need)")
                }
            });
        }
        BucketCheck::Unchanged(None) => conditions.push("attribute_not_exists(pk)".into()),
        BucketCheck::Unchanged(Some((allocated, claims))) => {
            values.insert(":wa".into(), n(*allocated));
            values.insert(":wc".into(), n(*claims));
            conditions.push(format!(
                "attribute_exists(pk) AND {ALLOCATED} = :wa AND {CLAIMS} = :wc"
            ));
        }
    }
    if let Some(parent) = &write.expect_parent {
        values.insert(":p".into(), AttributeValue::S(parent.clone()));
        conditions.push(format!("(attribute_not_exists({PARENT}) OR {PARENT} = :p)"));
    }
    Expressions {
        update,
        condition: (!conditions.is_empty()).then(|| conditions.join(" AND ")),
        names,
        values,
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// Folds a bucket item's counters into its document's `status` (and its
/// version into `metadata.resourceVersion`); other items are left as they
/// are.
pub(crate) fn fold_counters(
    item: &HashMap<String, AttributeValue>,
    object: &mut Value,
    version: u64,
) {
    let Some(allocated) = number(item, ALLOCATED) else {
        return;
    };
    let limit = number(item, LIMIT).unwrap_or(0);
    let mut grants: Vec<(String, i64, i64)> = item
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(GRANT_PREFIX)?;
            let AttributeValue::S(text) = v else {
                return None;
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
                "claimCount": number(item, CLAIMS).unwrap_or(0),
                "grantCount": number(item, GRANTS).unwrap_or(0),
                "contributingGrantRefs": refs,
            }),
        );
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(version.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Write;

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
        let e = expressions(&both);
        assert_eq!(e.values[":need"], n(-4));
        let condition = e.condition.unwrap();
        assert!(
            condition.contains("attribute_not_exists(pk) OR b_headroom >= :need"),
            "{condition}"
        );
        assert!(e.update.contains("#g0 = :gv0") && e.update.contains("#g1 = :gv1"));
        assert!(e.update.contains("obj = if_not_exists(obj, :doc)"));

        // A limit that does not cover the claim: the bucket must exist.
        let short = claim(3).merge(grant("a", 1));
        let e = expressions(&short);
        assert_eq!(e.values[":need"], n(2));
        assert!(e.condition.unwrap().starts_with("b_headroom >= :need"));
        // Alone, a claim is as before.
        let e = expressions(&claim(1));
        assert_eq!(e.values[":need"], n(1));
        assert!(!e.values.contains_key(":doc"));
    }

    #[test]
    fn merged_writes_each_item_once_in_the_place_of_the_first() {
        let index = |sk: &str| Write::PutIndex {
            key: ItemKey {
                pk: "l#x".into(),
                sk: sk.into(),
            },
            target: key("b"),
        };
        let alone = vec![Write::Bucket(claim(1)), index("1")];
        assert!(merged(&alone).is_none());
        let shared = vec![
            Write::Bucket(grant("a", 5)),
            index("1"),
            Write::Bucket(claim(1)),
            index("1"),
            index("2"),
        ];
        let (out, origin) = merged(&shared).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(origin, vec![0, 1, 4]);
        match &out[0] {
            Write::Bucket(b) => {
                assert_eq!((b.limit_delta, b.allocated_delta), (5, 1));
                assert_eq!(b.check, BucketCheck::Headroom(1));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&out[2], Write::PutIndex { key, .. } if key.sk == "2"));
    }
}
