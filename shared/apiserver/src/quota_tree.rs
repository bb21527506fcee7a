//! An organization's quota tree (#5): each node's limit, allocated and
//! available per resource type. Read from the hierarchy's child index,
//! level by level, then the buckets: the organization's namespace (its own
//! and its folders') and each project's control plane; never a scan:
//!
//! ```text
//! GET /apis/quota.miloapis.com/v1alpha1/quotatrees/{organization}[?format=text]
//! kubectl get --raw '/apis/quota.miloapis.com/v1alpha1/quotatrees/acme?format=text'
//! ```
//!
//! The tree's shape and its text are `domain::quota::tree`'s.

use std::collections::BTreeMap;

use domain::hierarchy::MAX_FOLDER_DEPTH;
use domain::kinds;
use domain::quota::{self as q, BucketKey, BucketLevel, Node};
use domain::ApiError;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;
use store::{Context, ObjectRef, Store};

use crate::codec::Response;
use crate::errors::from_store;
use crate::hierarchy_reads;
use crate::hooks::quota::{add_levels, bucket_ref};
use crate::placement::builtin_ref;
use crate::route::ResourcePath;
use crate::Call;

const VERSION: &str = "v1alpha1";
const PLURAL: &str = "quotatrees";
/// Child-index Queries in flight for one level of the tree.
const CONCURRENT_READS: usize = 16;

/// Whether a path is the quota tree's endpoint.
pub fn is_tree_path(path: &ResourcePath) -> bool {
    path.group == q::QUOTA_GROUP
        && path.version == VERSION
        && path.plural == PLURAL
        && path.namespace.is_none()
}

pub async fn serve(
    store: &Store,
    path: &ResourcePath,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    if call.method != http::Method::GET {
        return Err(ApiError::MethodNotAllowed {
            message: "quotatrees are read-only: use GET".into(),
        });
    }
    let Some(org) = path.name.as_deref().filter(|_| path.subresource.is_none()) else {
        return Err(ApiError::bad_request(format!(
            "name the organization: /apis/{}/{VERSION}/{PLURAL}/{{organization}}",
            q::QUOTA_GROUP
        )));
    };
    let text = match call.query.extra.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("text") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format {other:?} is not one of: json, text"
            )))
        }
    };
    let org_ref = builtin_ref(&Context::Platform, &kinds::ORGANIZATION, "", org);
    if store
        .get(&org_ref.key())
        .await
        .map_err(from_store)?
        .is_none()
    {
        return Err(ApiError::NotFound {
            group: kinds::ORGANIZATION.group.into(),
            kind: kinds::ORGANIZATION.plural.into(),
            name: org.into(),
        });
    }
    let parents = hierarchy_of(store, &org_ref).await?;
    let projects: Vec<&str> = parents
        .iter()
        .filter(|(child, _)| child.kind == q::NodeKind::Project)
        .map(|(child, _)| child.name.as_str())
        .collect();
    let buckets = buckets_of(store, org, &projects).await?;
    let tree = q::quota_tree(org, &parents, &buckets);
    if text {
        return Ok(Response {
            status: 200,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: tree.to_text().into_bytes(),
            stream: None,
        });
    }
    Ok(Response::json(
        200,
        &json!({
            "apiVersion": format!("{}/{VERSION}", q::QUOTA_GROUP),
            "kind": "QuotaTree",
            "metadata": {"name": org},
            "root": tree.to_json(),
        }),
    ))
}

fn node_of(object: &ObjectRef) -> Option<Node> {
    match object.kind.as_str() {
        k if k == kinds::FOLDER.kind => Some(Node::folder(&object.name)),
        k if k == kinds::PROJECT.kind => Some(Node::project(&object.name)),
        _ => None,
    }
}

/// (child, parent) pairs of the organization's folders and projects, one
/// level of child-index Queries at a time.
async fn hierarchy_of(store: &Store, org_ref: &ObjectRef) -> Result<Vec<(Node, Node)>, ApiError> {
    let mut pairs = Vec::new();
    let mut level = vec![(org_ref.clone(), Node::organization(&org_ref.name))];
    // The organization, up to MAX_FOLDER_DEPTH folders, then projects.
    for _ in 0..=MAX_FOLDER_DEPTH + 1 {
        if level.is_empty() {
            break;
        }
        let parents: Vec<ObjectRef> = level.iter().map(|(r, _)| r.clone()).collect();
        let found: Vec<Vec<ObjectRef>> = stream::iter(parents)
            .map(|parent| async move { hierarchy_reads::children(store, &parent, None).await })
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await?;
        let mut next = Vec::new();
        for ((_, parent), children) in level.iter().zip(found) {
            for child in children {
                let Some(node) = node_of(&child) else {
                    continue;
                };
                pairs.push((node.clone(), parent.clone()));
                if child.kind == kinds::FOLDER.kind {
                    next.push((child, node));
                }
            }
        }
        level = next;
    }
    Ok(pairs)
}

/// Every bucket of the organization's tree, as stored: its own and its
/// folders' (one namespace of the platform), and each project's (in the
/// project's control plane), [`CONCURRENT_READS`] partitions at a time.
async fn buckets_of(
    store: &Store,
    org: &str,
    projects: &[&str],
) -> Result<BTreeMap<BucketKey, BucketLevel>, ApiError> {
    let homes: Vec<ObjectRef> = std::iter::once(Node::organization(org))
        .chain(projects.iter().map(|p| Node::project(*p)))
        .map(|node| bucket_ref(org, &BucketKey::new(node, "")))
        .collect();
    let pages: Vec<Vec<store::Stored>> = stream::iter(homes)
        .map(|home| async move { namespace_items(store, &home).await })
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    let mut buckets = BTreeMap::new();
    for items in pages {
        add_levels(&mut buckets, items)?;
    }
    Ok(buckets)
}

/// The objects of `home`'s collection in its namespace, page by page.
async fn namespace_items(store: &Store, home: &ObjectRef) -> Result<Vec<store::Stored>, ApiError> {
    let prefix = store::Collection::namespace_prefix(&home.namespace);
    let pk = home.collection().pk();
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_objects(&pk, &prefix, None, start)
            .await
            .map_err(from_store)?;
        items.extend(page.items);
        start = page.next;
        if start.is_none() {
            return Ok(items);
        }
    }
}
