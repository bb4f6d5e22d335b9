//! CloudWatch Embedded Metric Format (EMF): JSON log lines from which
//! CloudWatch Logs extracts metrics, with no API call.
//!
//! Two producers share the [`Event`] model here:
//! - otelvault's own figures (one event per Lambda invocation), built with
//!   [`Event::single`];
//! - OTLP metrics, converted by [`Converter`] the way ADOT's
//!   `awsemfexporter` converts them (see [`convert`]).
//!
//! Every event respects the specification's limits: at most
//! [`MAX_METRICS_PER_DIRECTIVE`] metrics a directive, [`MAX_DIMENSIONS`]
//! keys a dimension set, [`MAX_VALUES`] values a metric, and
//! [`MAX_EVENT_BYTES`] an event; producers split what would not fit.

pub mod config;
pub mod convert;
mod delta;

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub use config::{Config, ConfigError, Rollup};
pub use convert::{Conversion, Converter};

/// Metric definitions one directive may hold.
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// Dimension keys one dimension set may hold.
pub const MAX_DIMENSIONS: usize = 30;
/// Values (or `Values`/`Counts` entries) one metric may carry in an event.
pub const MAX_VALUES: usize = 100;
/// Largest event CloudWatch Logs accepts (1 MB).
pub const MAX_EVENT_BYTES: usize = 1_000_000;

/// CloudWatch metric units (`MetricDatum.Unit`): the only values the
/// `Unit` of a metric definition may take.
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The CloudWatch unit of an OTLP (UCUM) unit: the awsemfexporter's
/// translations (`ms`, `s`, `us`, `By`, `bit`), the other common UCUM
/// units, and CloudWatch's own names as they are. Anything else has no
/// CloudWatch unit: CloudWatch refuses a directive with an unknown unit,
/// so the metric is sent without one (the exporter would pass it through).
pub fn cloudwatch_unit(unit: &str) -> Option<&'static str> {
    let mapped = match unit {
        "ms" => "Milliseconds",
        "s" => "Seconds",
        "us" => "Microseconds",
        "By" => "Bytes",
        "KBy" | "kBy" => "Kilobytes",
        "MBy" => "Megabytes",
        "GBy" => "Gigabytes",
        "TBy" => "Terabytes",
        "bit" => "Bits",
        "kbit" => "Kilobits",
        "Mbit" => "Megabits",
        "Gbit" => "Gigabits",
        "By/s" => "Bytes/Second",
        "bit/s" => "Bits/Second",
        "%" => "Percent",
        "1/s" | "{count}/s" => "Count/Second",
        other => return UNITS.iter().copied().find(|u| *u == other),
    };
    Some(mapped)
}

/// One metric of a directive: its name and, if known, its unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric's name (a member of the event holds its value).
    pub name: String,
    /// One of [`UNITS`].
    pub unit: Option<&'static str>,
}

/// A `MetricDirective`: which members of the event are metrics, in which
/// namespace, by which dimension sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    /// The CloudWatch namespace.
    pub namespace: String,
    /// Dimension sets: lists of member names whose values are dimensions.
    pub dimensions: Vec<Vec<String>>,
    /// The metrics.
    pub metrics: Vec<Metric>,
}

/// One EMF event: dimension members, metric values and the directives that
/// say what they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The directives.
    pub directives: Vec<Directive>,
    /// Dimension values by name (and other string members).
    pub labels: BTreeMap<String, String>,
    /// Metric values by name: a number, or a statistic set / histogram
    /// object.
    pub values: BTreeMap<String, Value>,
}

