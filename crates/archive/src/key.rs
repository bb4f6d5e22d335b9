//! The archive's key layout, formatted and parsed in this one place:
//!
//! `year=YYYY/month=MM/day=DD/hour=HH[/minute=mm]/{file_prefix}{signal}_{id}.{json|binpb}[.gz|.zst]`
//!
//! relative to the store's root (which carries any `prefix/`). This is the
//! OpenTelemetry Collector `awss3exporter` layout; its numeric and uuidv7 ids
//! and optional file prefix parse too. The listings that cover a time range
//! ([`list_units`]) and content-derived object ids ([`content_id`]) live here too.

use std::fmt;

use otelvault_codec::{Compression, Format, Granularity, Signal, UtcMinute};
use otelvault_storage::{ObjectKey, StorageError};
use sha2::{Digest, Sha256};

/// A parsed (or to-be-written) object key of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    /// Start of the partition, unix nanoseconds (aligned to `granularity`).
    pub partition_start: u64,
    /// Minute or hour partitions.
    pub granularity: Granularity,
    /// Text before the signal name (the Collector's `file_prefix`); empty for ours.
    pub file_prefix: String,
    /// The signal the object holds.
    pub signal: Signal,
    /// The object id: our 32-hex content hash, or a Collector numeric/uuidv7 id.
    pub id: String,
    /// JSON or protobuf.
    pub format: Format,
    /// Compression of the object body.
    pub compression: Compression,
}

/// Why a key is not an archive key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an archive key ({0})")]
pub struct KeyError(&'static str);

impl PartitionKey {
    /// The key of an object of ours holding content with id `id`.
    pub fn new(
        partition_start: u64,
        granularity: Granularity,
        signal: Signal,
        id: String,
        format: Format,
        compression: Compression,
    ) -> Self {
        PartitionKey {
            partition_start: granularity.truncate(partition_start),
            granularity,
            file_prefix: String::new(),
            signal,
            id,
            format,
            compression,
        }
    }

    /// Parses a key relative to the store root. Leading segments before
    /// `year=` (a sub-prefix) are allowed and ignored.
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let mut segments: Vec<&str> = key.split('/').collect();
        let file = segments.pop().ok_or(KeyError("empty"))?;
        let field = |segment: Option<&str>, name: &str| -> Result<u32, KeyError> {
            let segment = segment.ok_or(KeyError("missing partition segments"))?;
            let value = segment
                .strip_prefix(name)
                .and_then(|s| s.strip_prefix('='))
                .ok_or(KeyError("unexpected partition segment"))?;
            if value.is_empty() || value.len() > 4 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(KeyError("partition value is not a number"));
            }
            value
                .parse()
                .map_err(|_| KeyError("partition value is not a number"))
        };
        let (granularity, minute) = match segments.last() {
            Some(s) if s.starts_with("minute=") => {
                (Granularity::Minute, field(segments.pop(), "minute")?)
            }
            _ => (Granularity::Hour, 0),
        };
        let hour = field(segments.pop(), "hour")?;
        let day = field(segments.pop(), "day")?;
        let month = field(segments.pop(), "month")?;
        let year = field(segments.pop(), "year")?;
        let partition_start = UtcMinute {
            year: i32::try_from(year).map_err(|_| KeyError("bad year"))?,
            month,
            day,
            hour,
            minute,
        }
        .to_unix_nanos()
        .ok_or(KeyError("partition is not a valid UTC time"))?;

        let (stem, compression) = if let Some(s) = file.strip_suffix(".gz") {
            (s, Compression::Gzip)
        } else if let Some(s) = file.strip_suffix(".zst") {
            (s, Compression::Zstd)
        } else {
            (file, Compression::None)
        };
        let (stem, format) = if let Some(s) = stem.strip_suffix(".json") {
            (s, Format::Json)
        } else if let Some(s) = stem.strip_suffix(".binpb") {
            (s, Format::Protobuf)
        } else {
            return Err(KeyError("unknown file extension"));
        };
        let (head, id) = stem
            .rsplit_once('_')
            .ok_or(KeyError("no signal_id in file name"))?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(KeyError("bad object id"));
        }
        let (file_prefix, signal) = Signal::ALL
            .iter()
            .find_map(|s| head.strip_suffix(s.as_str()).map(|p| (p, *s)))
            .ok_or(KeyError("no signal in file name"))?;
        Ok(PartitionKey {
            partition_start,
            granularity,
            file_prefix: file_prefix.to_owned(),
            signal,
            id: id.to_owned(),
            format,
            compression,
        })
    }
}

impl PartitionKey {
    /// The storage key.
    pub fn object_key(&self) -> Result<ObjectKey, StorageError> {
        ObjectKey::new(self.to_string())
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}_{}.{}{}",
            partition_prefix(self.partition_start, self.granularity),
            self.file_prefix,
            self.signal,
            self.id,
            self.format.extension(),
            self.compression.extension()
        )
    }
}

