//! Log records as Loki shows OTLP logs: stream labels from the resource
//! attributes Loki's OTLP ingestion indexes by default (dots become
//! underscores; `service_name` is `unknown_service` when absent), the
//! other resource attributes, the log attributes, the scope and the ids as
//! structured metadata, `detected_level` from the severity, and the line
//! from the body (strings as they are, other values as JSON).

use std::borrow::Cow;
use std::collections::BTreeMap;

use otelvault_codec::proto::common::{InstrumentationScope, KeyValue};
use otelvault_codec::proto::logs::LogRecord;
use otelvault_codec::values::{as_text, hex};

/// The resource attributes Loki makes stream labels by default
/// (<https://grafana.com/docs/loki/latest/send-data/otel/>).
pub const INDEX_LABELS: [&str; 17] = [
    "cloud.availability_zone",
    "cloud.region",
    "container.name",
    "deployment.environment",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
    "k8s.deployment.name",
    "k8s.job.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "service.instance.id",
    "service.name",
    "service.namespace",
];

/// A label name as Loki spells an attribute's: characters other than
/// letters, digits and `_` become `_`.
pub fn label_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Whether a label's value is known from a record's resource and
/// severity alone: `service_name`, a stream label every record has, and
/// `detected_level`. Another stream label a resource lacks may still come
/// from the record's attributes, as structured metadata.
pub fn known_from_line(name: &str) -> bool {
    matches!(name, "service_name" | "detected_level")
}

/// The stream labels of a resource's records.
pub fn stream_labels(resource: &[KeyValue]) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = resource
        .iter()
        .filter(|kv| INDEX_LABELS.contains(&kv.key.as_str()))
        .map(|kv| (label_name(&kv.key), as_text(kv.value.as_ref()).into_owned()))
        .collect();
    labels
        .entry("service_name".to_owned())
        .or_insert_with(|| "unknown_service".to_owned());
    labels
}

/// A record's structured metadata: the resource's attributes that are
/// not stream labels, the scope's name and version, the record's
/// attributes, its ids and its severity text.
pub fn structured_metadata(
    resource: &[KeyValue],
    scope: Option<&InstrumentationScope>,
    record: &LogRecord,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for kv in resource
        .iter()
        .filter(|kv| !INDEX_LABELS.contains(&kv.key.as_str()))
        .chain(&record.attributes)
    {
        out.insert(label_name(&kv.key), as_text(kv.value.as_ref()).into_owned());
    }
    if let Some(scope) = scope.filter(|s| !s.name.is_empty()) {
        out.insert("scope_name".to_owned(), scope.name.clone());
        if !scope.version.is_empty() {
            out.insert("scope_version".to_owned(), scope.version.clone());
        }
    }
    if !record.trace_id.is_empty() {
        out.insert("trace_id".to_owned(), hex(&record.trace_id));
    }
    if !record.span_id.is_empty() {
        out.insert("span_id".to_owned(), hex(&record.span_id));
    }
    if !record.severity_text.is_empty() {
        out.insert("severity_text".to_owned(), record.severity_text.clone());
    }
    if record.severity_number != 0 {
        out.insert(
            "severity_number".to_owned(),
            record.severity_number.to_string(),
        );
    }
    out
}

/// The level Loki detects from a record's severity: its number's range,
/// else its text, else `unknown`.
pub fn detected_level(record: &LogRecord) -> &'static str {
    match record.severity_number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => match record.severity_text.to_ascii_lowercase().as_str() {
            "trace" => "trace",
            "debug" => "debug",
            "info" | "information" | "notice" => "info",
            "warn" | "warning" => "warn",
            "error" | "err" => "error",
            "fatal" | "critical" | "crit" | "emergency" | "alert" => "fatal",
            _ => "unknown",
        },
    }
}

/// The line Loki shows: the body's string, or its value as JSON.
pub fn line(record: &LogRecord) -> Cow<'_, str> {
    as_text(record.body.as_ref())
}

/// A record's time: its timestamp, else when it was observed.
pub fn time(record: &LogRecord) -> u64 {
    if record.time_unix_nano != 0 {
        record.time_unix_nano
    } else {
        record.observed_time_unix_nano
    }
}

#[cfg(test)]
mod tests {
    use otelvault_codec::values::text_attribute as attribute;

    use super::*;

    #[test]
    fn a_record_is_labelled_as_loki_labels_otlp_logs() {
        let resource = vec![
            attribute("service.name", "cart"),
            attribute("k8s.namespace.name", "prod"),
            attribute("host.name", "node-1"),
        ];
        let labels = stream_labels(&resource);
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            [
                ("k8s_namespace_name".to_owned(), "prod".to_owned()),
                ("service_name".to_owned(), "cart".to_owned())
            ]
        );
        assert_eq!(stream_labels(&[])["service_name"], "unknown_service");
        let record = LogRecord {
            severity_number: 17,
            trace_id: vec![0xab; 16],
            attributes: vec![attribute("http.status_code", "503")],
            ..LogRecord::default()
        };
        let metadata = structured_metadata(&resource, None, &record);
        assert_eq!(metadata["host_name"], "node-1");
        assert_eq!(metadata["http_status_code"], "503");
        assert_eq!(metadata["trace_id"], "ab".repeat(16));
        assert!(!metadata.contains_key("service_name"));
        assert_eq!(detected_level(&record), "error");
        let text_only = LogRecord {
            severity_text: "WARNING".into(),
            ..LogRecord::default()
        };
        assert_eq!(detected_level(&text_only), "warn");
        assert_eq!(detected_level(&LogRecord::default()), "unknown");
    }
}
