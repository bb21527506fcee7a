//! The DynamoDB adapter. It knows items, keys and conditions; what an object
//! means is the domain's business. Every write is conditional; several items
//! that change together go in one TransactWriteItems.

pub mod bucket;
mod error;
pub mod keys;
pub mod table;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

pub use bucket::{BucketCheck, BucketWrite};
pub use error::StoreError;
pub use keys::{Collection, Context, ItemKey, ObjectRef};

type Item = HashMap<String, AttributeValue>;

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

/// An object item as read back: its JSON document and its version counter.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub key: ItemKey,
    pub object: serde_json::Value,
    pub version: u64,
}

/// What must hold of an item for a write to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

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
    /// A quota bucket's counters, added to under a condition on their
    /// values (see [`bucket`]).
    Bucket(BucketWrite),
}

/// The attribute of a stamp item that changes on every write.
const STAMP_TOKEN: &str = "token";

impl Write {
    /// The write that moves a stamp to a fresh token (see [`Store::stamp`]).
    pub fn stamp(key: ItemKey) -> Write {
        Write::PutItem {
            key,
            attributes: vec![(STAMP_TOKEN.into(), uuid::Uuid::new_v4().to_string())],
        }
    }

    /// What the write requires of its item.
    fn expect(&self) -> Expect {
        match self {
            Write::PutObject { expect, .. }
            | Write::Delete { expect, .. }
            | Write::Check { expect, .. } => *expect,
            Write::MarkDeleting { version, .. } => Expect::Version(*version),
            // A failed bucket condition: NotFound if it was missing, else Conflict.
            Write::Bucket(_) => Expect::Present,
            Write::PutIndex { .. } | Write::PutItem { .. } => Expect::Anything,
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

/// One page of a Query: the items and where to start the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<ItemKey>,
}

/// A page of the type index: its objects, and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct TypePage {
    pub items: Vec<Stored>,
    pub next: Option<TypeCursor>,
}

/// Where a type-index page ends: the last object's key and its index sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCursor {
    pub key: ItemKey,
    pub type_sk: String,
}

/// An index item: its own key and the object item it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub key: ItemKey,
    pub target: ItemKey,
}

/// Largest object document stored, leaving room for the item's keys and
/// attributes under DynamoDB's 400 KB item limit.
pub const MAX_OBJECT_BYTES: usize = 400 * 1024 - 4 * 1024;

