//! Item time, time partitions and splitting a batch by partition.
//!
//! An item's time is its event time (span start, log time or else observed
//! time, data point time). A zero time or one more than
//! [`FUTURE_TOLERANCE_NANOS`] ahead of the receive time is replaced by the
//! receive time, so a client with a broken clock cannot scatter data into
//! partitions nobody will query.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::Batch;
use crate::hierarchy::Parent;
use crate::points::{first_point_time, match_data};
use crate::proto::logs::LogRecord;
use crate::proto::metrics::Metric;
use crate::proto::trace::Span;

/// Nanoseconds in a second.
pub const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// A minute in nanoseconds.
pub const MINUTE_NANOS: u64 = 60 * NANOS_PER_SECOND;
/// An hour in nanoseconds: the compacted tier's unit.
pub const HOUR_NANOS: u64 = 60 * MINUTE_NANOS;
/// A day in nanoseconds.
pub const DAY_NANOS: u64 = 24 * HOUR_NANOS;
/// How far ahead of the receive time an event time may be before it is
/// treated as wrong and replaced by the receive time.
pub const FUTURE_TOLERANCE_NANOS: u64 = 10 * 60 * NANOS_PER_SECOND;

/// The width of a time partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Granularity {
    /// `…/hour=HH/minute=mm/` partitions (the default, as the Collector's).
    #[default]
    Minute,
    /// `…/hour=HH/` partitions.
    Hour,
}

impl Granularity {
    /// The partition width in nanoseconds.
    pub fn nanos(self) -> u64 {
        match self {
            Granularity::Minute => MINUTE_NANOS,
            Granularity::Hour => HOUR_NANOS,
        }
    }

    /// The start of the partition holding `t` (unix nanoseconds).
    pub fn truncate(self, t: u64) -> u64 {
        t - t % self.nanos()
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
        })
    }
}

impl FromStr for Granularity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "minute" => Ok(Granularity::Minute),
            "hour" => Ok(Granularity::Hour),
            other => Err(format!(
                "unknown partition granularity {other:?} (expected minute or hour)"
            )),
        }
    }
}

/// The current time in unix nanoseconds (0 if the clock is before 1970).
pub fn now_unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `t`, or `now` when `t` is zero or too far in the future.
pub(crate) fn item_time_or(t: u64, now: u64) -> u64 {
    if t == 0 || t > now.saturating_add(FUTURE_TOLERANCE_NANOS) {
        now
    } else {
        t
    }
}

/// A span's event time: its start time (0 when unset).
pub(crate) fn span_time(span: &Span) -> u64 {
    span.start_time_unix_nano
}

/// A log record's event time: `timeUnixNano`, else `observedTimeUnixNano`.
pub(crate) fn log_time(log: &LogRecord) -> u64 {
    if log.time_unix_nano != 0 {
        log.time_unix_nano
    } else {
        log.observed_time_unix_nano
    }
}

/// Splits the data points of a metric into groups by `key(point time)`,
/// returning one metric per group (same name, description, unit, metadata,
/// type and temporality), in key order.
pub(crate) fn split_metric(mut m: Metric, key: impl Fn(u64) -> u64) -> Vec<(u64, Metric)> {
    let Some(mut data) = m.data.take() else {
        return vec![(key(0), m)];
    };
    let shell = m;
    let parts: Vec<(u64, Metric)> = match_data!(&mut data, |d, wrap| {
        let mut groups: BTreeMap<u64, Vec<_>> = BTreeMap::new();
        for p in std::mem::take(&mut d.data_points) {
            groups.entry(key(p.time_unix_nano)).or_default().push(p);
        }
        groups
            .into_iter()
            .map(|(k, data_points)| {
                // `d` is the type's shell now: temporality and the like, no points.
                let mut typed = d.clone();
                typed.data_points = data_points;
                let mut part = shell.clone();
                part.data = Some(wrap(typed));
                (k, part)
            })
            .collect()
    });
    if parts.is_empty() {
        // A metric with a type but no points still carries its description.
        let mut shell = shell;
        shell.data = Some(data);
        return vec![(key(0), shell)];
    }
    parts
}

