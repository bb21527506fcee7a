//! The relationship graph, read (issue 6): the relationships of a resource
//! and those pointing at it, and a bounded walk, addressed by URN since a
//! subject (a tenant, say) need not have a record of its own:
//!
//! ```text
//! GET /apis/graph.miloapis.com/v1alpha1/relationships?urn=…[&direction=outgoing|incoming][&relation=r]
//! GET /apis/graph.miloapis.com/v1alpha1/traversals?urn=…[&direction=outgoing|incoming|both]
//!     [&relation=a,b][&depth=3][&limit=1000]
//! ```
//!
//! Each node costs one Query per direction (both directions are stored);
//! the walk's rules are `domain::ingest::Traversal`.

use std::collections::BTreeSet;

use domain::ingest::{Bounds, Direction, Relationship, Traversal, Urn};
use domain::kinds::GRAPH_GROUP;
use domain::ApiError;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use ingest::{Graph, GraphError};
use serde_json::{json, Value};

use crate::codec::Response;
use crate::errors::from_store;
use crate::route::ResourcePath;
use crate::Call;

const VERSION: &str = "v1alpha1";
const DEFAULT_DEPTH: usize = 3;
const MAX_DEPTH: usize = 10;
const DEFAULT_NODES: usize = 1000;
const MAX_NODES: usize = 10_000;
/// Queries in flight for one level of a walk.
const CONCURRENT_READS: usize = 16;

/// Whether a path is one of the graph's read endpoints.
pub fn is_graph_path(path: &ResourcePath) -> bool {
    path.group == GRAPH_GROUP
        && path.version == VERSION
        && path.namespace.is_none()
        && path.name.is_none()
        && matches!(path.plural.as_str(), "relationships" | "traversals")
}

pub async fn serve(
    graph: &Graph,
    path: &ResourcePath,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    if call.method != http::Method::GET {
        return Err(ApiError::MethodNotAllowed {
            message: format!("{} is read-only: use GET", path.plural),
        });
    }
    let urn = required_urn(call)?;
    let relations = relations(call);
    if path.plural == "relationships" {
        let direction = direction(call, Direction::Outgoing)?;
        if direction == Direction::Both {
            return Err(ApiError::bad_request(
                "relationships lists one direction: outgoing or incoming",
            ));
        }
        let found = neighbours(graph, &urn, direction, relations.as_ref()).await?;
        return Ok(Response::json(
            200,
            &json!({
                "apiVersion": format!("{GRAPH_GROUP}/{VERSION}"),
                "kind": "RelationshipList",
                "urn": urn.to_string(),
                "direction": direction_name(direction),
                "items": found.iter().map(relationship_json).collect::<Vec<_>>(),
            }),
        ));
    }
    let bounds = Bounds {
        depth: number(call, "depth", DEFAULT_DEPTH, MAX_DEPTH)?,
        max_nodes: call
            .query
            .limit
            .map(|l| l as usize)
            .unwrap_or(DEFAULT_NODES)
            .min(MAX_NODES),
    };
    let direction = direction(call, Direction::Both)?;
    let mut walk = Traversal::new(urn.clone(), direction, relations.clone(), bounds);
    while !walk.pending().is_empty() {
        let level: Vec<Vec<Relationship>> = stream::iter(walk.pending().to_vec())
            .map(|node| {
                let relations = relations.clone();
                async move { neighbours(graph, &node, direction, relations.as_ref()).await }
            })
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await?;
        for found in level {
            walk.visit(found);
        }
        walk.advance();
    }
    let view = walk.finish();
    Ok(Response::json(
        200,
        &json!({
            "apiVersion": format!("{GRAPH_GROUP}/{VERSION}"),
            "kind": "Traversal",
            "start": urn.to_string(),
            "direction": direction_name(direction),
            "depth": bounds.depth,
            "limit": bounds.max_nodes,
            "truncated": view.truncated,
            "nodes": view.nodes.iter().map(|(n, d)| json!({"urn": n.to_string(), "depth": d})).collect::<Vec<_>>(),
            "edges": view.edges.iter().map(relationship_json).collect::<Vec<_>>(),
        }),
    ))
}

/// One node's relationships in a direction (both: the two Queries).
async fn neighbours(
    graph: &Graph,
    node: &Urn,
    direction: Direction,
    relations: Option<&BTreeSet<String>>,
) -> Result<Vec<Relationship>, ApiError> {
    // One relation asked for: read only its items.
    let only = relations
        .filter(|r| r.len() == 1)
        .and_then(|r| r.iter().next())
        .map(String::as_str);
    let mut found = Vec::new();
    if direction.outgoing() {
        found.extend(graph.outgoing(node, only).await.map_err(from_graph)?);
    }
    if direction.incoming() {
        found.extend(graph.incoming(node, only).await.map_err(from_graph)?);
    }
    if let Some(relations) = relations {
        found.retain(|r| relations.contains(&r.relation));
    }
    Ok(found)
}

fn from_graph(err: GraphError) -> ApiError {
    match err {
        GraphError::Store(e) => from_store(e),
        other => ApiError::internal(other.to_string()),
    }
}

fn relationship_json(rel: &Relationship) -> Value {
    json!({"resource": rel.resource.to_string(), "relation": rel.relation, "subject": rel.subject.to_string()})
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Outgoing => "outgoing",
        Direction::Incoming => "incoming",
        Direction::Both => "both",
    }
}

fn required_urn(call: &Call<'_>) -> Result<Urn, ApiError> {
    let raw = call
        .query
        .extra
        .get("urn")
        .map(String::as_str)
        .unwrap_or("");
    if raw.is_empty() {
        return Err(ApiError::bad_request(
            "the urn parameter is required, e.g. ?urn=urn:infratographer:loadbalancer:0e919c70-6d04-4050-a474-073ab8b58ffe",
        ));
    }
    Urn::parse_stored(raw)
        .map_err(|e| ApiError::bad_request(format!("urn {raw:?} is not valid: {e}")))
}

fn relations(call: &Call<'_>) -> Option<BTreeSet<String>> {
    call.query
        .extra
        .get("relation")
        .map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect::<BTreeSet<_>>()
        })
        .filter(|r| !r.is_empty())
}

fn direction(call: &Call<'_>, default: Direction) -> Result<Direction, ApiError> {
    match call.query.extra.get("direction") {
        None => Ok(default),
        Some(d) => Direction::parse(d).ok_or_else(|| {
            ApiError::bad_request(format!(
                "direction must be outgoing, incoming or both, not {d:?}"
            ))
        }),
    }
}

fn number(call: &Call<'_>, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match call.query.extra.get(name) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "{name} must be a whole number from 0 to {max}, not {v:?}"
            ))),
        },
    }
}
