//! The DynamoDB adapter. It knows items, keys and conditions; what an object
//! means is the domain's business. Every write is conditional; several items
//! that change together go in one TransactWriteItems. The one exception,
//! bulk.rs, deletes in batches what its caller has made unchangeable.

mod bulk;
pub mod counters;
mod error;
pub mod keys;
pub mod stream;
pub mod table;
mod write;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;

pub use counters::{CounterCondition, CounterWrite};
pub use error::StoreError;
pub use keys::{Collection, Context, ItemKey, ObjectRef};
use write::STAMP_TOKEN;
pub use write::{Expect, ObjectItemFields, Write, HOLDS};

type Item = HashMap<String, AttributeValue>;

/// An object item as read back: its JSON document, its version counter,
/// and the item's other attributes (a counter item's, see [`counters`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub key: ItemKey,
    pub object: serde_json::Value,
    pub version: u64,
    /// The numbers and strings the item holds beside its document (none
    /// for most objects), by attribute name.
    pub attributes: BTreeMap<String, Attribute>,
}

/// An attribute of an item beside its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    Number(i64),
    Text(String),
}

/// The attributes every object item has, or an index points with: not
/// returned in [`Stored::attributes`].
const ITEM_ATTRIBUTES: [&str; 11] = [
    "pk", "sk", "obj", "rv", "gsi1pk", "gsi1sk", "deleting", "opk", "osk", EXPIRES, WRITER,
];

/// The table's TTL attribute (infra/template.yaml): seconds since the
/// epoch after which an item is gone ([`ObjectItemFields::expires_at`]).
pub(crate) const EXPIRES: &str = "ttl";

/// Who wrote an object item's version, or deleted an object
/// ([`ObjectItemFields::writer`], [`Write::NoteDeletion`]).
pub(crate) const WRITER: &str = "by";

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether an item's time is up. DynamoDB deletes expired items within
/// days, not at once (and DynamoDB Local never does), so every read
/// leaves them out itself.
fn expired(item: &Item) -> bool {
    match item.get(EXPIRES) {
        Some(AttributeValue::N(at)) => at.parse::<i64>().is_ok_and(|at| at <= now_seconds()),
        _ => false,
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
        self.read_item(key)
            .await?
            .map(|item| stored(key.clone(), &item))
            .transpose()
    }

    /// The item at `key`, strongly consistent; None when there is none or
    /// its time is up.
    async fn read_item(&self, key: &ItemKey) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item.filter(|item| !expired(item)))
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
                    if expired(&item) {
                        continue;
                    }
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

    /// The string attributes of a plain item ([`Write::PutItem`]), its key
    /// left out (None when there is no item). Strongly consistent.
    pub async fn plain_item(
        &self,
        key: &ItemKey,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, StoreError> {
        Ok(self.read_item(key).await?.map(|item| {
            item.into_iter()
                .filter(|(name, _)| name != "pk" && name != "sk")
                .filter_map(|(name, value)| match value {
                    AttributeValue::S(text) => Some((name, text)),
                    _ => None,
                })
                .collect()
        }))
    }

    /// Who deleted the object `uid`, as [`Write::NoteDeletion`] noted it
    /// (None when no one did, or the note expired).
    pub async fn deleted_by(&self, uid: &str) -> Result<Option<String>, StoreError> {
        let note = self.read_item(&keys::deletion_note_key(uid)).await?;
        Ok(note.and_then(|item| text(&item, WRITER).ok()))
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
            .filter(|item| !expired(item))
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
        let mut items = out.items.unwrap_or_default();
        items.retain(|item| !expired(item));
        Ok((items, next))
    }
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
    let object: serde_json::Value = serde_json::from_str(&text(item, "obj")?)
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", key.pk, key.sk)))?;
    let version = match item.get("rv") {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| StoreError::Corrupt("rv".into()))?,
        _ => return Err(StoreError::Corrupt("rv missing".into())),
    };
    let attributes = item
        .iter()
        .filter(|(name, _)| !ITEM_ATTRIBUTES.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            let value = match value {
                AttributeValue::N(n) => Attribute::Number(n.parse().ok()?),
                AttributeValue::S(text) => Attribute::Text(text.clone()),
                _ => return None,
            };
            Some((name.clone(), value))
        })
        .collect();
    Ok(Stored {
        key,
        object,
        version,
        attributes,
    })
}

pub(crate) fn backend<E, R>(err: SdkError<E, R>) -> StoreError
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
