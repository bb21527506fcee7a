//! A failed write's SDK error read back as a [`StoreError`]: a refused
//! condition named by the position of its write, a conflict, throttling.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use super::Write;
use crate::{backend, StoreError};

/// The error of a single-item request (put, delete, update) whose
/// condition may fail.
pub(super) trait ConditionalError {
    /// For a failed condition, whether the item was there.
    fn condition_failed(&self) -> Option<bool>;
}

macro_rules! conditional_error {
    ($($error:ident),*) => {$(
        impl ConditionalError for $error {
            fn condition_failed(&self) -> Option<bool> {
                match self {
                    $error::ConditionalCheckFailedException(c) => Some(c.item.is_some()),
                    _ => None,
                }
            }
        }
    )*};
}

conditional_error!(PutItemError, DeleteItemError, UpdateItemError);

/// Maps the error of a single-item write.
pub(super) fn single_error<E, R>(write: &Write, err: SdkError<E, R>) -> StoreError
where
    E: ConditionalError + ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = &err {
        if let Some(item_exists) = service.err().condition_failed() {
            return write.failure(0, item_exists);
        }
        if service.err().code() == Some("TransactionConflictException") {
            return StoreError::TransactionConflict;
        }
        // DynamoDB Local, loaded, gives up waiting for another write's lock
        // and says so: nothing was done, as with a conflict.
        if service.err().code() == Some("InternalServerError")
            && service
                .err()
                .message()
                .is_some_and(|m| m.contains("waiting for a lock"))
        {
            return StoreError::TransactionConflict;
        }
    }
    backend(err)
}

pub(super) fn transaction_error<R: std::fmt::Debug>(
    writes: &[Write],
    err: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> StoreError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    if let SdkError::ServiceError(service) = &err {
        match service.err() {
            E::TransactionCanceledException(cancelled) => {
                let reasons = cancelled.cancellation_reasons();
                let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
                if let Some(index) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
                    let item_exists = reasons[index].item().is_some();
                    return match writes.get(index) {
                        Some(write) => write.failure(index, item_exists),
                        None => StoreError::Backend(format!(
                            "condition of unknown write {index} failed"
                        )),
                    };
                }
                if codes.contains(&"TransactionConflict") {
                    return StoreError::TransactionConflict;
                }
                if codes.iter().any(|c| c.contains("Throttl")) {
                    return StoreError::Throttled;
                }
                return StoreError::Backend(format!("transaction cancelled: {codes:?}"));
            }
            E::TransactionInProgressException(_) => {
                return StoreError::TransactionConflict;
            }
            _ => {}
        }
    }
    backend(err)
}
