//! Query cursors: an opaque position, sealed with AES-256-GCM so that a
//! client can neither read nor forge one. The signal and a fingerprint of
//! the query are the associated data: a cursor only opens for the query
//! that produced it. A cursor lasts a day ([`LIFETIME`]): one copied out
//! of a log or a shell history stops working by itself.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use otelvault_archive::{Chunk, Position};

/// Bumped whenever the payload layout changes; older cursors are refused.
const VERSION: u8 = 3;
/// How long a cursor opens after it was sealed.
pub const LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn now_secs() -> u64 {
    otelvault_codec::now_unix_nanos() / 1_000_000_000
}
const NONCE_LEN: usize = 12;

/// Seals and opens cursors.
#[derive(Clone)]
pub struct CursorSealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for CursorSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSealer")
    }
}

impl CursorSealer {
    /// A sealer with this 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        CursorSealer {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// The opaque cursor text for `position` under `context` (signal and
    /// query fingerprint).
    pub fn seal(&self, position: &Position, context: &[u8]) -> String {
        self.seal_at(position, context, now_secs())
    }

    fn seal_at(&self, position: &Position, context: &[u8], now: u64) -> String {
        let mut plain = Vec::with_capacity(70 + position.key.len());
        plain.push(VERSION);
        plain.extend_from_slice(&now.to_be_bytes());
        plain.extend_from_slice(&position.end.to_be_bytes());
        plain.extend_from_slice(&position.unit_start.to_be_bytes());
        plain.push(u8::from(position.include_key));
        plain.extend_from_slice(&position.skip.to_be_bytes());
        plain.extend_from_slice(&position.covered.to_be_bytes());
        let chunk = position.chunk.unwrap_or(Chunk { first: 0, rows: 0 });
        plain.push(u8::from(position.chunk.is_some()));
        plain.extend_from_slice(&chunk.first.to_be_bytes());
        plain.extend_from_slice(&chunk.rows.to_be_bytes());
        plain.extend_from_slice(position.key.as_bytes());
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: context,
                },
            )
            // Encryption fails only for inputs beyond 64 GiB.
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// Opens a cursor; `None` when it was tampered with, made for another
    /// query or signal, sealed with another key, is of an older format, or
    /// is older than [`LIFETIME`].
    pub fn open(&self, cursor: &str, context: &[u8]) -> Option<Position> {
        self.open_at(cursor, context, now_secs())
    }

    fn open_at(&self, cursor: &str, context: &[u8], now: u64) -> Option<Position> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor.trim())
            .ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context,
                },
            )
            .ok()?;
        let (&version, rest) = plain.split_first()?;
        if version != VERSION || rest.len() < 58 {
            return None;
        }
        let sealed_at = u64::from_be_bytes(rest[..8].try_into().ok()?);
        if now.saturating_sub(sealed_at) > LIFETIME.as_secs() {
            return None;
        }
        let rest = &rest[8..];
        let u64_at = |i: usize| {
            rest.get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        Some(Position {
            end: u64_at(0)?,
            unit_start: u64_at(8)?,
            include_key: rest[16] == 1,
            skip: u64_at(17)?,
            covered: u64_at(25)?,
            chunk: match rest[33] {
                0 => None,
                _ => Some(Chunk {
                    first: u64_at(34)?,
                    rows: u64_at(42)?,
                }),
            },
            key: String::from_utf8(rest[50..].to_vec()).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> Position {
        Position {
            end: 1_730_000_000_000_000_000,
            unit_start: 1_729_999_980_000_000_000,
            key: "year=2024/month=10/day=27/hour=03/minute=33/traces_abc.json.gz".into(),
            include_key: true,
            skip: 17,
            chunk: Some(Chunk {
                first: 4096,
                rows: 1001,
            }),
            covered: 180,
        }
    }

    #[test]
    fn cursors_round_trip_and_are_opaque() {
        let s = CursorSealer::new(&[7; 32]);
        let c = s.seal(&position(), b"traces:fp");
        assert!(!c.contains("traces_abc"), "the key is not readable");
        assert_eq!(s.open(&c, b"traces:fp"), Some(position()));
        // Two seals of one position differ (random nonce).
        assert_ne!(c, s.seal(&position(), b"traces:fp"));
    }

    #[test]
    fn tampered_foreign_and_garbage_cursors_do_not_open() {
        let s = CursorSealer::new(&[7; 32]);
        let c = s.seal(&position(), b"traces:fp");
        assert_eq!(s.open(&c, b"logs:fp"), None, "another signal");
        assert_eq!(s.open(&c, b"traces:other"), None, "another query");
        assert_eq!(
            CursorSealer::new(&[8; 32]).open(&c, b"traces:fp"),
            None,
            "another key"
        );
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&c)
            .expect("b64");
        for i in [0, 12, bytes.len() - 1] {
            bytes[i] ^= 1;
            let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(s.open(&flipped, b"traces:fp"), None, "bit {i}");
            bytes[i] ^= 1;
        }
        for garbage in ["", "abc", "!!!", &"A".repeat(200)] {
            assert_eq!(s.open(garbage, b"traces:fp"), None);
        }
    }

    #[test]
    fn a_cursor_lasts_a_day() {
        let s = CursorSealer::new(&[7; 32]);
        let sealed_at = 1_800_000_000;
        let c = s.seal_at(&position(), b"traces:fp", sealed_at);
        let day = LIFETIME.as_secs();
        assert_eq!(
            s.open_at(&c, b"traces:fp", sealed_at + day),
            Some(position())
        );
        assert_eq!(s.open_at(&c, b"traces:fp", sealed_at + day + 1), None);
    }
}
