//! Every resource path is served from here, looked up in one table: the
//! virtual resources (reads computed from the table: the graph, the quota
//! tree; revisions later) first, then the stored kinds of the catalog
//! (objects/). A step every request needs (authorization, #20) goes in
//! [`serve`], and so covers every route.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use domain::catalog::Catalog;
use domain::ApiError;
use store::Context;

use crate::codec::Response;
use crate::route::ResourcePath;
use crate::{graph, objects, quota_tree, ApiServer, Call};

type Served<'a> = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send + 'a>>;

/// A resource no object stands for: computed, read-only, registered here
/// as a kind is in the catalog.
struct VirtualResource {
    /// Whether a path in the platform context is this resource's.
    serves: fn(&ResourcePath) -> bool,
    read: for<'a> fn(&'a ApiServer, &'a ResourcePath, &'a Call<'a>) -> Served<'a>,
}

/// The virtual resources; each is served in the platform context only.
const VIRTUAL: &[VirtualResource] = &[
    VirtualResource {
        serves: graph::is_graph_path,
        read: |server, path, call| {
            Box::pin(async move {
                graph::serve(&ingest::Graph::new(server.store.clone()), path, call).await
            })
        },
    },
    VirtualResource {
        serves: quota_tree::is_tree_path,
        read: |server, path, call| Box::pin(quota_tree::serve(&server.store, path, call)),
    },
];

/// Serves a resource path: a virtual resource's read, or a stored kind's verb.
pub(crate) async fn serve(
    server: &ApiServer,
    catalog: Arc<Catalog>,
    context: &Context,
    path: &ResourcePath,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    let virtual_resource = VIRTUAL
        .iter()
        .find(|v| *context == Context::Platform && (v.serves)(path));
    match virtual_resource {
        Some(resource) => (resource.read)(server, path, call).await,
        None => Box::pin(objects::serve(server, catalog, context, path, call)).await,
    }
}
