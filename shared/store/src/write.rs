//! Writes: what one item write is ([`Write`], [`Expect`]), how it becomes
//! a DynamoDB request (alone, conditional; or one item of a transaction),
//! and how a refused condition comes back as the position of its write.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

mod errors;

use errors::{single_error, transaction_error};

use crate::{
    counters, key_item, keys, s, CounterWrite, ItemKey, Store, StoreError, CONFLICT_ATTEMPTS,
    EXPIRES, MAX_OBJECT_BYTES, MAX_TRANSACTION_ITEMS, WRITER,
};

/// `$builder` (a Put, Delete, Update or ConditionCheck, in a transaction or
/// alone) on `$table` under `$condition` (a [`Condition`]), asking for the
/// item as it was when the condition fails: whether it existed tells the
/// failures apart (see [`Write::failure`]). A macro because the SDK's
/// builders share these setters by name only.
macro_rules! conditional {
    ($builder:expr, $table:expr, $condition:expr) => {{
        let condition: Condition = $condition;
        $builder
            .table_name($table)
            .set_condition_expression(condition.expression)
            .set_expression_attribute_names(condition.names)
            .set_expression_attribute_values(condition.values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }};
}

/// The [`Condition`] a built transaction item (`Put`, `Delete`, `Update`)
/// carries, to send it alone.
macro_rules! condition_of {
    ($part:expr) => {
        Condition {
            expression: $part.condition_expression,
            names: $part.expression_attribute_names,
            values: $part.expression_attribute_values,
        }
    };
}

/// What must hold of an item for a write to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    Anything,
    Absent,
    Present,
    /// Present, at exactly this version.
    Version(u64),
    /// Present and not being deleted (see [`Write::MarkDeleting`]).
    Live,
    /// Present at exactly this version and not being deleted: flagging an
    /// object for deletion leaves its version as it was, so a check of the
    /// version alone would let a child attach while its children are counted.
    LiveAt(u64),
    /// Absent, or a counter item whose [`HOLDS`] number is 0 or missing:
    /// nothing holds what it counts for.
    Unheld,
}

/// The number a counter item checked by [`Expect::Unheld`] keeps.
pub const HOLDS: &str = "holds";

/// One item write. A batch of them is applied all-or-nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// The object item itself, at `version`.
    PutObject {
        key: ItemKey,
        object: serde_json::Value,
        version: u64,
        expect: Expect,
    },
    /// The object item itself, at `version`, with `fields` beside its
    /// document: who wrote it, when it expires.
    PutObjectWith {
        key: ItemKey,
        object: serde_json::Value,
        version: u64,
        expect: Expect,
        fields: ObjectItemFields,
    },
    /// Who deleted the object `uid`, kept for `expires_at` (seconds since
    /// the epoch): a delete removes the item whose fields would say so, so
    /// the feed reads it here ([`Store::deleted_by`]).
    NoteDeletion {
        uid: String,
        writer: String,
        expires_at: i64,
    },
    /// An index item pointing at the object item `target`.
    PutIndex {
        key: ItemKey,
        target: ItemKey,
    },
    Delete {
        key: ItemKey,
        expect: Expect,
    },
    Check {
        key: ItemKey,
        expect: Expect,
    },
    /// A plain item: its key and string attributes, written whatever is
    /// there (a relationship item, see [`keys::relationship_key`]; a stamp's
    /// fresh token, see [`keys::stamp_key`]).
    PutItem {
        key: ItemKey,
        attributes: Vec<(String, String)>,
    },
    /// Flags an object so that no new child can be attached while its
    /// children are counted; see the hierarchy's delete protocol.
    MarkDeleting {
        key: ItemKey,
        version: u64,
        deleting: bool,
    },
    /// A counter item's numbers added to under a condition on their
    /// values (see [`counters`]).
    Counters(CounterWrite),
}

/// What an object item may carry beside its document and version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectItemFields {
    /// Who wrote this version (the request's principal): the feed's actor.
    pub writer: Option<String>,
    /// Seconds since the epoch after which the item is gone (the table's
    /// TTL attribute). Reads treat it as gone from then on; DynamoDB
    /// deletes it some time later.
    pub expires_at: Option<i64>,
}

