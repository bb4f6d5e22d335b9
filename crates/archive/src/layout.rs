//! How an archive is laid out: the one configuration type, shared by the
//! server (which writes and reads) and the commands that only read.
//!
//! [`Partitioning`] is what reading needs (partition width and which time
//! decides an item's partition); [`Layout`] adds the encoding of the objects
//! written. They are plain values: the binary binds them to its settings.

use otelvault_codec::{Compression, Format, Granularity};

/// Which time decides an item's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionTime {
    /// The item's own time (span start, log time, data point time).
    #[default]
    Event,
    /// The time the request arrived (what the Collector's awss3exporter does).
    Receive,
}

/// How long after its event time an item may be received and still be
/// found when partitions are by receive time.
const LATE_ARRIVAL_NANOS: u64 = 15 * 60 * 1_000_000_000;

impl PartitionTime {
    /// The setting's spelling: `event` or `receive`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionTime::Event => "event",
            PartitionTime::Receive => "receive",
        }
    }
}

impl std::fmt::Display for PartitionTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PartitionTime {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "event" => Ok(PartitionTime::Event),
            "receive" => Ok(PartitionTime::Receive),
            _ => Err(format!("expected event or receive, got {text:?}")),
        }
    }
}

/// How objects are partitioned in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Partitioning {
    /// Partition width: minute or hour.
    pub granularity: Granularity,
    /// Whether an item's event time or its receive time (Collector archives) decides its partition.
    pub time: PartitionTime,
}

impl Partitioning {
    /// How far past a time range partitions must be read: items
    /// partitioned by arrival can sit in a later partition than their event
    /// time.
    pub fn late_arrival(&self) -> u64 {
        match self.time {
            PartitionTime::Event => 0,
            PartitionTime::Receive => LATE_ARRIVAL_NANOS,
        }
    }
}

/// The whole layout of what is written: partitioning and object encoding.
/// Reading takes each object's encoding from its key, so an archive opened
/// only to read needs just its [`Partitioning`] (`Layout::from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// How objects are partitioned in time.
    pub partitioning: Partitioning,
    /// Stored object format: json or proto.
    pub format: Format,
    /// Stored object compression: gzip, zstd or none.
    pub compression: Compression,
}

impl From<Partitioning> for Layout {
    fn from(partitioning: Partitioning) -> Self {
        Layout {
            partitioning,
            ..Layout::default()
        }
    }
}
