//! The conversion's settings, as JSON with the awsemfexporter's key names
//! (`namespace`, `dimension_rollup_option`, `metric_declarations`,
//! `metric_descriptors`, `retain_initial_value_of_delta_metric`), plus
//! `resource_dimensions`: the resource attributes that become dimensions
//! (the exporter's `resource_to_telemetry_conversion`, for a chosen subset).
//!
//! Every mistake is refused when the settings are read, with the field.

use regex::Regex;
use serde::Deserialize;

use crate::{MAX_DIMENSIONS, UNITS};

/// How dimension sets are rolled up, beside the set of every label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Rollup {
    /// Only the declared (or full) dimension sets.
    #[serde(rename = "NoDimensionRollup")]
    None,
    /// Also each label alone (with `OTelLib`).
    #[serde(rename = "SingleDimensionRollupOnly")]
    Single,
    /// Also no label (only `OTelLib`) and each label alone: the exporter's
    /// default.
    #[default]
    #[serde(rename = "ZeroAndSingleDimensionRollup")]
    ZeroAndSingle,
}

/// Settings of the OTLP-to-EMF conversion.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The namespace; when unset, `service.namespace/service.name` of the
    /// resource (or either alone), else `default`, as the exporter does.
    pub namespace: Option<String>,
    /// Resource attributes copied onto every data point as dimensions.
    pub resource_dimensions: Vec<String>,
    /// Roll-up of dimension sets.
    pub rollup: Rollup,
    /// When not empty, only the metrics these select are sent, with their
    /// dimension sets.
    pub declarations: Vec<Declaration>,
    /// Units by metric name.
    pub descriptors: Vec<Descriptor>,
    /// Send the first point of a cumulative stream as it is, instead of
    /// waiting for a second one to take a delta from.
    pub retain_initial_value_of_delta_metric: bool,
}

/// A metric declaration: which metrics (by name, and optionally by labels)
/// get which dimension sets.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// Dimension sets, each sorted and without repeats.
    pub dimensions: Vec<Vec<String>>,
    selectors: Vec<Regex>,
    matchers: Vec<LabelMatcher>,
}

/// A rule over label values: the values of `label_names`, joined by
/// `separator`, must match `regex`.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    names: Vec<String>,
    separator: String,
    regex: Regex,
}

/// A unit for a metric name.
#[derive(Debug, Clone)]
pub struct Descriptor {
    /// The metric's name.
    pub metric_name: String,
    /// One of [`UNITS`].
    pub unit: &'static str,
    /// Whether it replaces a unit the metric has.
    pub overwrite: bool,
}

/// Why the settings were refused: one line naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    namespace: Option<String>,
    #[serde(default)]
    resource_dimensions: Vec<String>,
    #[serde(default)]
    dimension_rollup_option: Rollup,
    #[serde(default)]
    metric_declarations: Vec<RawDeclaration>,
    #[serde(default)]
    metric_descriptors: Vec<RawDescriptor>,
    #[serde(default)]
    retain_initial_value_of_delta_metric: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeclaration {
    #[serde(default)]
    dimensions: Vec<Vec<String>>,
    #[serde(default)]
    metric_name_selectors: Vec<String>,
    #[serde(default)]
    label_matchers: Vec<RawMatcher>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatcher {
    label_names: Vec<String>,
    separator: Option<String>,
    regex: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDescriptor {
    metric_name: String,
    unit: String,
    #[serde(default)]
    overwrite: bool,
}

impl Config {
    /// Settings from their JSON text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            serde_json::from_str(text).map_err(|e| ConfigError(format!("invalid JSON: {e}")))?;
        if raw.namespace.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError(
                "namespace is empty: name one, or leave it out to use the service's".into(),
            ));
        }
        let declarations = raw
            .metric_declarations
            .into_iter()
            .enumerate()
            .map(|(i, d)| Declaration::new(i, d))
            .collect::<Result<_, _>>()?;
        let descriptors = raw
            .metric_descriptors
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let unit = UNITS.iter().copied().find(|u| *u == d.unit).ok_or_else(|| {
                    ConfigError(format!(
                        "metric_descriptors[{i}].unit {:?} is not a CloudWatch unit (one of {})",
                        d.unit,
                        UNITS.join(", ")
                    ))
                })?;
                Ok(Descriptor {
                    metric_name: d.metric_name,
                    unit,
                    overwrite: d.overwrite,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Config {
            namespace: raw.namespace,
            resource_dimensions: raw.resource_dimensions,
            rollup: raw.dimension_rollup_option,
            declarations,
            descriptors,
            retain_initial_value_of_delta_metric: raw.retain_initial_value_of_delta_metric,
        })
    }
}

