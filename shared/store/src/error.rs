use thiserror::Error;

/// What a store call can fail with. The API layer maps each to a Status.
#[derive(Debug, Error, PartialEq)]
pub enum StoreError {
    /// Write number `index` (in the order given) expected no item, and there is one.
    #[error("write {index}: the item already exists")]
    AlreadyExists { index: usize },
    /// Write number `index` expected an item, and there is none.
    #[error("write {index}: the item does not exist")]
    NotFound { index: usize },
    /// Write number `index` expected the item at another version (or not
    /// being deleted): it moved on since it was read.
    #[error("write {index}: the item has changed since it was read")]
    Conflict { index: usize },
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

impl StoreError {
    /// This error with its write's position read through `origin` (the
    /// position, in the caller's list, of each write sent).
    pub(crate) fn at_origin(self, origin: &[usize]) -> StoreError {
        let at = |index: usize| origin.get(index).copied().unwrap_or(index);
        match self {
            StoreError::AlreadyExists { index } => StoreError::AlreadyExists { index: at(index) },
            StoreError::NotFound { index } => StoreError::NotFound { index: at(index) },
            StoreError::Conflict { index } => StoreError::Conflict { index: at(index) },
            other => other,
        }
    }

    /// The position of the write whose condition failed, if one did.
    pub fn refused_write(&self) -> Option<usize> {
        match self {
            StoreError::AlreadyExists { index }
            | StoreError::NotFound { index }
            | StoreError::Conflict { index } => Some(*index),
            _ => None,
        }
    }
}
