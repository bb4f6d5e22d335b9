//! How an archive is laid out: the one configuration type, shared by the
//! server (which writes and reads) and the commands that only read.
//!
//! [`Partitioning`] is what reading needs (partition width and which time
//! decides an item's partition); [`Layout`] adds the encoding of the objects
//! written. Both are `clap` argument groups with an environment variable
//! per setting, so every command spells them the same way.

use clap::{Args, ValueEnum};
use otelvault_codec::{Compression, Format, Granularity};

/// Which time decides an item's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
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

/// A `clap` value parser whose errors name the environment variable too
/// (clap's own message names only the flag), so a bad value fails with one
/// line that says where to fix it.
pub fn parse_with<T: std::str::FromStr<Err = String>>(
    var: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |s: &str| s.parse::<T>().map_err(|e| format!("{var}: {e}"))
}

/// How objects are partitioned in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Args)]
pub struct Partitioning {
    /// Partition width: minute or hour.
    #[arg(long = "partition", env = "OTELVAULT_PARTITION", default_value = "minute", value_parser = parse_with::<Granularity>("OTELVAULT_PARTITION"))]
    pub granularity: Granularity,

    /// Partition by each item's event time or by receive time (Collector archives).
    #[arg(
        long = "partition-time",
        env = "OTELVAULT_PARTITION_TIME",
        value_enum,
        default_value = "event"
    )]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Args)]
pub struct Layout {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub partitioning: Partitioning,

    /// Stored object format: json or proto.
    #[arg(long, env = "OTELVAULT_FORMAT", default_value = "json", value_parser = parse_with::<Format>("OTELVAULT_FORMAT"))]
    pub format: Format,

    /// Stored object compression: gzip, zstd or none.
    #[arg(long, env = "OTELVAULT_COMPRESSION", default_value = "gzip", value_parser = parse_with::<Compression>("OTELVAULT_COMPRESSION"))]
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