impl Event {
    /// An event of one directive whose only dimension set is every label:
    /// how otelvault reports its own figures.
    pub fn single(
        namespace: &str,
        timestamp_ms: i64,
        labels: &[(&str, &str)],
        metrics: &[(&str, &'static str, f64)],
    ) -> Event {
        let values = metrics
            .iter()
            .filter_map(|(name, _, value)| Some(((*name).to_owned(), number(*value)?)))
            .collect::<BTreeMap<_, _>>();
        Event {
            timestamp_ms,
            directives: vec![Directive {
                namespace: namespace.to_owned(),
                dimensions: vec![labels.iter().map(|(k, _)| (*k).to_owned()).collect()],
                metrics: metrics
                    .iter()
                    .filter(|(name, _, _)| values.contains_key(*name))
                    .map(|(name, unit, _)| Metric {
                        name: (*name).to_owned(),
                        unit: Some(unit),
                    })
                    .collect(),
            }],
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            values,
        }
    }

    /// The event as a JSON object.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The event as one line of JSON (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A bound no shorter than [`Event::to_line`], found without writing
    /// the line: every string as if each character took six bytes
    /// (`\u0000`), every number 24, and the structure's own.
    pub fn max_len(&self) -> usize {
        const NUMBER: usize = 24;
        let text = |s: &str| 6 * s.len() + 4;
        fn value_len(v: &Value) -> usize {
            match v {
                Value::Array(items) => items.iter().map(value_len).sum::<usize>() + items.len() + 2,
                Value::Object(map) => {
                    map.iter()
                        .map(|(k, v)| 6 * k.len() + 4 + value_len(v))
                        .sum::<usize>()
                        + 2
                }
                Value::String(s) => 6 * s.len() + 4,
                _ => NUMBER,
            }
        }
        let labels: usize = self.labels.iter().map(|(k, v)| text(k) + text(v)).sum();
        let values: usize = self
            .values
            .iter()
            .map(|(k, v)| text(k) + value_len(v))
            .sum();
        let directives: usize = self
            .directives
            .iter()
            .map(|d| {
                let dimensions: usize = d
                    .dimensions
                    .iter()
                    .map(|set| set.iter().map(|k| text(k)).sum::<usize>() + 2)
                    .sum();
                let metrics: usize = d.metrics.iter().map(|m| text(&m.name) + 40).sum();
                text(&d.namespace) + dimensions + metrics + 64
            })
            .sum();
        labels + values + directives + 96
    }
}

impl serde::Serialize for Event {
    /// Dimension members, metric values, then `_aws`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        struct Directives<'a>(&'a [Directive]);
        impl serde::Serialize for Directives<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(|d| {
                    let metrics: Vec<Value> = d
                        .metrics
                        .iter()
                        .map(|m| match m.unit {
                            Some(unit) => json!({"Name": m.name, "Unit": unit}),
                            None => json!({"Name": m.name}),
                        })
                        .collect();
                    json!({"Namespace": d.namespace, "Dimensions": d.dimensions, "Metrics": metrics})
                }))
            }
        }
        #[derive(serde::Serialize)]
        struct Metadata<'a> {
            #[serde(rename = "Timestamp")]
            timestamp: i64,
            #[serde(rename = "CloudWatchMetrics")]
            directives: Directives<'a>,
        }
        let mut map = serializer.serialize_map(Some(self.labels.len() + self.values.len() + 1))?;
        for (k, v) in &self.labels {
            if !self.values.contains_key(k) {
                map.serialize_entry(k, v)?;
            }
        }
        for (k, v) in &self.values {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry(
            "_aws",
            &Metadata {
                timestamp: self.timestamp_ms,
                directives: Directives(&self.directives),
            },
        )?;
        map.end()
    }
}

/// A finite number as JSON (EMF has no NaN or infinity).
pub(crate) fn number(value: f64) -> Option<Value> {
    serde_json::Number::from_f64(value).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_event_names_its_labels_as_its_one_dimension_set() {
        let event = Event::single(
            "otelvault",
            1_700_000_000_123,
            &[("signal", "traces"), ("route", "/v1/traces")],
            &[
                ("ItemsAccepted", "Count", 12.0),
                ("StorageLatency", "Milliseconds", 3.5),
                ("Broken", "Count", f64::NAN),
            ],
        );
        let value = event.to_value();
        assert_eq!(value["signal"], "traces");
        assert_eq!(value["ItemsAccepted"], 12.0);
        assert!(value.get("Broken").is_none(), "NaN is left out");
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "otelvault");
        assert_eq!(directive["Dimensions"], json!([["signal", "route"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "ItemsAccepted", "Unit": "Count"}, {"Name": "StorageLatency", "Unit": "Milliseconds"}])
        );
        assert_eq!(value["_aws"]["Timestamp"], 1_700_000_000_123_i64);
    }

    #[test]
    fn the_length_bound_is_never_short() {
        let mut event = Event::single(
            "ns\u{1}",
            1,
            &[("a\"b", "\u{7}\u{7}")],
            &[("m", "Count", 1.5e300)],
        );
        event.values.insert(
            "h".into(),
            json!({"Values": [1.0e-300, 2.5], "Counts": [1.0, 2.0], "Count": 3, "Sum": 1.0, "Min": -1.0e300, "Max": 1.0e300}),
        );
        event.directives[0].metrics.push(Metric {
            name: "h".into(),
            unit: None,
        });
        assert!(
            event.max_len() >= event.to_line().len(),
            "{} < {}",
            event.max_len(),
            event.to_line().len()
        );
    }

    #[test]
    fn units_translate_as_the_exporter_does_and_unknown_ones_are_dropped() {
        assert_eq!(cloudwatch_unit("ms"), Some("Milliseconds"));
        assert_eq!(cloudwatch_unit("By"), Some("Bytes"));
        assert_eq!(cloudwatch_unit("Count"), Some("Count"));
        assert_eq!(cloudwatch_unit("{requests}"), None);
        assert_eq!(cloudwatch_unit("1"), None);
        assert_eq!(cloudwatch_unit(""), None);
    }
}
