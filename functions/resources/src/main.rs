//! The `resources` Lambda function: the API server. It builds the pipeline
//! once per instance and hands each HTTP request to it.

use apiserver::ApiServer;
use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(true)
        .without_time()
        .init();
    let server = ApiServer::from_env().await?;
    let server = &server;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle(server, request).await)
    }))
    .await
}

async fn handle(server: &ApiServer, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let response = server
        .handle(http::Request::from_parts(
            parts,
            bytes::Bytes::from(body.to_vec()),
        ))
        .await;
    // JSON goes back as text; a body that is not UTF-8 (none today) as
    // binary, which the Lambda response base64-encodes.
    response.map(|bytes| match String::from_utf8(bytes) {
        Ok(text) => Body::Text(text),
        Err(not_text) => Body::Binary(not_text.into_bytes()),
    })
}