/// The key prefix of the partition holding `t`, ending in `/`:
/// `year=2024/month=10/day=27/hour=03/minute=33/`.
pub(crate) fn partition_prefix(t: u64, granularity: Granularity) -> String {
    let m = UtcMinute::from_unix_nanos(t);
    match granularity {
        Granularity::Minute => format!(
            "year={:04}/month={:02}/day={:02}/hour={:02}/minute={:02}/",
            m.year, m.month, m.day, m.hour, m.minute
        ),
        Granularity::Hour => format!(
            "year={:04}/month={:02}/day={:02}/hour={:02}/",
            m.year, m.month, m.day, m.hour
        ),
    }
}

/// One listing that covers part of a time range: a whole hour (of minute
/// partitions) or day (of hour partitions) when the range covers it, else a
/// single partition. Listing the coarser prefix returns the same keys in the
/// same (time) order with up to 60 or 24 times fewer list requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUnit {
    /// The first partition start this unit covers.
    pub start: u64,
    /// The end (exclusive) of what it covers; the next unit starts here.
    pub end: u64,
    /// The key prefix to list.
    pub prefix: String,
    /// List after this key: skips the block's partitions before `start`.
    pub after: Option<String>,
}

/// The listings that cover the partitions overlapping `[start, end)`,
/// in time order, never touching a partition outside it.
pub fn list_units(start: u64, end: u64, granularity: Granularity) -> Vec<ListUnit> {
    use otelvault_codec::{DAY_NANOS as DAY, HOUR_NANOS as HOUR};
    let fine = granularity.nanos();
    let block = match granularity {
        Granularity::Minute => HOUR,
        Granularity::Hour => DAY,
    };
    let block_prefix = |t: u64| {
        let m = UtcMinute::from_unix_nanos(t);
        match granularity {
            Granularity::Minute => partition_prefix(t, Granularity::Hour),
            Granularity::Hour => {
                format!("year={:04}/month={:02}/day={:02}/", m.year, m.month, m.day)
            }
        }
    };
    let mut units = Vec::new();
    if start >= end {
        return units;
    }
    let mut t = granularity.truncate(start);
    while t < end {
        let block_start = t - t % block;
        let block_end = block_start.saturating_add(block);
        if block_end <= end {
            let after = (t > block_start).then(|| {
                partition_prefix(t, granularity)
                    .trim_end_matches('/')
                    .to_owned()
            });
            units.push(ListUnit {
                start: t,
                end: block_end,
                prefix: block_prefix(block_start),
                after,
            });
            t = block_end;
        } else {
            units.push(ListUnit {
                start: t,
                end: t + fine,
                prefix: partition_prefix(t, granularity),
                after: None,
            });
            t += fine;
        }
    }
    units
}