/// The attribute of a stamp item that changes on every write.
pub(crate) const STAMP_TOKEN: &str = "token";

impl Write {
    /// The write that moves a stamp to a fresh token (see [`Store::stamp`]).
    pub fn stamp(key: ItemKey) -> Write {
        Write::PutItem {
            key,
            attributes: vec![(STAMP_TOKEN.into(), uuid::Uuid::new_v4().to_string())],
        }
    }

    /// The fields beside the document of an object item's put, to set
    /// (a plain [`Write::PutObject`] becomes a [`Write::PutObjectWith`]);
    /// None for any other write.
    pub fn object_fields(&mut self) -> Option<&mut ObjectItemFields> {
        if let Write::PutObject {
            key,
            object,
            version,
            expect,
        } = self
        {
            *self = Write::PutObjectWith {
                key: key.clone(),
                object: object.take(),
                version: *version,
                expect: *expect,
                fields: ObjectItemFields::default(),
            };
        }
        match self {
            Write::PutObjectWith { fields, .. } => Some(fields),
            _ => None,
        }
    }

    /// What the write requires of its item.
    fn expect(&self) -> Expect {
        match self {
            Write::PutObject { expect, .. }
            | Write::PutObjectWith { expect, .. }
            | Write::Delete { expect, .. }
            | Write::Check { expect, .. } => *expect,
            Write::MarkDeleting { version, .. } => Expect::Version(*version),
            // A failed counter condition: NotFound if it was missing, else Conflict.
            Write::Counters(_) => Expect::Present,
            Write::PutIndex { .. } | Write::PutItem { .. } | Write::NoteDeletion { .. } => {
                Expect::Anything
            }
        }
    }

    /// The typed error of this write's failed condition, given whether the
    /// item was there (DynamoDB returns it on failure).
    fn failure(&self, index: usize, item_exists: bool) -> StoreError {
        match (self.expect(), item_exists) {
            (Expect::Absent, _) => StoreError::AlreadyExists { index },
            (_, false) => StoreError::NotFound { index },
            (_, true) => StoreError::Conflict { index },
        }
    }
}

impl Store {
    /// Applies `writes` all-or-nothing: one conditional call for a single
    /// write, one TransactWriteItems for several. An index item put twice
    /// is put once ([`distinct`]); a refused write is named by its
    /// position in `writes`.
    pub async fn write(&self, writes: impl AsRef<[Write]>) -> Result<(), StoreError> {
        let writes = writes.as_ref();
        match distinct(writes) {
            None => self.write_distinct(writes).await,
            Some((sent, origin)) => self
                .write_distinct(&sent)
                .await
                .map_err(|err| err.at_origin(&origin)),
        }
    }

    /// [`Store::write`] of writes that are each on an item of their own.
    async fn write_distinct(&self, writes: &[Write]) -> Result<(), StoreError> {
        match writes {
            [] => Ok(()),
            [single] => self.write_one(single).await,
            _ => self.transact(writes).await,
        }
    }

