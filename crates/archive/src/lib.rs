//! The otelvault archive: one place that writes and reads its format.
//!
//! An [`Archive`] is an object store and a [`Layout`]. Writing
//! ([`Archive::write`]) splits a batch by time partition, encodes each part,
//! names it by the hash of its content and stores all parts concurrently.
//! Reading ([`Archive::read`]) lists the partitions of a time range, decodes
//! the objects of a [`Query`]'s signal, filters their items and returns one
//! [`Page`] with the [`Position`] the next page starts from. The key layout
//! ([`PartitionKey`]) is the OpenTelemetry Collector `awss3exporter` one, so
//! either side can read the other's data.
//!
//! HTTP, cursors and API shapes are not this crate's business: servers,
//! commands and scheduled jobs are adapters on it.

mod error;
mod key;
mod layout;
mod query;
mod read;
mod write;

use std::sync::Arc;

use otelvault_storage::ObjectStore;

pub use error::ArchiveError;
pub use key::{KeyError, ListUnit, PartitionKey, content_id, list_units};
pub use layout::{Layout, PartitionTime, Partitioning};
pub use query::{AttrValue, DEFAULT_LIMIT, MAX_LIMIT, Query};
pub use read::{Budget, Page, Position, Skipped, Stats};
pub use write::{Encoded, WriteReport};

/// An archive: where it is stored and how it is laid out.
#[derive(Debug, Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    layout: Layout,
}

impl Archive {
    /// The archive in `store`, written (and read) with `layout`.
    pub fn new(store: Arc<dyn ObjectStore>, layout: Layout) -> Self {
        Archive { store, layout }
    }

    /// The store holding the archive.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// How the archive is laid out.
    pub fn layout(&self) -> Layout {
        self.layout
    }
}

#[cfg(test)]
mod tests;
