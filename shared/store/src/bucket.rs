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
    /// The bucket exists and `limit - allocated >= n`.
    Headroom(i64),
    /// The bucket is missing, or has no grant, or `limit - allocated >= n`.
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
    /// A contributing grant: `(name, Some((amount, generation)))` records
    /// it, `(name, None)` removes it.
    pub contribution: Option<(String, Option<(i64, i64)>)>,
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
    // A bucket the condition requires to exist needs no document to be
    // created from: the write then only moves numbers (a claim's, on the
    // hot path of every quota create).
    let must_exist = matches!(
        write.check,
        BucketCheck::Headroom(_) | BucketCheck::Unchanged(Some(_))
    );
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
    if let Some((grant, contribution)) = &write.contribution {
        names.insert("#g".into(), format!("{GRANT_PREFIX}{grant}"));
        match contribution {
            Some((amount, generation)) => {
                values.insert(
                    ":gv".into(),
                    AttributeValue::S(format!("{amount}/{generation}")),
                );
                set.push("#g = :gv".into());
            }
            None => remove.push("#g"),
        }
    }
    let mut update = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        update.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }

    let mut conditions = Vec::new();
    match &write.check {
        BucketCheck::None => {}
        BucketCheck::Headroom(need) => {
            values.insert(":need".into(), n(*need));
            conditions.push(format!("{HEADROOM} >= :need"));
        }
        BucketCheck::HeadroomIfLimited(need) => {
            values.insert(":need".into(), n(*need));
            conditions.push(format!(
                "(attribute_not_exists(pk) OR {GRANTS} = :zero OR {HEADROOM} >= :need)"
            ));
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
