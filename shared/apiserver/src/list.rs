//! List: one Query on the collection, or on a label's index items when the
//! selector (or the organization's context) names a label, paged by a signed
//! continue token.

use domain::field_selector::FieldSelector;
use domain::kinds::{KindInfo, Scope, ORGANIZATION_LABEL};
use domain::label_selector::{LabelSelector, Operator};
use domain::object::field_value;
use domain::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{Collection, Context, ItemKey, Stored};

use crate::authorization::Access;
use crate::codec::{self, Response};
use crate::errors::from_store;
use crate::placement::{is_hierarchy, object_ref, visible};
use crate::present::{at_version, present_all};
use crate::{ApiServer, Call};

/// How a list reads: the whole collection, or the index items of one label
/// key for each of some values (`None`: every value).
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    Collection,
    Label {
        key: String,
        values: Vec<Option<String>>,
    },
    /// `metadata.name=x`: one object (how `kubectl wait` and `get` by name list).
    Name(String),
}

/// Where the next page starts; signed into the continue token.
#[derive(Debug, Serialize, Deserialize)]
struct Position {
    /// Which selectors the token belongs to, so it is not reused elsewhere.
    list: String,
    /// Index into the plan's label values.
    step: usize,
    pk: String,
    sk: String,
}

/// Whether a kind's labels have index items (its strategy's say); a kind
/// without them is listed from its partition, filtered.
pub fn labels_indexed(kind: &KindInfo) -> bool {
    crate::strategy::for_kind(kind).labels_indexed()
}