/// The id of an object: the first 128 bits of the SHA-256 of its encoded
/// (uncompressed) content, in hex. Equal content gives an equal key, so a
/// retried request overwrites its own object instead of duplicating it.
pub fn content_id(content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_730_000_000_000_000_000; // 2024-10-27T03:33:20Z

    #[test]
    fn our_keys_format_and_parse_back() {
        let key = PartitionKey::new(
            T,
            Granularity::Minute,
            Signal::Traces,
            content_id(b"x"),
            Format::Json,
            Compression::Gzip,
        );
        let text = key.to_string();
        assert_eq!(
            text,
            format!(
                "year=2024/month=10/day=27/hour=03/minute=33/traces_{}.json.gz",
                content_id(b"x")
            )
        );
        assert_eq!(PartitionKey::parse(&text), Ok(key.clone()));
        let hour = PartitionKey {
            granularity: Granularity::Hour,
            partition_start: Granularity::Hour.truncate(T),
            format: Format::Protobuf,
            compression: Compression::Zstd,
            signal: Signal::Metrics,
            ..key
        };
        let text = hour.to_string();
        assert!(
            text.starts_with("year=2024/month=10/day=27/hour=03/metrics_"),
            "{text}"
        );
        assert!(text.ends_with(".binpb.zst"));
        assert_eq!(PartitionKey::parse(&text), Ok(hour));
    }

    #[test]
    fn collector_written_names_parse() {
        let k =
            PartitionKey::parse("year=2024/month=01/day=02/hour=03/minute=04/logs_123456789.binpb")
                .expect("numeric id");
        assert_eq!(
            (k.signal, k.id.as_str(), k.format, k.compression),
            (
                Signal::Logs,
                "123456789",
                Format::Protobuf,
                Compression::None
            )
        );
        let k = PartitionKey::parse(
            "otel/archive/year=2024/month=01/day=02/hour=03/minute=04/myapp_traces_0190a0f2-7c3e-7d45-9e3f-2b1c4d5e6f70.json.gz",
        )
        .expect("uuidv7 with file prefix and sub-prefix");
        assert_eq!(k.file_prefix, "myapp_");
        assert_eq!(k.signal, Signal::Traces);
        assert_eq!(k.id, "0190a0f2-7c3e-7d45-9e3f-2b1c4d5e6f70");
        assert_eq!(
            k.to_string(),
            "year=2024/month=01/day=02/hour=03/minute=04/myapp_traces_0190a0f2-7c3e-7d45-9e3f-2b1c4d5e6f70.json.gz"
        );
        let k =
            PartitionKey::parse("year=2024/month=01/day=02/hour=03/metrics_42.json").expect("hour");
        assert_eq!(k.granularity, Granularity::Hour);
        assert_eq!(
            k.partition_start,
            UtcMinute {
                year: 2024,
                month: 1,
                day: 2,
                hour: 3,
                minute: 0
            }
            .to_unix_nanos()
            .expect("t")
        );
    }

    #[test]
    fn other_names_are_not_archive_keys() {
        for bad in [
            "",
            "traces_1.json",
            "year=2024/month=13/day=01/hour=00/traces_1.json",
            "year=2024/month=02/day=30/hour=00/traces_1.json",
            "year=2024/month=01/day=01/hour=24/traces_1.json",
            "year=2024/month=01/day=01/hour=00/minute=60/traces_1.json",
            "year=2024/month=01/day=01/hour=00/traces_1.txt",
            "year=2024/month=01/day=01/hour=00/spans_1.json",
            "year=2024/month=01/day=01/hour=00/traces_.json",
            "year=2024/month=01/day=01/hour=00/traces_a b.json",
            "year=x/month=01/day=01/hour=00/traces_1.json",
            "month=01/day=01/hour=00/traces_1.json",
        ] {
            assert!(PartitionKey::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn list_units_cover_the_range_with_whole_blocks_where_possible() {
        let h = |y, mo, d, hh, mm| {
            UtcMinute {
                year: y,
                month: mo,
                day: d,
                hour: hh,
                minute: mm,
            }
            .to_unix_nanos()
            .expect("t")
        };
        // 03:58 → 06:02: minutes 58, 59 listed through the 03 hour block from
        // 03:58, then whole hours 04 and 05, then minutes 06:00 and 06:01.
        let units = list_units(
            h(2024, 10, 27, 3, 58),
            h(2024, 10, 27, 6, 2),
            Granularity::Minute,
        );
        let shown: Vec<(String, Option<String>)> = units
            .iter()
            .map(|u| (u.prefix.clone(), u.after.clone()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (
                    "year=2024/month=10/day=27/hour=03/".into(),
                    Some("year=2024/month=10/day=27/hour=03/minute=58".into())
                ),
                ("year=2024/month=10/day=27/hour=04/".into(), None),
                ("year=2024/month=10/day=27/hour=05/".into(), None),
                ("year=2024/month=10/day=27/hour=06/minute=00/".into(), None),
                ("year=2024/month=10/day=27/hour=06/minute=01/".into(), None),
            ]
        );
        // Contiguous, in order, covering exactly the partitions in range.
        for pair in units.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        assert_eq!(units[0].start, h(2024, 10, 27, 3, 58));
        assert_eq!(units.last().map(|u| u.end), Some(h(2024, 10, 27, 6, 2)));
        // A short range inside an hour lists single minutes only.
        assert_eq!(
            list_units(
                h(2024, 1, 1, 0, 10),
                h(2024, 1, 1, 0, 13),
                Granularity::Minute
            )
            .len(),
            3
        );
        // Hour partitions are listed a day at a time.
        let days = list_units(h(2024, 1, 1, 22, 0), h(2024, 1, 3, 1, 0), Granularity::Hour);
        assert_eq!(
            days.iter().map(|u| u.prefix.as_str()).collect::<Vec<_>>(),
            vec![
                "year=2024/month=01/day=01/",
                "year=2024/month=01/day=02/",
                "year=2024/month=01/day=03/hour=00/",
            ]
        );
        assert_eq!(
            days[0].after.as_deref(),
            Some("year=2024/month=01/day=01/hour=22")
        );
        assert!(list_units(5, 5, Granularity::Minute).is_empty());
    }

    #[test]
    fn content_ids_are_128_bit_hex_and_depend_on_content() {
        let a = content_id(b"batch one");
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(a, content_id(b"batch one"));
        assert_ne!(a, content_id(b"batch two"));
        // SHA-256("abc") starts ba7816bf8f01cfea414140de5dae2223.
        assert_eq!(content_id(b"abc"), "ba7816bf8f01cfea414140de5dae2223");
    }
}
