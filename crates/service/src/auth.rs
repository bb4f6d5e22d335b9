//! API keys: configured key sets per scope, presented in
//! `Oteleport-Access-Key` or `Authorization: Bearer`, compared in constant
//! time. Secrets never appear in logs or `Debug` output; a key is named by
//! its id (`id:secret` entries) or its position.

use std::fmt;
use std::str::FromStr;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The shortest secret accepted: anything shorter is guessable.
const MIN_SECRET_LEN: usize = 8;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Send OTLP data.
    Ingest,
    /// Read the archive.
    Query,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Ingest => "ingest",
            Scope::Query => "query",
        })
    }
}

#[derive(Clone)]
struct Key {
    /// Shown in logs instead of the secret.
    id: String,
    /// Whether the id was configured (`id:secret`) rather than numbered.
    named: bool,
    /// SHA-256 of the secret: comparing fixed-size digests hides the length.
    digest: [u8; 32],
}

/// A set of secrets allowed one scope.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.id))
            .finish()
    }
}

fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

impl FromStr for KeySet {
    type Err = String;

    /// `secret1,secret2` or `ci:secret1,laptop:secret2`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut keys = Vec::new();
        if s.trim().is_empty() {
            return Ok(KeySet { keys });
        }
        for (i, entry) in s.split(',').enumerate() {
            let entry = entry.trim();
            let (id, named, secret) = match entry.split_once(':') {
                Some((id, secret)) if !id.is_empty() => (id.to_owned(), true, secret),
                _ => (format!("key#{}", i + 1), false, entry),
            };
            if secret.len() < MIN_SECRET_LEN {
                return Err(format!(
                    "entry {} ({id}) is shorter than {MIN_SECRET_LEN} characters or empty",
                    i + 1
                ));
            }
            keys.push(Key {
                id,
                named,
                digest: digest(secret.as_bytes()),
            });
        }
        Ok(KeySet { keys })
    }
}

impl KeySet {
    /// A digest of every key in the set (for deriving other secrets).
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for key in &self.keys {
            h.update(key.digest);
        }
        h.finalize().into()
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The id of the key matching what a client presented: the secret, or
    /// a key configured as `id:secret` presented whole, as it was written in
    /// the configuration. Every key is checked, so that the time taken does
    /// not depend on which key (if any) matched.
    fn find(&self, presented: &[u8]) -> Option<&str> {
        let whole = digest(presented);
        let split = presented
            .iter()
            .position(|&b| b == b':')
            .map(|i| (&presented[..i], digest(&presented[i + 1..])));
        let mut found = None;
        for key in &self.keys {
            let as_secret = key.digest.ct_eq(&whole);
            // Ids are not secret (they are logged): compared plainly.
            let as_configured = match &split {
                Some((id, secret)) if key.named && key.id.as_bytes() == *id => {
                    key.digest.ct_eq(secret)
                }
                _ => subtle::Choice::from(0),
            };
            if bool::from(as_secret | as_configured) {
                found = Some(key.id.as_str());
            }
        }
        found
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No key presented: 401.
    #[error(
        "missing API key: send it in the Oteleport-Access-Key header or as Authorization: Bearer <key>"
    )]
    Missing,
    /// A key that matches no configured key: 403.
    #[error("invalid API key")]
    Invalid,
    /// A valid key without this scope: 403.
    #[error("this API key is not allowed to {0}")]
    WrongScope(Scope),
}

/// The authenticator: both key sets, or nothing to check.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    enforced: bool,
    ingest: KeySet,
    query: KeySet,
}

impl Auth {
    /// Checks keys when `enforced`; otherwise lets every request through.
    pub fn new(enforced: bool, ingest: KeySet, query: KeySet) -> Self {
        Auth {
            enforced,
            ingest,
            query,
        }
    }

    /// Authorizes a request for `scope`; returns the key id used (for logs),
    /// or `None` when keys are not enforced.
    pub fn check(&self, headers: &HeaderMap, scope: Scope) -> Result<Option<String>, AuthError> {
        if !self.enforced {
            return Ok(None);
        }
        let secret = presented_key(headers).ok_or(AuthError::Missing)?;
        let wanted = match scope {
            Scope::Ingest => &self.ingest,
            Scope::Query => &self.query,
        };
        if let Some(id) = wanted.find(secret) {
            return Ok(Some(id.to_owned()));
        }
        let other = match scope {
            Scope::Ingest => &self.query,
            Scope::Query => &self.ingest,
        };
        match other.find(secret) {
            Some(_) => Err(AuthError::WrongScope(scope)),
            None => Err(AuthError::Invalid),
        }
    }
}

