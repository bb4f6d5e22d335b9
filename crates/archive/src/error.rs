use otelvault_storage::StorageError;

/// A read or write of the archive that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A storage call failed; the cause is the source.
    #[error("{action}")]
    Storage {
        /// What was being done (`writing year=…/traces_….json.gz`).
        action: String,
        /// Why it failed.
        #[source]
        source: StorageError,
    },
    /// Work on this process failed (a task that panicked, compression that
    /// could not run): a bug, not the client's or the store's fault.
    #[error("{0}")]
    Internal(String),
    /// A position no longer applies: the compacted hour it is in was
    /// rewritten (`compact` upgraded its parts) since it was made. The
    /// query must start again.
    #[error("{0}")]
    Rewritten(String),
}

impl ArchiveError {
    pub(crate) fn storage(action: impl Into<String>, source: StorageError) -> Self {
        ArchiveError::Storage {
            action: action.into(),
            source,
        }
    }

    /// The storage failure behind this error, if that is what it is.
    pub fn storage_error(&self) -> Option<&StorageError> {
        match self {
            ArchiveError::Storage { source, .. } => Some(source),
            ArchiveError::Internal(_) | ArchiveError::Rewritten(_) => None,
        }
    }

    /// True when the same operation may succeed later (throttling, outages).
    pub fn is_retryable(&self) -> bool {
        self.storage_error().is_some_and(StorageError::is_retryable)
    }

    /// The whole story on one line, cause included, for logs.
    pub fn detail(&self) -> String {
        match self.storage_error() {
            Some(source) => format!("{self}: {source}"),
            None => self.to_string(),
        }
    }
}