    /// One write alone, sent again (up to [`CONFLICT_ATTEMPTS`] times)
    /// while it meets a transaction holding its item: it did nothing then.
    async fn write_one(&self, write: &Write) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_one(write).await {
                Err(StoreError::TransactionConflict) if attempt < CONFLICT_ATTEMPTS => {
                    backoff(attempt).await
                }
                other => return other,
            }
        }
    }

    async fn send_one(&self, write: &Write) -> Result<(), StoreError> {
        let op = operation(&self.table, write)?;
        let client = &self.client;
        let table = &self.table;
        if let Some(put) = op.put {
            let request = client.put_item().set_item(Some(put.item));
            let sent = conditional!(request, table, condition_of!(put)).send();
            sent.await.map(drop).map_err(|e| single_error(write, e))
        } else if let Some(delete) = op.delete {
            let request = client.delete_item().set_key(Some(delete.key));
            let sent = conditional!(request, table, condition_of!(delete)).send();
            sent.await.map(drop).map_err(|e| single_error(write, e))
        } else if let Some(update) = op.update {
            let request = client
                .update_item()
                .set_key(Some(update.key))
                .update_expression(update.update_expression);
            let sent = conditional!(request, table, condition_of!(update)).send();
            sent.await.map(drop).map_err(|e| single_error(write, e))
        } else {
            // A lone condition check writes nothing; a transaction of one is
            // the only way DynamoDB evaluates it.
            self.transact(std::slice::from_ref(write)).await
        }
    }

    async fn transact(&self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooLarge(format!(
                "the change needs {} writes in one transaction; at most {MAX_TRANSACTION_ITEMS} fit",
                writes.len()
            )));
        }
        let items = writes
            .iter()
            .map(|w| operation(&self.table, w))
            .collect::<Result<Vec<_>, _>>()?;
        let mut attempt = 0;
        // The SDK's own retries of an attempt reuse its token, so a request
        // that committed is not applied twice; a new one only for an attempt
        // known not to have committed (cancelled by a conflict).
        let mut token = uuid::Uuid::new_v4().to_string();
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                // DynamoDB's 500 outlasted the SDK's retries: DynamoDB Local
                // answers so when a transaction waited too long for another's
                // lock, and says real DynamoDB would take it. It may have
                // committed, so it goes again under the same token, which
                // DynamoDB answers from the first if it did.
                Err(err) if is_internal(&err) && attempt < CONFLICT_ATTEMPTS => {
                    backoff(attempt).await
                }
                Err(err) => match transaction_error(writes, err) {
                    StoreError::TransactionConflict if attempt < CONFLICT_ATTEMPTS => {
                        token = uuid::Uuid::new_v4().to_string();
                        backoff(attempt).await;
                    }
                    other => return Err(other),
                },
            }
        }
    }
}

/// `writes` with an index item put twice put once, and the same check of
/// one item made twice made once (two parts of a request may index one
/// item, or check one container; DynamoDB takes one operation per item in
/// a transaction); beside each write kept, the position in `writes` of the
/// write it stands for (so a refusal names the caller's write). `None`
/// when nothing is shared (the usual case: the caller's list is sent
/// uncopied).
fn distinct(writes: &[Write]) -> Option<(Vec<Write>, Vec<usize>)> {
    fn first_time<'a>(
        seen: &mut std::collections::HashSet<(&'a ItemKey, Option<Expect>)>,
        write: &'a Write,
    ) -> bool {
        match write {
            Write::PutIndex { key, .. } => seen.insert((key, None)),
            Write::Check { key, expect } => seen.insert((key, Some(*expect))),
            _ => true,
        }
    }
    let mut seen = std::collections::HashSet::new();
    if writes.iter().all(|w| first_time(&mut seen, w)) {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    let (out, origin) = writes
        .iter()
        .enumerate()
        .filter(|(_, w)| first_time(&mut seen, w))
        .map(|(position, w)| (w.clone(), position))
        .unzip();
    Some((out, origin))
}

fn is_internal<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> bool {
    matches!(err, SdkError::ServiceError(service) if service.err().is_internal_server_error())
}

/// The wait before attempt `attempt + 1` of a write that met another.
async fn backoff(attempt: u32) {
    let millis = 10 * u64::from(attempt) + jitter_millis();
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await
}

fn jitter_millis() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 16)
}