/// The most items one TransactWriteItems may hold (DynamoDB's limit).
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// How often a transaction cancelled only by concurrent transactions is tried.
const CONFLICT_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A DynamoDB client from the environment; `DYNAMODB_ENDPOINT` points it
    /// at DynamoDB Local.
    pub async fn client_from_env() -> Client {
        let config = aws_config::load_from_env().await;
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&config);
        if let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") {
            builder = builder.endpoint_url(endpoint);
        }
        Client::from_conf(builder.build())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Strongly consistent read of one object item.
    pub async fn get(&self, key: &ItemKey) -> Result<Option<Stored>, StoreError> {
        if !key.fits() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&key.pk))
            .key("sk", s(&key.sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(|item| stored(key.clone(), &item)).transpose()
    }

    /// Reads several object items (strongly consistent), in the order asked;
    /// keys whose item is gone are skipped.
    pub async fn batch_get(&self, keys: &[ItemKey]) -> Result<Vec<Stored>, StoreError> {
        let mut found: HashMap<ItemKey, Stored> = HashMap::new();
        let storable: Vec<&ItemKey> = keys.iter().filter(|k| k.fits()).collect();
        for chunk in storable.chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().copied().map(key_item).collect();
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(backend)?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let key = item_key(&item)?;
                    found.insert(key.clone(), stored(key, &item)?);
                }
                if let Some(mut unprocessed) = out.unprocessed_keys {
                    if let Some(rest) = unprocessed.remove(&self.table) {
                        pending = rest.keys;
                    }
                }
            }
        }
        Ok(keys.iter().filter_map(|k| found.remove(k)).collect())
    }

    /// The token of a stamp item (None when it was never written).
    pub async fn stamp(&self, key: &ItemKey) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .projection_expression("#t")
            .expression_attribute_names("#t", STAMP_TOKEN)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item.and_then(|item| text(&item, STAMP_TOKEN).ok()))
    }

    /// How many objects of a kind exist, in every context (through the type
    /// index; eventually consistent, as every GSI read).
    pub async fn count_of_type(&self, group: &str, kind: &str) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start = None;
        loop {
            let out = self
                .type_index_query(&keys::type_index_pk(group, kind))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            count += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }

    /// One page of a type's objects in every context, through the type index
    /// (eventually consistent, as every GSI read), in context, namespace,
    /// name order. `start` is the `next` of the page before.
    pub async fn query_type(
        &self,
        group: &str,
        kind: &str,
        limit: i32,
        start: Option<TypeCursor>,
    ) -> Result<TypePage, StoreError> {
        let type_pk = keys::type_index_pk(group, kind);
        let start = start.map(|c| {
            let mut item = key_item(&c.key);
            item.insert("gsi1pk".into(), s(&type_pk));
            item.insert("gsi1sk".into(), s(&c.type_sk));
            item
        });
        let out = self
            .type_index_query(&type_pk)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(backend)?;
        let items = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| stored(item_key(item)?, item))
            .collect::<Result<_, _>>()?;
        let next = match out.last_evaluated_key {
            Some(last) if !last.is_empty() => Some(TypeCursor {
                key: item_key(&last)?,
                type_sk: text(&last, "gsi1sk")?,
            }),
            _ => None,
        };
        Ok(TypePage { items, next })
    }

    /// A query of the type index's partition `type_pk`.
    fn type_index_query(&self, type_pk: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(type_pk))
    }

    /// One page of object items of a partition, in sort-key order.
    pub async fn query_objects(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: Option<i32>,
        start: Option<ItemKey>,
    ) -> Result<Page<Stored>, StoreError> {
        let read = |item: &Item| stored(item_key(item)?, item);
        self.query_page(pk, sk_prefix, limit, start, read).await
    }

    /// One page of index items of a partition, in sort-key order.
    pub async fn query_index(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: Option<i32>,
        start: Option<ItemKey>,
    ) -> Result<Page<IndexEntry>, StoreError> {
        let read = |item: &Item| {
            Ok(IndexEntry {
                key: item_key(item)?,
                target: ItemKey {
                    pk: text(item, "opk")?,
                    sk: text(item, "osk")?,
                },
            })
        };
        self.query_page(pk, sk_prefix, limit, start, read).await
    }

    /// One page of the keys of a partition's items, in sort-key order
    /// (for items that are keys only, such as relationships).
    pub async fn query_keys(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: Option<i32>,
        start: Option<ItemKey>,
    ) -> Result<Page<ItemKey>, StoreError> {
        self.query_page(pk, sk_prefix, limit, start, item_key).await
    }

    /// One page of a partition's items, each read by `read`.
    async fn query_page<T>(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: Option<i32>,
        start: Option<ItemKey>,
        read: impl Fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let (items, next) = self.query(pk, sk_prefix, limit, start).await?;
        let items = items.iter().map(read).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: Option<i32>,
        start: Option<ItemKey>,
    ) -> Result<(Vec<Item>, Option<ItemKey>), StoreError> {
        if !keys::query_fits(pk, sk_prefix) {
            return Ok((Vec::new(), None));
        }
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_values(":pk", s(pk))
            .set_limit(limit)
            .set_exclusive_start_key(start.as_ref().map(key_item));
        req = if sk_prefix.is_empty() {
            req.key_condition_expression("pk = :pk")
        } else {
            req.key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(sk_prefix))
        };
        let out = req.send().await.map_err(backend)?;
        let next = out.last_evaluated_key.as_ref().map(item_key).transpose()?;
        Ok((out.items.unwrap_or_default(), next))
    }

    /// Applies `writes` all-or-nothing: one conditional call for a single
    /// write, one TransactWriteItems for several. Writes on one item go as
    /// one ([`bucket::merged`]); a refused write is named by its position
    /// in `writes`.
    pub async fn write(&self, writes: impl AsRef<[Write]>) -> Result<(), StoreError> {
        let writes = writes.as_ref();
        match bucket::merged(writes) {
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

    async fn write_one(&self, write: &Write) -> Result<(), StoreError> {
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
        loop {
            attempt += 1;
            // One token per attempt: the SDK's own retries of an attempt reuse
            // it, so a retried request that already committed is not applied twice.
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(uuid::Uuid::new_v4().to_string())
                .send()
                .await;
            match result.map_err(|e| transaction_error(writes, e)) {
                Err(StoreError::TransactionConflict) if attempt < CONFLICT_ATTEMPTS => {
                    let backoff = 10 * u64::from(attempt) + jitter_millis();
                    tokio::time::sleep(std::time::Duration::from_millis(backoff)).await;
                }
                other => return other.map(drop),
            }
        }
    }
}

fn jitter_millis() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 16)
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn key_item(key: &ItemKey) -> Item {
    HashMap::from([
        ("pk".to_string(), s(&key.pk)),
        ("sk".to_string(), s(&key.sk)),
    ])
}

