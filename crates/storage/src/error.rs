/// A storage operation that failed. Backend errors are mapped into these
/// variants so that callers can tell what to do: report a missing object,
/// ask the client to retry, or alert an operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No object at this key.
    #[error("object not found: {key}")]
    NotFound {
        /// The key looked up.
        key: String,
    },
    /// The key is not acceptable (could escape the root, has control
    /// characters, empty segments…).
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey {
        /// The offending key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The backend asked us to slow down; retry later.
    #[error("storage throttled the request: {message}")]
    Throttled {
        /// The backend's message.
        message: String,
    },
    /// The backend is unreachable, timed out or failed transiently; retry later.
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
    },
    /// The backend refused the operation in a way retrying will not fix
    /// (access denied, missing bucket, disk error): an operator must act.
    #[error("storage failed: {message}")]
    Failed {
        /// What happened.
        message: String,
    },
}

impl StorageError {
    /// True when the same request may succeed later (throttling, outages).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StorageError::Throttled { .. } | StorageError::Unavailable { .. }
        )
    }
}
