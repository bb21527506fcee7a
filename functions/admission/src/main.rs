//! The `admission` Lambda function: the platform's admission policies for
//! other services (an AdmissionReview webhook) and the policy audit. The
//! same pipeline as `resources`, entered through `handle_admission`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    apiserver::lambda::serve(apiserver::Api::Admission).await
}