impl Declaration {
    fn new(i: usize, raw: RawDeclaration) -> Result<Declaration, ConfigError> {
        let at = format!("metric_declarations[{i}]");
        if raw.metric_name_selectors.is_empty() {
            return Err(ConfigError(format!(
                "{at} has no metric_name_selectors: add regular expressions of the metric names it selects"
            )));
        }
        let regex = |field: String, text: &str| {
            Regex::new(text).map_err(|e| {
                ConfigError(format!(
                    "{field} {text:?} is not a regular expression: {}",
                    e.to_string().lines().last().unwrap_or_default().trim()
                ))
            })
        };
        let selectors = raw
            .metric_name_selectors
            .iter()
            .enumerate()
            .map(|(j, s)| regex(format!("{at}.metric_name_selectors[{j}]"), s))
            .collect::<Result<_, _>>()?;
        let matchers = raw
            .label_matchers
            .into_iter()
            .enumerate()
            .map(|(j, m)| {
                if m.label_names.is_empty() {
                    return Err(ConfigError(format!(
                        "{at}.label_matchers[{j}] has no label_names"
                    )));
                }
                Ok(LabelMatcher {
                    regex: regex(format!("{at}.label_matchers[{j}].regex"), &m.regex)?,
                    names: m.label_names,
                    separator: m
                        .separator
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| ";".into()),
                })
            })
            .collect::<Result<_, _>>()?;
        let mut dimensions: Vec<Vec<String>> = Vec::new();
        for (j, mut set) in raw.dimensions.into_iter().enumerate() {
            set.sort();
            set.dedup();
            if set.len() > MAX_DIMENSIONS {
                return Err(ConfigError(format!(
                    "{at}.dimensions[{j}] has {} keys: CloudWatch takes at most {MAX_DIMENSIONS} a dimension set",
                    set.len()
                )));
            }
            if !dimensions.contains(&set) {
                dimensions.push(set);
            }
        }
        Ok(Declaration {
            dimensions,
            selectors,
            matchers,
        })
    }

    /// Whether the labels match (any matcher; no matchers match all).
    pub fn matches_labels(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.matchers.is_empty()
            || self.matchers.iter().any(|m| {
                let joined = m
                    .names
                    .iter()
                    .map(|n| labels.get(n).map_or("", String::as_str))
                    .collect::<Vec<_>>()
                    .join(&m.separator);
                m.regex.is_match(&joined)
            })
    }

    /// Whether a selector matches the metric's name.
    pub fn matches_name(&self, name: &str) -> bool {
        self.selectors.iter().any(|r| r.is_match(name))
    }

    /// The declared dimension sets all of whose keys the labels have.
    pub fn dimensions_for<'a>(
        &'a self,
        labels: &'a std::collections::BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a Vec<String>> + 'a {
        self.dimensions
            .iter()
            .filter(|set| set.iter().all(|k| labels.contains_key(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporters_keys_are_read() {
        let config = Config::parse(
            r#"{"namespace": "Shop", "resource_dimensions": ["service.name"],
                "dimension_rollup_option": "NoDimensionRollup",
                "metric_declarations": [{"dimensions": [["b", "a", "a"], ["a", "b"]], "metric_name_selectors": ["^http_"],
                  "label_matchers": [{"label_names": ["a", "b"], "regex": "^x;y$"}]}],
                "metric_descriptors": [{"metric_name": "q", "unit": "Count", "overwrite": true}],
                "retain_initial_value_of_delta_metric": true}"#,
        )
        .expect("valid");
        assert_eq!(config.namespace.as_deref(), Some("Shop"));
        assert_eq!(config.rollup, Rollup::None);
        let d = &config.declarations[0];
        assert_eq!(d.dimensions, vec![vec!["a".to_owned(), "b".to_owned()]]);
        assert!(d.matches_name("http_requests") && !d.matches_name("rpc_calls"));
        let labels = [("a", "x"), ("b", "y")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert!(d.matches_labels(&labels));
        assert!(config.retain_initial_value_of_delta_metric);
        assert_eq!(
            Config::parse("{}").expect("empty").rollup,
            Rollup::ZeroAndSingle
        );
    }

    #[test]
    fn mistakes_name_the_field() {
        let err = |text: &str| Config::parse(text).expect_err(text).0;
        assert!(
            err(r#"{"dimension_rolup_option": "x"}"#)
                .contains("unknown field `dimension_rolup_option`")
        );
        assert!(
            err(r#"{"dimension_rollup_option": "Single"}"#).contains("unknown variant `Single`")
        );
        assert!(
            err(r#"{"metric_declarations": [{"dimensions": [["a"]]}]}"#)
                .contains("metric_declarations[0] has no metric_name_selectors")
        );
        assert!(
            err(r#"{"metric_declarations": [{"metric_name_selectors": ["("]}]}"#).contains(
                "metric_declarations[0].metric_name_selectors[0] \"(\" is not a regular expression"
            )
        );
        let wide: Vec<String> = (0..31).map(|i| format!("k{i}")).collect();
        let text = serde_json::json!({"metric_declarations": [{"dimensions": [wide], "metric_name_selectors": ["."]}]});
        assert!(err(&text.to_string()).contains("has 31 keys"));
        assert!(
            err(r#"{"metric_descriptors": [{"metric_name": "a", "unit": "ms"}]}"#)
                .contains("\"ms\" is not a CloudWatch unit")
        );
        assert!(err(r#"{"namespace": ""}"#).contains("namespace is empty"));
    }
}