fn plan(
    context: &Context,
    kind: &KindInfo,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Plan {
    let by_name = fields.requirements.iter().find(|r| {
        r.field == "metadata.name" && r.operator == domain::field_selector::FieldOperator::Equals
    });
    if let Some(r) = by_name {
        return Plan::Name(r.value.clone());
    }
    if let (Context::Organization(org), true) = (context, is_hierarchy(kind)) {
        return Plan::Label {
            key: ORGANIZATION_LABEL.into(),
            values: vec![Some(org.clone())],
        };
    }
    if !labels_indexed(kind) {
        return Plan::Collection;
    }
    labels
        .requirements
        .iter()
        .find_map(|r| match r.operator {
            Operator::Equals => Some(Plan::Label {
                key: r.key.clone(),
                values: vec![Some(r.values[0].clone())],
            }),
            Operator::In => Some(Plan::Label {
                key: r.key.clone(),
                values: r.values.iter().cloned().map(Some).collect(),
            }),
            Operator::Exists => Some(Plan::Label {
                key: r.key.clone(),
                values: vec![None],
            }),
            _ => None,
        })
        .unwrap_or(Plan::Collection)
}

/// [`plan`] for a list in `namespace` (None: across namespaces).
fn plan_in(
    context: &Context,
    kind: &KindInfo,
    namespace: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Plan {
    match plan(context, kind, labels, fields) {
        // A name alone does not address an object across namespaces.
        Plan::Name(_) if kind.scope == Scope::Namespaced && namespace.is_none() => Plan::Collection,
        plan => plan,
    }
}

pub async fn list(
    server: &ApiServer,
    context: &Context,
    kind: &KindInfo,
    namespace: Option<&str>,
    call: &Call<'_>,
    access: &Access,
) -> Result<Response, ApiError> {
    // The context's own collection, not the one hierarchy objects are stored
    // in: an organization's view of folders is another list than the
    // platform's, and a position in one is no key of the other's Query.
    let requested = Collection {
        context: context.clone(),
        group: kind.group.clone(),
        kind: kind.kind.clone(),
    };
    let list_id = format!(
        "{}|{}|{}|{}|{}",
        requested.pk(),
        kind.plural,
        namespace.unwrap_or_default(),
        call.query.label_selector,
        call.query.field_selector
    );
    let start = start_of(server, call, &list_id)?;
    // Before the Query: a change committed after this position may be in
    // the list too, and a watch from it shows it again, which informers
    // take as the replace it is; none is missed.
    let position = server.watch_position().await;
    let collection = (context, kind, namespace);
    let (objects, next) =
        read_selected(server, collection, call, access, call.query.limit, start).await?;
    let objects: Vec<Value> = objects
        .into_iter()
        .map(|doc| at_version(doc, kind))
        .collect();
    let objects = present_all(server, kind, objects, call).await?;
    let resource_version = position.map(domain::watch::position_resource_version);
    let mut list_meta = json!({ "resourceVersion": resource_version.unwrap_or_default() });
    if let Some((step, key)) = next {
        list_meta["continue"] = json!(server.tokens.sign(&Position {
            list: list_id,
            step,
            pk: key.pk,
            sk: key.sk
        }));
    }
    if codec::wants_table(call.header("accept")) {
        return Ok(Response::json(
            200,
            &domain::table::table(kind, &objects, call.request.time, list_meta),
        ));
    }
    Ok(Response::json(
        200,
        &json!({ "apiVersion": kind.api_version(), "kind": kind.list_kind, "metadata": list_meta, "items": objects }),
    ))
}

/// Where a page of [`selected`] ends.
pub(crate) struct Cursor(Position);

/// A page of the objects of a kind a list path's selectors match, as
/// stored (the objects a deletecollection deletes), in the collection's
/// order: up to `limit` of them from `after`, and where the next page
/// starts (None at the end).
pub(crate) async fn selected(
    server: &ApiServer,
    (context, kind, namespace): (&Context, &KindInfo, Option<&str>),
    call: &Call<'_>,
    access: &Access,
    limit: i32,
    after: Option<Cursor>,
) -> Result<(Vec<Value>, Option<Cursor>), ApiError> {
    let start = after.map(|Cursor(position)| position);
    let collection = (context, kind, namespace);
    let (objects, next) =
        read_selected(server, collection, call, access, Some(limit), start).await?;
    let next = next.map(|(step, key)| {
        Cursor(Position {
            list: String::new(),
            step,
            pk: key.pk,
            sk: key.sk,
        })
    });
    Ok((objects, next))
}

/// Up to `limit` of what a list path's selectors match, from `start` on,
/// and where the next page starts.
async fn read_selected(
    server: &ApiServer,
    (context, kind, namespace): (&Context, &KindInfo, Option<&str>),
    call: &Call<'_>,
    access: &Access,
    limit: Option<i32>,
    start: Option<Position>,
) -> Result<(Vec<Value>, Next), ApiError> {
    let (labels, fields) = selectors(kind, call)?;
    let selection = Selection {
        context,
        kind,
        namespace,
        access,
        labels: &labels,
        fields: &fields,
    };
    let plan = plan_in(context, kind, namespace, &labels, &fields);
    selection.read(server, &plan, limit, start).await
}

/// What a list selects: a kind's objects in a context and namespace that
/// the caller may see and the selectors match.
struct Selection<'a> {
    context: &'a Context,
    kind: &'a KindInfo,
    namespace: Option<&'a str>,
    access: &'a Access,
    labels: &'a LabelSelector,
    fields: &'a FieldSelector,
}

/// The same test, owned: what a watch of a list path shows of each change
/// (watch/), for as long as it runs.
pub(crate) struct Matcher {
    context: Context,
    kind: KindInfo,
    namespace: Option<String>,
    access: Access,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Matcher {
    /// The test of the list path `call` is on; a selector that does not
    /// parse, or names a field the kind cannot select on, is a 400.
    pub fn new(
        (context, kind, namespace): (&Context, &KindInfo, Option<&str>),
        call: &Call<'_>,
        access: &Access,
    ) -> Result<Matcher, ApiError> {
        let (labels, fields) = selectors(kind, call)?;
        Ok(Matcher {
            context: context.clone(),
            kind: kind.clone(),
            namespace: namespace.map(str::to_string),
            access: access.clone(),
            labels,
            fields,
        })
    }

    pub fn matches(&self, doc: &Value) -> bool {
        Selection {
            context: &self.context,
            kind: &self.kind,
            namespace: self.namespace.as_deref(),
            access: &self.access,
            labels: &self.labels,
            fields: &self.fields,
        }
        .matches(doc)
    }

    /// The one object the selectors name (`metadata.name=x`), if they do.
    pub fn named(&self) -> Option<&str> {
        match plan_in(
            &self.context,
            &self.kind,
            self.namespace.as_deref(),
            &self.labels,
            &self.fields,
        ) {
            Plan::Name(_) => self
                .fields
                .requirements
                .iter()
                .find_map(|r| (r.field == "metadata.name").then_some(r.value.as_str())),
            _ => None,
        }
    }
}

impl Selection<'_> {
    fn matches(&self, doc: &Value) -> bool {
        visible(self.context, self.kind, doc)
            && match self.access {
                Access::Whole => true,
                Access::Only(visible) => visible.shows(doc),
            }
            && self
                .namespace
                .is_none_or(|ns| doc["metadata"]["namespace"].as_str().unwrap_or_default() == ns)
            && self.labels.matches(&labels_of(doc))
            && self.fields.matches(|f| field_value(doc, f))
    }

    /// Up to `limit` matches from `start` on, and where the next page starts.
    async fn read(
        &self,
        server: &ApiServer,
        plan: &Plan,
        limit: Option<i32>,
        start: Option<Position>,
    ) -> Result<(Vec<Value>, Next), ApiError> {
        let reader = Reader {
            server,
            collection: object_ref(self.context, self.kind, "", "").collection(),
            namespace: self.namespace.map(str::to_string),
            limit,
            strategy: crate::strategy::for_kind(self.kind),
        };
        reader.read(plan, start, &|doc| self.matches(doc)).await
    }
}

/// The request's label and field selectors, parsed; a field the kind
/// cannot select on is refused.
fn selectors(kind: &KindInfo, call: &Call<'_>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(&call.query.label_selector)
        .map_err(|e| ApiError::bad_request(format!("unable to parse labelSelector: {e}")))?;
    let fields = FieldSelector::parse(&call.query.field_selector)
        .map_err(|e| ApiError::bad_request(format!("unable to parse fieldSelector: {e}")))?;
    if let Some(field) = fields.fields().find(|f| !kind.is_selectable(f)) {
        return Err(ApiError::bad_request(format!(
            "field label not supported: {field} (selectable on {}: metadata.name, metadata.namespace{})",
            kind.plural,
            kind.selectable_fields.iter().map(|f| format!(", {f}")).collect::<String>()
        )));
    }
    Ok((labels, fields))
}

/// Where a list resumes: its continue token's position, which must be of
/// this same list.
fn start_of(
    server: &ApiServer,
    call: &Call<'_>,
    list_id: &str,
) -> Result<Option<Position>, ApiError> {
    let Some(token) = &call.query.continue_token else {
        return Ok(None);
    };
    let position: Position = server
        .tokens
        .verify(token)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if position.list != list_id {
        return Err(ApiError::bad_request(
            "the continue token was issued for a different list; start the list again without it",
        ));
    }
    Ok(Some(position))
}

fn labels_of(doc: &Value) -> std::collections::BTreeMap<String, String> {
    crate::label_index::of_document(doc).into_iter().collect()
}

struct Reader<'a> {
    server: &'a ApiServer,
    collection: Collection,
    /// A namespaced list's namespace (None: all namespaces).
    namespace: Option<String>,
    limit: Option<i32>,
    /// The kind's strategy: an object as reads serve it.
    strategy: &'static dyn crate::strategy::Strategy,
}