fn text(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt(format!(
            "attribute {name} missing or not a string"
        ))),
    }
}

fn item_key(item: &Item) -> Result<ItemKey, StoreError> {
    Ok(ItemKey {
        pk: text(item, "pk")?,
        sk: text(item, "sk")?,
    })
}

fn stored(key: ItemKey, item: &Item) -> Result<Stored, StoreError> {
    let mut object: serde_json::Value = serde_json::from_str(&text(item, "obj")?)
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", key.pk, key.sk)))?;
    let version = match item.get("rv") {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| StoreError::Corrupt("rv".into()))?,
        _ => return Err(StoreError::Corrupt("rv missing".into())),
    };
    bucket::fold_counters(item, &mut object, version);
    Ok(Stored {
        key,
        object,
        version,
    })
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

fn operation(table: &str, write: &Write) -> Result<TransactWriteItem, StoreError> {
    let op = TransactWriteItem::builder();
    let op = match write {
        Write::PutObject {
            key,
            object,
            version,
            expect,
        } => {
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
            let put = Put::builder().set_item(Some(item));
            op.put(
                conditional!(put, table, condition(*expect))
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
        Write::Bucket(write) => {
            let e = bucket::expressions(write);
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

fn backend<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(code) = err.code() {
        if is_throttling(code) {
            return StoreError::Throttled;
        }
        if code == "ValidationException" && err.message().is_some_and(|m| m.contains("size")) {
            return StoreError::TooLarge(err.message().unwrap_or_default().to_string());
        }
    }
    StoreError::Backend(describe(&err))
}

fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(err)),
    }
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException" | "RequestLimitExceeded" | "ThrottlingException"
    )
}

/// The error of a single-item request (put, delete, update) whose
/// condition may fail.
trait ConditionalError {
    /// For a failed condition, whether the item was there.
    fn condition_failed(&self) -> Option<bool>;
}

macro_rules! conditional_error {
    ($($error:ident),*) => {$(
        impl ConditionalError for $error {
            fn condition_failed(&self) -> Option<bool> {
                match self {
                    $error::ConditionalCheckFailedException(c) => Some(c.item.is_some()),
                    _ => None,
                }
            }
        }
    )*};
}

conditional_error!(PutItemError, DeleteItemError, UpdateItemError);

/// Maps the error of a single-item write.
fn single_error<E, R>(write: &Write, err: SdkError<E, R>) -> StoreError
where
    E: ConditionalError + ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = &err {
        if let Some(item_exists) = service.err().condition_failed() {
            return write.failure(0, item_exists);
        }
        if service.err().code() == Some("TransactionConflictException") {
            return StoreError::TransactionConflict;
        }
    }
    backend(err)
}

fn transaction_error<R: std::fmt::Debug>(
    writes: &[Write],
    err: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> StoreError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    if let SdkError::ServiceError(service) = &err {
        match service.err() {
            E::TransactionCanceledException(cancelled) => {
                let reasons = cancelled.cancellation_reasons();
                let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
                if let Some(index) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
                    let item_exists = reasons[index].item().is_some();
                    return match writes.get(index) {
                        Some(write) => write.failure(index, item_exists),
                        None => StoreError::Backend(format!(
                            "condition of unknown write {index} failed"
                        )),
                    };
                }
                if codes.contains(&"TransactionConflict") {
                    return StoreError::TransactionConflict;
                }
                if codes.iter().any(|c| c.contains("Throttl")) {
                    return StoreError::Throttled;
                }
                return StoreError::Backend(format!("transaction cancelled: {codes:?}"));
            }
            E::TransactionInProgressException(_) => {
                return StoreError::TransactionConflict;
            }
            _ => {}
        }
    }
    backend(err)
}