/// The condition of one item of a write: its expression, and the names
/// and values the expressions of the item use.
#[derive(Default)]
struct Condition {
    expression: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

/// The condition for an [`Expect`].
fn condition(expect: Expect) -> Condition {
    let at = |expression: &str, rv: u64| Condition {
        expression: Some(expression.into()),
        names: None,
        values: Some(HashMap::from([(
            ":rv".to_string(),
            AttributeValue::N(rv.to_string()),
        )])),
    };
    let only = |expression: &str| Condition {
        expression: Some(expression.into()),
        ..Condition::default()
    };
    match expect {
        Expect::Anything => Condition::default(),
        Expect::Absent => only("attribute_not_exists(pk)"),
        Expect::Present => only("attribute_exists(pk)"),
        Expect::Version(rv) => at("rv = :rv", rv),
        Expect::Live => only("attribute_exists(pk) AND attribute_not_exists(deleting)"),
        Expect::LiveAt(rv) => at("rv = :rv AND attribute_not_exists(deleting)", rv),
        Expect::Unheld => Condition {
            expression: Some(
                "attribute_not_exists(pk) OR attribute_not_exists(#holds) OR #holds = :zero".into(),
            ),
            names: Some(HashMap::from([("#holds".to_string(), HOLDS.to_string())])),
            values: Some(HashMap::from([(
                ":zero".to_string(),
                AttributeValue::N("0".into()),
            )])),
        },
    }
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A Put of `key` with string attributes, whatever the item holds now.
fn unconditional_put<'a>(
    table: &str,
    key: &ItemKey,
    attributes: impl IntoIterator<Item = (&'a str, &'a String)>,
) -> Result<Put, StoreError> {
    let mut item = key_item(key);
    for (name, value) in attributes {
        item.insert(name.to_string(), s(value));
    }
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .build()
        .map_err(build_error)
}

/// An object item's Put: its document, version and type index
/// attributes, its `deleting` flag, and its `fields`.
fn object_put(
    table: &str,
    key: &ItemKey,
    object: &serde_json::Value,
    version: u64,
    expect: Expect,
    fields: &ObjectItemFields,
) -> Result<Put, StoreError> {
    let body = object.to_string();
    if body.len() > MAX_OBJECT_BYTES {
        return Err(StoreError::TooLarge(format!(
            "object is {} bytes; the limit is {MAX_OBJECT_BYTES}",
            body.len()
        )));
    }
    let mut item = key_item(key);
    if let Some((type_pk, type_sk)) = keys::type_index_of(key) {
        item.insert("gsi1pk".into(), s(&type_pk));
        item.insert("gsi1sk".into(), s(&type_sk));
    }
    item.insert("obj".into(), AttributeValue::S(body));
    item.insert("rv".into(), AttributeValue::N(version.to_string()));
    // A Terminating object (its delete started and waits) takes
    // no new child: the flag the children's `Live` checks read.
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        item.insert("deleting".into(), AttributeValue::Bool(true));
    }
    if let Some(writer) = &fields.writer {
        item.insert(WRITER.into(), s(writer));
    }
    if let Some(at) = fields.expires_at {
        item.insert(EXPIRES.into(), AttributeValue::N(at.to_string()));
    }
    let put = Put::builder().set_item(Some(item));
    conditional!(put, table, condition(expect))
        .build()
        .map_err(build_error)
}