type Next = Option<(usize, ItemKey)>;

impl Reader<'_> {
    /// Reads pages until `limit` matches are found or the plan is exhausted.
    async fn read(
        &self,
        plan: &Plan,
        start: Option<Position>,
        matches: &(dyn Fn(&Value) -> bool + Sync),
    ) -> Result<(Vec<Value>, Next), ApiError> {
        let (mut step, mut from) = match start {
            Some(p) => (
                p.step,
                Some(ItemKey { pk: p.pk, sk: p.sk }).filter(|k| !k.pk.is_empty()),
            ),
            None => (0, None),
        };
        let mut found = Vec::new();
        loop {
            let want = self.limit.map(|l| l - found.len() as i32);
            let Some((page, next)) = self.page(plan, step, want, from.clone()).await? else {
                return Ok((found, None));
            };
            found.extend(
                page.into_iter()
                    .map(|mut s| {
                        self.strategy.present_stored(&mut s);
                        s.object
                    })
                    .filter(|doc| matches(doc)),
            );
            let more_steps = matches!(plan, Plan::Label { values, .. } if step + 1 < values.len());
            from = next;
            if from.is_none() {
                if !more_steps {
                    return Ok((found, None));
                }
                step += 1;
            }
            if self.limit.is_some_and(|l| found.len() >= l as usize) {
                let resume = from.clone().unwrap_or(ItemKey {
                    pk: String::new(),
                    sk: String::new(),
                });
                return Ok((
                    found,
                    Some((step, resume)).filter(|(_, k)| !k.pk.is_empty() || more_steps),
                ));
            }
        }
    }
}

impl Reader<'_> {
    /// One page of the plan's `step` from `from`; `None` when the plan
    /// has no such step.
    async fn page(
        &self,
        plan: &Plan,
        step: usize,
        want: Option<i32>,
        from: Option<ItemKey>,
    ) -> Result<Option<(Vec<Stored>, Option<ItemKey>)>, ApiError> {
        let store = &self.server.store;
        Ok(Some(match plan {
            Plan::Name(name) => {
                let key = store::ObjectRef {
                    name: name.clone(),
                    namespace: self.namespace.clone().unwrap_or_default(),
                    ..object_ref_in(&self.collection)
                }
                .key();
                let found = store.get(&key).await.map_err(from_store)?;
                (found.into_iter().collect(), None)
            }
            Plan::Collection => {
                let prefix = self
                    .namespace
                    .as_deref()
                    .map(Collection::namespace_prefix)
                    .unwrap_or_default();
                let page = store
                    .query_objects(&self.collection.pk(), &prefix, want, from)
                    .await
                    .map_err(from_store)?;
                (page.items, page.next)
            }
            Plan::Label { key, values } => {
                let Some(value) = values.get(step) else {
                    return Ok(None);
                };
                let prefix = value
                    .as_deref()
                    .map(Collection::label_value_prefix)
                    .unwrap_or_default();
                let page = store
                    .query_index(&self.collection.label_pk(key), &prefix, want, from)
                    .await
                    .map_err(from_store)?;
                let targets: Vec<ItemKey> = page.items.into_iter().map(|e| e.target).collect();
                let objects = store.batch_get(&targets).await.map_err(from_store)?;
                (objects, page.next)
            }
        }))
    }
}

fn object_ref_in(collection: &Collection) -> store::ObjectRef {
    store::ObjectRef {
        context: collection.context.clone(),
        group: collection.group.clone(),
        kind: collection.kind.clone(),
        namespace: String::new(),
        name: String::new(),
    }
}
