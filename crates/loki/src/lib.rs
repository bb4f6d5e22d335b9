//! A Loki-compatible query API over the archive's logs, for Grafana's Loki
//! data source. This release has the query language: [`logql`] parses the
//! subset served and decides it on a log record's labels and line.

pub mod logql;
