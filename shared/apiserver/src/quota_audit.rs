//! The quota function's work (#5), run on a schedule: recompute every
//! bucket from the grants and claims that exist, compare with the stored
//! counters, repair and report any drift. Every decision is made in the
//! write's own transaction, so a drift is a bug: logged loudly and counted
//! (EMF `BucketDrift`), with every bucket's level as metrics too.
//!
//! Reads are Queries of the grants, claims and buckets of every context
//! through the type index (and, when that shows drift, of each context's
//! collection: the platform's, each organization's and project's), and the
//! ancestor chain of each claimed node; never a table scan.

use std::collections::{BTreeMap, HashMap};

use domain::hierarchy::{self, ParentRef};
use domain::kinds;
use domain::quota::{self as q, BucketKey, BucketLevel, Node};
use domain::ApiError;
use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::Value;
use store::{Context, ItemKey, Store, Stored, Write};

use crate::authorization::ServicePrincipal;
use crate::errors::from_store;
use crate::hooks::quota::bucket_items::{fold, BucketCheck, BucketWrite};
use crate::hooks::quota::{bucket_document, bucket_ref, consumer_path, emit, node_ref};
use crate::stamped::{context_items, parsed, platform_documents, type_documents, type_items};

/// What one audit found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub buckets: usize,
    pub grants: usize,
    pub claims: usize,
    /// Each drift found, as text (bucket, stored, computed).
    pub drifts: Vec<String>,
    /// How many drifted buckets were set to their computed counts.
    pub repaired: usize,
    /// Whether the type index showed drift, so that every context was read
    /// again to confirm it.
    pub read_every_context: bool,
}

/// [`audit`] as the quota function's principal: refused, with nothing read
/// or repaired, unless it may read grants, claims and buckets and (to
/// repair) update buckets.
pub async fn audit_as(
    principal: &ServicePrincipal,
    store: &Store,
    repair: bool,
) -> Result<AuditReport, ApiError> {
    let needs = [
        (&q::RESOURCE_GRANT, "list"),
        (&q::RESOURCE_CLAIM, "list"),
        (&q::ALLOWANCE_BUCKET, "list"),
    ];
    let repairs = [(&q::ALLOWANCE_BUCKET, "update")];
    let repairs = if repair { &repairs[..] } else { &[] };
    for (kind, verb) in needs.iter().chain(repairs) {
        principal
            .require(kind.group, kind.plural, kind.kind, verb)
            .await?;
    }
    audit(store, repair).await
}

/// Recomputes every bucket; with `repair`, writes the computed usage into
/// drifted buckets (conditional on the counters still being as read, so a
/// claim landing meanwhile is not overwritten; the next run sees it).
///
/// The grants and claims of every context are read through the type index
/// first: a few paged Queries however many organizations and projects
/// there are. It is eventually consistent, so a write it has not caught up
/// with would look like drift; when it shows any, everything is read again
/// from each context's own collection, strongly consistent, and only what
/// that reading shows is drift.
pub async fn audit(store: &Store, repair: bool) -> Result<AuditReport, ApiError> {
    let mut reading = survey(store, Source::TypeIndex).await?;
    let read_every_context = !reading.drifts.is_empty();
    if read_every_context {
        tracing::info!(
            drifts = reading.drifts.len(),
            "the type index shows drift; reading every context to confirm"
        );
        reading = survey(store, Source::EveryContext).await?;
    }
    let Survey {
        grants,
        claims,
        stored,
        drifts,
    } = reading;
    let now = chrono::Utc::now();
    let millis = now.timestamp_millis();
    for (key, level) in &stored {
        emit(&q::bucket_level_metrics(key, level, millis));
    }
    emit(&q::drift_metric(drifts.len(), millis));
    let mut report = AuditReport {
        buckets: stored.len(),
        grants,
        claims,
        drifts: drifts.iter().map(ToString::to_string).collect(),
        repaired: 0,
        read_every_context,
    };
    for drift in &drifts {
        tracing::error!(drift = %drift, "QUOTA DRIFT: a bucket's counters differ from its grants and claims");
    }
    if !repair {
        return Ok(report);
    }
    for drift in &drifts {
        let Some(org) = organization_of(store, &drift.key.consumer).await? else {
            continue;
        };
        let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let have = drift.stored.unwrap_or_default();
        let want = drift.computed;
        let write = Write::Counters(
            BucketWrite {
                key: bucket_ref(&org, &drift.key).key(),
                document: bucket_document(&drift.key, &org, &now_text),
                limit_delta: want.limit - have.limit,
                allocated_delta: want.allocated - have.allocated,
                claim_count_delta: want.claim_count - have.claim_count,
                grant_count_delta: want.grant_count - have.grant_count,
                check: BucketCheck::Unchanged(drift.stored.map(|l| (l.allocated, l.claim_count))),
                expect_parent: None,
                set_parent: None,
                contributions: Vec::new(),
            }
            .counters(),
        );
        match store.write(vec![write]).await {
            Ok(()) => report.repaired += 1,
            Err(e) => {
                tracing::warn!(error = %e, bucket = %drift.key.name(), "drift not repaired; it moved meanwhile")
            }
        }
    }
    Ok(report)
}

