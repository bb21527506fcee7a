//! The `resources` Lambda function: the API server. It builds the pipeline
//! once per instance and hands each HTTP request to it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    apiserver::lambda::serve(apiserver::Api::Resources).await
}
