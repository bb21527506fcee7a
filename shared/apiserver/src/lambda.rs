//! The Lambda entry point both HTTP functions (`resources`, `admission`)
//! run: one [`ApiServer`] per instance, each invocation's HTTP request
//! handed to it as an `http::Request`.

use lambda_http::{service_fn, Body, Error, Request, Response};

use crate::{Api, ApiServer};

/// Serves `api` until the Lambda runtime stops: JSON logs (filtered by
/// `RUST_LOG`), the server built from the environment
/// ([`ApiServer::from_env`]).
pub async fn serve(api: Api) -> Result<(), Error> {
    init_logs();
    let server = ApiServer::from_env().await?;
    let server = &server;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle(server, api, request).await)
    }))
    .await
}

/// Every function's logs: JSON lines with the current span (the request
/// id), filtered by `RUST_LOG`, without time (CloudWatch stamps each).
pub fn init_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .without_time()
        .init();
}

async fn handle(server: &ApiServer, api: Api, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let response = server
        .respond(
            http::Request::from_parts(parts, bytes::Bytes::from(body.to_vec())),
            api,
        )
        .await;
    // JSON goes back as text; a body that is not UTF-8 (none today) as
    // binary, which the Lambda response base64-encodes.
    response.map(|bytes| match String::from_utf8(bytes) {
        Ok(text) => Body::Text(text),
        Err(not_text) => Body::Binary(not_text.into_bytes()),
    })
}