/// Where an audit reads the grants and claims of every context.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// The type index (gsi1): one paged Query per kind, eventually
    /// consistent.
    TypeIndex,
    /// Each context's own collection: a strongly consistent Query per
    /// context ([`CONTEXTS_AT_ONCE`] at a time).
    EveryContext,
}

/// One reading of the grants, claims and buckets, and the drift it shows.
pub struct Survey {
    pub grants: usize,
    pub claims: usize,
    pub stored: BTreeMap<BucketKey, BucketLevel>,
    pub drifts: Vec<q::Drift>,
}

/// Reads the grants and claims from `source` and the buckets, and compares
/// the buckets with what the grants and claims imply.
pub async fn survey(store: &Store, source: Source) -> Result<Survey, ApiError> {
    // Buckets are read as grants and claims are: a project's are in its
    // control plane (`BucketKey::namespace`).
    let (grants, claims, buckets) = match source {
        Source::TypeIndex => (
            type_documents(store, &q::RESOURCE_GRANT).await?,
            type_documents(store, &q::RESOURCE_CLAIM).await?,
            bucket_documents(type_items(store, &q::ALLOWANCE_BUCKET).await?),
        ),
        Source::EveryContext => {
            let contexts = every_context(store).await?;
            (
                documents_in(store, &contexts, &q::RESOURCE_GRANT).await?,
                documents_in(store, &contexts, &q::RESOURCE_CLAIM).await?,
                bucket_documents(items_in(store, &contexts, &q::ALLOWANCE_BUCKET).await?),
            )
        }
    };
    let grants = parsed(grants, q::parse_grant);
    let claims = parsed(claims, q::parse_claim);
    let stored: BTreeMap<BucketKey, BucketLevel> =
        parsed(buckets, q::parse_bucket).into_iter().collect();
    let paths = counting_paths(store, &claims).await?;
    let counted: Vec<q::CountedClaim> = claims
        .iter()
        .zip(&paths)
        .filter_map(|(claim, path)| {
            Some(q::CountedClaim {
                claim,
                path: path.as_ref()?,
            })
        })
        .collect();
    let computed = q::recompute(&grants, &counted);
    let drifts = q::drift(&stored, &computed);
    Ok(Survey {
        grants: grants.len(),
        claims: claims.len(),
        stored,
        drifts,
    })
}

/// The platform's context and each organization's and project's control
/// plane: users may write grants and claims in any of them, and those move
/// limits and usage as any.
async fn every_context(store: &Store) -> Result<Vec<Context>, ApiError> {
    let mut contexts = vec![Context::Platform];
    for (kind, context) in [
        (
            kinds::ORGANIZATION,
            Context::Organization as fn(String) -> Context,
        ),
        (kinds::PROJECT, Context::Project),
    ] {
        for doc in platform_documents(store, &kind).await? {
            if let Some(name) = doc["metadata"]["name"].as_str() {
                contexts.push(context(name.to_string()));
            }
        }
    }
    Ok(contexts)
}

/// How many contexts' Queries are in flight at once: a Query of an empty
/// partition is a round trip, and most contexts hold no quota objects.
const CONTEXTS_AT_ONCE: usize = 16;

/// The objects of `kind` in every one of `contexts`: one Query each,
/// strongly consistent, [`CONTEXTS_AT_ONCE`] at a time. What confirms a
/// drift the type index shows: a repair from a lagging index would take a
/// limit or usage away.
async fn documents_in(
    store: &Store,
    contexts: &[Context],
    kind: &kinds::KindId,
) -> Result<Vec<Value>, ApiError> {
    let items = items_in(store, contexts, kind).await?;
    Ok(items.into_iter().map(|s| s.object).collect())
}

