//! Adapter errors into API errors. The Status mapping itself lives in
//! `domain::error`; this is where store and auth failures enter it.

use domain::ApiError;
use store::StoreError;

pub fn from_auth(err: auth::AuthError) -> ApiError {
    ApiError::unauthorized(err.to_string())
}

/// The 409 of a write that met another one on an item it does not name.
pub fn concurrent_change() -> ApiError {
    ApiError::Conflict {
        group: String::new(),
        kind: String::new(),
        name: String::new(),
        message: "a concurrent change touched the same objects; retry".into(),
    }
}

/// Store failures that do not depend on which write failed.
pub fn from_store(err: StoreError) -> ApiError {
    match err {
        StoreError::Throttled => ApiError::TooManyRequests {
            message: "the storage is throttling requests; retry shortly".into(),
        },
        StoreError::TooLarge(message) => ApiError::RequestEntityTooLarge { message },
        StoreError::TransactionConflict
        | StoreError::AlreadyExists { .. }
        | StoreError::NotFound { .. }
        | StoreError::Conflict { .. } => concurrent_change(),
        StoreError::Corrupt(message) | StoreError::Backend(message) => {
            ApiError::internal(format!("storage error: {message}"))
        }
    }
}