fn operation(table: &str, write: &Write) -> Result<TransactWriteItem, StoreError> {
    let op = TransactWriteItem::builder();
    let op = match write {
        Write::PutObject {
            key,
            object,
            version,
            expect,
        } => op.put(object_put(
            table,
            key,
            object,
            *version,
            *expect,
            &ObjectItemFields::default(),
        )?),
        Write::PutObjectWith {
            key,
            object,
            version,
            expect,
            fields,
        } => op.put(object_put(table, key, object, *version, *expect, fields)?),
        Write::NoteDeletion {
            uid,
            writer,
            expires_at,
        } => {
            let mut item = key_item(&keys::deletion_note_key(uid));
            item.insert(WRITER.into(), s(writer));
            item.insert(EXPIRES.into(), AttributeValue::N(expires_at.to_string()));
            op.put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(item))
                    .build()
                    .map_err(build_error)?,
            )
        }
        Write::PutIndex { key, target } => {
            let attributes = [("opk", &target.pk), ("osk", &target.sk)];
            op.put(unconditional_put(table, key, attributes)?)
        }
        Write::PutItem { key, attributes } => op.put(unconditional_put(
            table,
            key,
            attributes
                .iter()
                .map(|(name, value)| (name.as_str(), value)),
        )?),
        Write::Delete { key, expect } => {
            let delete = Delete::builder().set_key(Some(key_item(key)));
            op.delete(
                conditional!(delete, table, condition(*expect))
                    .build()
                    .map_err(build_error)?,
            )
        }
        Write::Check { key, expect } => {
            // A condition check must have an expression; `Anything` is one
            // that always holds.
            let mut expected = condition(*expect);
            expected
                .expression
                .get_or_insert_with(|| "attribute_exists(pk) OR attribute_not_exists(pk)".into());
            let check = ConditionCheck::builder().set_key(Some(key_item(key)));
            op.condition_check(
                conditional!(check, table, expected)
                    .build()
                    .map_err(build_error)?,
            )
        }
        Write::MarkDeleting {
            key,
            version,
            deleting,
        } => {
            let update = if *deleting {
                "SET deleting = :t"
            } else {
                "REMOVE deleting"
            };
            let mut values =
                HashMap::from([(":rv".to_string(), AttributeValue::N(version.to_string()))]);
            if *deleting {
                values.insert(":t".into(), AttributeValue::Bool(true));
            }
            let expected = Condition {
                expression: Some("rv = :rv".into()),
                names: None,
                values: Some(values),
            };
            op.update(update_item(table, key, update, expected)?)
        }
        Write::Counters(write) => {
            let e = counters::expressions(write);
            let expected = Condition {
                expression: e.condition,
                names: (!e.names.is_empty()).then_some(e.names),
                values: Some(e.values),
            };
            op.update(update_item(table, &write.key, e.update, expected)?)
        }
    };
    Ok(op.build())
}

fn update_item(
    table: &str,
    key: &ItemKey,
    update: impl Into<String>,
    expected: Condition,
) -> Result<Update, StoreError> {
    let update = Update::builder()
        .set_key(Some(key_item(key)))
        .update_expression(update);
    conditional!(update, table, expected)
        .build()
        .map_err(build_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::error::InternalServerError;

    #[test]
    fn an_index_item_put_twice_is_put_once_and_positions_kept() {
        let key = |pk: &str, sk: &str| ItemKey {
            pk: pk.into(),
            sk: sk.into(),
        };
        let index = |sk: &str| Write::PutIndex {
            key: key("l#x", sk),
            target: key("o#_#g#K", "b"),
        };
        let check = Write::Check {
            key: key("o#_#g#K", "b"),
            expect: Expect::Present,
        };
        assert!(distinct(&[check.clone(), index("1")]).is_none());
        let (out, origin) = distinct(&[index("1"), check.clone(), index("1"), index("2")]).unwrap();
        assert_eq!(out, vec![index("1"), check.clone(), index("2")]);
        assert_eq!(origin, vec![0, 1, 3]);
    }

    #[test]
    fn the_same_check_made_twice_is_made_once_and_another_check_is_kept() {
        let key = ItemKey {
            pk: "o#_#g#K".into(),
            sk: "#p".into(),
        };
        let live = Write::Check {
            key: key.clone(),
            expect: Expect::Live,
        };
        let unheld = Write::Check {
            key,
            expect: Expect::Unheld,
        };
        let (out, origin) = distinct(&[live.clone(), live.clone()]).unwrap();
        assert_eq!((out, origin), (vec![live.clone()], vec![0]));
        assert!(distinct(&[live, unheld]).is_none());
    }

    fn service_error(err: TransactWriteItemsError) -> SdkError<TransactWriteItemsError, ()> {
        SdkError::service_error(err, ())
    }

    #[test]
    fn only_dynamodbs_500_is_sent_again_under_its_token() {
        let lock = InternalServerError::builder()
            .message("This action timed out because it too long waiting for a lock.")
            .build();
        assert!(is_internal(&service_error(
            TransactWriteItemsError::InternalServerError(lock)
        )));
        let throttled = aws_sdk_dynamodb::types::error::RequestLimitExceeded::builder().build();
        assert!(!is_internal(&service_error(
            TransactWriteItemsError::RequestLimitExceeded(throttled)
        )));
        assert!(!is_internal(
            &SdkError::<TransactWriteItemsError, ()>::timeout_error("slow")
        ));
    }
}