/// [`documents_in`] as stored items.
async fn items_in(
    store: &Store,
    contexts: &[Context],
    kind: &kinds::KindId,
) -> Result<Vec<Stored>, ApiError> {
    let pages: Vec<Vec<Stored>> = stream::iter(contexts)
        .map(|context| context_items(store, context, kind))
        .buffer_unordered(CONTEXTS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(pages.into_iter().flatten().collect())
}

/// Stored buckets as documents, their counters folded into their status.
fn bucket_documents(items: Vec<Stored>) -> Vec<Value> {
    items.iter().map(fold).collect()
}

/// The path each claim counts on, as the write that made it counted it
/// (`ResourceClaim::counted_from`); `None` where the nodes are gone
/// (nothing to count). The claimed folders and projects are read in
/// batches, and each parent's chain and each node's path once, since a
/// tree's claims share them: reads grow with the claims over a hundred and
/// with the distinct nodes, not with claims times depth.
async fn counting_paths(
    store: &Store,
    claims: &[q::ResourceClaim],
) -> Result<Vec<Option<q::QuotaPath>>, ApiError> {
    let starts: Vec<q::CountedFrom> = claims.iter().map(q::ResourceClaim::counted_from).collect();
    let claimed: Vec<ItemKey> = starts
        .iter()
        .filter_map(|start| match start {
            q::CountedFrom::ParentOf(node) => Some(node_ref(node).key()),
            _ => None,
        })
        .collect();
    let mut reader = PathReader {
        store,
        claimed: store
            .batch_get(&claimed)
            .await
            .map_err(from_store)?
            .into_iter()
            .map(|s| (s.key, s.object))
            .collect(),
        chains: HashMap::new(),
        node_paths: HashMap::new(),
    };
    let mut paths = Vec::with_capacity(claims.len());
    for (claim, start) in claims.iter().zip(starts) {
        let path = match start {
            q::CountedFrom::Consumer => reader.path_from(&claim.consumer).await?,
            q::CountedFrom::Context(node) => reader.path_from(&node).await?,
            q::CountedFrom::ParentOf(node) => reader.path_from_parent_of(&node).await?,
        };
        paths.push(path);
    }
    Ok(paths)
}

/// The paths of [`counting_paths`], each read once.
struct PathReader<'a> {
    store: &'a Store,
    /// The claimed folders and projects, read in one batch.
    claimed: HashMap<ItemKey, Value>,
    chains: HashMap<ParentRef, Option<q::QuotaPath>>,
    node_paths: HashMap<Node, Option<q::QuotaPath>>,
}

impl PathReader<'_> {
    /// A claimed folder's or project's path: its parent's chain.
    async fn path_from_parent_of(&mut self, node: &Node) -> Result<Option<q::QuotaPath>, ApiError> {
        let parent = self
            .claimed
            .get(&node_ref(node).key())
            .and_then(|doc| hierarchy::parent_of(node.kind.kind(), &doc["spec"]));
        let Some(parent) = parent else {
            return Ok(None);
        };
        if let Some(path) = self.chains.get(&parent) {
            return Ok(path.clone());
        }
        let links = crate::hierarchy_reads::chain(self.store, &parent, "spec").await?;
        let path = q::QuotaPath::of_object(None, &crate::hierarchy_reads::ancestors(&links)).ok();
        self.chains.insert(parent, path.clone());
        Ok(path)
    }

    /// `node` and its ancestors.
    async fn path_from(&mut self, node: &Node) -> Result<Option<q::QuotaPath>, ApiError> {
        if let Some(path) = self.node_paths.get(node) {
            return Ok(path.clone());
        }
        let path = match consumer_path(self.store, node, "spec.consumerRef").await {
            Ok(path) => Some(path),
            Err(ApiError::Invalid { .. }) => None,
            Err(e) => return Err(e),
        };
        self.node_paths.insert(node.clone(), path.clone());
        Ok(path)
    }
}

async fn organization_of(store: &Store, node: &Node) -> Result<Option<String>, ApiError> {
    crate::hooks::quota::consumer_organization(store, node).await
}
