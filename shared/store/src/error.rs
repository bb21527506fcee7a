use thiserror::Error;

/// What a store call can fail with. The API layer maps each to a Status.
#[derive(Debug, Error, PartialEq)]
pub enum StoreError {
    /// The condition of write number `index` (in the order given) failed:
    /// the item existed, was missing, or had moved to another version.
    #[error("condition of write {index} failed")]
    ConditionFailed { index: usize },
    /// Another transaction touched one of the same items at the same time.
    #[error("a concurrent change touched the same item; retry")]
    TransactionConflict,
    #[error("the table is throttling requests; retry later")]
    Throttled,
    #[error("item too large for the table: {0}")]
    TooLarge(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
    #[error("DynamoDB request failed: {0}")]
    Backend(String),
}
