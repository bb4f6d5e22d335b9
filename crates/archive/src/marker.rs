//! Forward markers: the archive objects that name batches whose forwarding
//! failed (`forward-pending/{signal}/{id}.json`), written by the server and
//! read by the forwarding retry (which re-sends the raw objects a marker
//! names, then deletes it) and by compaction (which keeps those raw objects
//! until then).

use otelvault_codec::Signal;
use otelvault_storage::{ObjectKey, StorageError};
use serde_json::{Value, json};

use crate::content_id;

/// Where markers are, under the archive's root.
pub const FORWARD_PENDING_PREFIX: &str = "forward-pending/";

/// The version of the marker format written.
const VERSION: u64 = 1;

/// A batch whose forwarding failed: the raw objects it was archived as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardMarker {
    /// The batch's signal.
    pub signal: Signal,
    /// The keys of the raw objects to re-send.
    pub keys: Vec<String>,
    /// Where forwarding went (for operators).
    pub target: String,
    /// Why it failed (for operators).
    pub error: String,
    /// When it failed, unix nanoseconds.
    pub failed_at: u64,
}

impl ForwardMarker {
    /// The marker's key: named by its objects, so writing it twice writes
    /// one marker.
    pub fn key(&self) -> Result<ObjectKey, StorageError> {
        let id = content_id(self.keys.join("\n").as_bytes());
        ObjectKey::new(format!("{FORWARD_PENDING_PREFIX}{}/{id}.json", self.signal).as_str())
    }

    /// The marker as stored.
    pub fn to_json(&self) -> String {
        json!({
            "version": VERSION,
            "signal": self.signal.as_str(),
            "keys": self.keys,
            "target": self.target,
            "error": self.error,
            "failed_at": self.failed_at.to_string(),
        })
        .to_string()
    }

    /// Reads a stored marker; the error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let marker: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not a forward marker: {e}"))?;
        let signal = marker["signal"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or("a forward marker without a signal")?;
        let keys = marker["keys"]
            .as_array()
            .ok_or("a forward marker without keys")?
            .iter()
            .map(|k| {
                k.as_str()
                    .map(str::to_owned)
                    .ok_or("a key that is not a string")
            })
            .collect::<Result<_, _>>()?;
        let text = |field: &str| marker[field].as_str().unwrap_or_default().to_owned();
        Ok(ForwardMarker {
            signal,
            keys,
            target: text("target"),
            error: text("error"),
            failed_at: text("failed_at").parse().unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_reads_back_as_written_and_is_named_by_its_objects() {
        let marker = ForwardMarker {
            signal: Signal::Logs,
            keys: vec!["year=2024/month=10/day=27/hour=03/minute=33/logs_ab.json.gz".into()],
            target: "http://127.0.0.1:4318/v1/logs".into(),
            error: "503".into(),
            failed_at: 1_729_999_999_000_000_000,
        };
        assert_eq!(
            ForwardMarker::parse(marker.to_json().as_bytes()),
            Ok(marker.clone())
        );
        let key = marker.key().expect("key");
        assert!(key.as_str().starts_with("forward-pending/logs/"), "{key}");
        let other = ForwardMarker {
            error: "timeout".into(),
            ..marker.clone()
        };
        assert_eq!(
            other.key().expect("key"),
            key,
            "the same objects, one marker"
        );
        assert!(ForwardMarker::parse(br#"{"keys": []}"#).is_err());
        assert!(ForwardMarker::parse(br#"{"signal": "logs", "keys": [1]}"#).is_err());
    }
}
