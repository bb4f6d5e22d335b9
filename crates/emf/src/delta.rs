//! Cumulative values as deltas per stream, within one process: the
//! awsemfexporter's calculator. A stream is a namespace, a metric name and
//! its labels; one not seen for [`EXPIRY`] starts over.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A stream unseen this long is forgotten (the exporter's expiry).
pub(crate) const EXPIRY: Duration = Duration::from_secs(300);
/// Streams remembered at most; past it, expired ones are dropped first.
const MAX_STREAMS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Deltas {
    previous: HashMap<String, (Vec<f64>, Instant)>,
}

impl Deltas {
    /// The delta of `current` (one or more cumulative figures of a stream)
    /// from the stream's previous figures, and remembers `current`. `None`
    /// for a stream's first figures. A figure smaller than before means
    /// the stream was reset: its delta is the figure itself.
    pub(crate) fn delta(&mut self, key: String, current: &[f64], now: Instant) -> Option<Vec<f64>> {
        if self.previous.len() >= MAX_STREAMS && !self.previous.contains_key(&key) {
            self.previous
                .retain(|_, (_, seen)| now.duration_since(*seen) < EXPIRY);
            if self.previous.len() >= MAX_STREAMS {
                self.previous.clear();
            }
        }
        let previous = self.previous.insert(key, (current.to_vec(), now));
        let (before, seen) = previous?;
        if now.duration_since(seen) >= EXPIRY || before.len() != current.len() {
            return None;
        }
        Some(
            current
                .iter()
                .zip(&before)
                .map(|(now, before)| {
                    let delta = now - before;
                    if delta >= 0.0 { delta } else { *now }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_per_stream_with_resets_and_expiry() {
        let mut d = Deltas::default();
        let t = Instant::now();
        assert_eq!(d.delta("a".into(), &[10.0], t), None);
        assert_eq!(d.delta("a".into(), &[15.0], t), Some(vec![5.0]));
        assert_eq!(d.delta("b".into(), &[1.0], t), None, "streams are separate");
        assert_eq!(d.delta("a".into(), &[3.0], t), Some(vec![3.0]), "a reset");
        let later = t + EXPIRY;
        assert_eq!(d.delta("a".into(), &[9.0], later), None, "expired");
        assert_eq!(d.delta("a".into(), &[12.0], later), Some(vec![3.0]));
    }
}