/// The key from `Oteleport-Access-Key`, else from `Authorization: Bearer`.
fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get("oteleport-access-key") {
        let v = v.as_bytes().trim_ascii();
        return (!v.is_empty()).then_some(v);
    }
    let auth = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = auth.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header"));
        }
        h
    }

    fn auth() -> Auth {
        Auth::new(
            true,
            "ci:ingest-secret-1,ingest-secret-2".parse().expect("keys"),
            "query-secret-1".parse().expect("keys"),
        )
    }

    #[test]
    fn keys_in_either_header_authorize_their_scope() {
        let a = auth();
        assert_eq!(
            a.check(
                &headers(&[("oteleport-access-key", "ingest-secret-1")]),
                Scope::Ingest
            ),
            Ok(Some("ci".into()))
        );
        assert_eq!(
            a.check(
                &headers(&[("authorization", "Bearer ingest-secret-2")]),
                Scope::Ingest
            ),
            Ok(Some("key#2".into()))
        );
        assert_eq!(
            a.check(
                &headers(&[("authorization", "bearer  query-secret-1 ")]),
                Scope::Query
            ),
            Ok(Some("key#1".into()))
        );
    }

    #[test]
    fn named_keys_may_be_presented_whole_as_configured() {
        let a = auth();
        for presented in ["ci:ingest-secret-1", "ingest-secret-1"] {
            assert_eq!(
                a.check(
                    &headers(&[("oteleport-access-key", presented)]),
                    Scope::Ingest
                ),
                Ok(Some("ci".into())),
                "{presented}"
            );
        }
        // The id must be the key's own, and numbered keys have none to give.
        for presented in [
            "cd:ingest-secret-1",
            "key#2:ingest-secret-2",
            ":ingest-secret-1",
        ] {
            assert_eq!(
                a.check(
                    &headers(&[("oteleport-access-key", presented)]),
                    Scope::Ingest
                ),
                Err(AuthError::Invalid),
                "{presented}"
            );
        }
    }

    #[test]
    fn missing_wrong_and_wrong_scope_keys_are_refused() {
        let a = auth();
        assert_eq!(
            a.check(&headers(&[]), Scope::Ingest),
            Err(AuthError::Missing)
        );
        assert_eq!(
            a.check(&headers(&[("authorization", "Basic abc")]), Scope::Ingest),
            Err(AuthError::Missing)
        );
        assert_eq!(
            a.check(&headers(&[("oteleport-access-key", "")]), Scope::Ingest),
            Err(AuthError::Missing)
        );
        assert_eq!(
            a.check(
                &headers(&[("oteleport-access-key", "guess")]),
                Scope::Ingest
            ),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            a.check(
                &headers(&[("oteleport-access-key", "ingest-secret-1x")]),
                Scope::Ingest
            ),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            a.check(
                &headers(&[("oteleport-access-key", "query-secret-1")]),
                Scope::Ingest
            ),
            Err(AuthError::WrongScope(Scope::Ingest))
        );
        assert_eq!(
            a.check(
                &headers(&[("oteleport-access-key", "ingest-secret-1")]),
                Scope::Query
            ),
            Err(AuthError::WrongScope(Scope::Query))
        );
    }

    #[test]
    fn not_enforced_lets_everything_through() {
        let a = Auth::new(false, KeySet::default(), KeySet::default());
        assert_eq!(a.check(&headers(&[]), Scope::Query), Ok(None));
    }

    #[test]
    fn secrets_never_show_in_debug_output_and_short_ones_are_refused() {
        let set: KeySet = "ci:very-secret-value".parse().expect("keys");
        let shown = format!("{set:?} {:?}", auth());
        assert!(
            !shown.contains("very-secret-value") && !shown.contains("ingest-secret"),
            "{shown}"
        );
        assert!("short".parse::<KeySet>().is_err());
        assert!("id:".parse::<KeySet>().is_err());
        assert!("".parse::<KeySet>().expect("empty").is_empty());
    }
}