/// Groups the items of `resources` by `key`, keeping each item's resource and
/// scope: the result has one list of resources per key, in key order.
fn group_items<R, S, I>(resources: Vec<R>, key: impl Fn(&I) -> u64) -> BTreeMap<u64, Vec<R>>
where
    R: Parent<Child = S> + Clone,
    S: Parent<Child = I> + Clone,
{
    struct Part<R> {
        resources: Vec<R>,
        // The (resource, scope) position the last item of this part came from.
        last: Option<(usize, usize)>,
    }
    let mut parts: BTreeMap<u64, Part<R>> = BTreeMap::new();
    for (ri, mut resource) in resources.into_iter().enumerate() {
        let scopes = resource.take_children();
        for (si, mut scope) in scopes.into_iter().enumerate() {
            let items = scope.take_children();
            for item in items {
                let part = parts.entry(key(&item)).or_insert_with(|| Part {
                    resources: Vec::new(),
                    last: None,
                });
                match part.last {
                    Some((r, s)) if r == ri && s == si => {}
                    Some((r, _)) if r == ri => {
                        if let Some(res) = part.resources.last_mut() {
                            res.children_mut().push(scope.clone());
                        }
                    }
                    _ => {
                        let mut res = resource.clone();
                        res.children_mut().push(scope.clone());
                        part.resources.push(res);
                    }
                }
                part.last = Some((ri, si));
                if let Some(sc) = part
                    .resources
                    .last_mut()
                    .and_then(|r| r.children_mut().last_mut())
                {
                    sc.children_mut().push(item);
                }
            }
        }
    }
    parts.into_iter().map(|(k, p)| (k, p.resources)).collect()
}

/// Splits `batch` into one batch per time partition of `granularity`,
/// returned in partition order as `(partition start, batch)`. Every item
/// keeps its resource and scope; an empty batch gives no partition.
/// `now` (unix nanoseconds) replaces missing or far-future item times.
pub fn split_by_partition(batch: Batch, granularity: Granularity, now: u64) -> Vec<(u64, Batch)> {
    let part = move |t: u64| granularity.truncate(item_time_or(t, now));
    match batch {
        Batch::Traces(mut r) => {
            let groups = group_items(std::mem::take(&mut r.resource_spans), |s: &Span| {
                part(span_time(s))
            });
            groups
                .into_iter()
                .map(|(k, resource_spans)| {
                    (
                        k,
                        Batch::Traces(crate::proto::collector_trace::ExportTraceServiceRequest {
                            resource_spans,
                        }),
                    )
                })
                .collect()
        }
        Batch::Logs(mut r) => {
            let groups = group_items(std::mem::take(&mut r.resource_logs), |l: &LogRecord| {
                part(log_time(l))
            });
            groups
                .into_iter()
                .map(|(k, resource_logs)| {
                    (
                        k,
                        Batch::Logs(crate::proto::collector_logs::ExportLogsServiceRequest {
                            resource_logs,
                        }),
                    )
                })
                .collect()
        }
        Batch::Metrics(mut r) => {
            // First split every metric whose points span several partitions
            // into one metric per partition; then group metrics like items.
            let mut resources = std::mem::take(&mut r.resource_metrics);
            for res in &mut resources {
                for scope in res.children_mut() {
                    let metrics = scope.take_children();
                    for m in metrics {
                        scope
                            .children_mut()
                            .extend(split_metric(m, part).into_iter().map(|(_, piece)| piece));
                    }
                }
            }
            // Every piece now lies in one partition: the one of its first point.
            let groups = group_items(resources, |m: &Metric| part(first_point_time(m)));
            groups
                .into_iter()
                .map(|(k, resource_metrics)| {
                    (
                        k,
                        Batch::Metrics(
                            crate::proto::collector_metrics::ExportMetricsServiceRequest {
                                resource_metrics,
                            },
                        ),
                    )
                })
                .collect()
        }
    }
}

/// A UTC calendar time, minute resolution: what partition keys are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcMinute {
    /// Year (e.g. 2024).
    pub year: i32,
    /// Month, 1-12.
    pub month: u32,
    /// Day of month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
}

impl UtcMinute {
    /// The calendar minute holding `t` (unix nanoseconds).
    pub fn from_unix_nanos(t: u64) -> Self {
        let secs = t / NANOS_PER_SECOND;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        UtcMinute {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
        }
    }

    /// Unix nanoseconds at the start of this minute; `None` when the fields
    /// are out of range or before 1970.
    pub fn to_unix_nanos(self) -> Option<u64> {
        let UtcMinute {
            year,
            month,
            day,
            hour,
            minute,
        } = self;
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
        {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = i64::from(year) - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60;
        u64::try_from(secs).ok()?.checked_mul(NANOS_PER_SECOND)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// An RFC 3339 timestamp (`2024-10-27T03:33:20Z`,
/// `2024-10-27T05:33:20.5+02:00`) in unix nanoseconds; `None` when it is
/// not one.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    const NANOS: u64 = 1_000_000_000;
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let minute = UtcMinute {
        year: i32::try_from(num(0..4)?).ok()?,
        month: num(5..7)?,
        day: num(8..10)?,
        hour: num(11..13)?,
        minute: num(14..16)?,
    };
    let seconds = u64::from(num(17..19)?);
    if seconds > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut fraction = 0u64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if digits == 0 {
            return None;
        }
        let mut text = frac[..digits.min(9)].to_owned();
        while text.len() < 9 {
            text.push('0');
        }
        fraction = text.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let local = minute.to_unix_nanos()? + seconds * NANOS + fraction;
    let utc = i128::from(local) - i128::from(offset_secs) * i128::from(NANOS);
    u64::try_from(utc).ok()
}

#[cfg(test)]
mod tests;
