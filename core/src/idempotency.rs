//! Idempotency keys (SPEC §2.4): a retried write with the same key is answered from the first
//! one and writes nothing.
//!
//! A write that carries a key stores, in its own commit unit, an [`Idempotency`] record: the
//! key, a fingerprint of the request (SHA-256 of the operation's name and its arguments as
//! canonical JSON) and the first answer. A later write of the same agent with the same key is
//! looked up under the agent's serialisation before anything is decided: the same fingerprint
//! gets the stored answer, another one is refused (`IdempotencyKeyReused`). Backends keep
//! `UNIQUE(agent_id, key)` in storage as the backstop across processes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::{AdjudicationOutcome, WriteReceipt};
use crate::ids::Handle;
use crate::validate::{self, Field, RejectReason};

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;

/// What a write with a key answered the first time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoredAnswer {
    /// The receipt of an ingest, resolve, invalidate or reinstate.
    Receipt(WriteReceipt),
    /// The outcome of an applied verdict.
    Adjudication(AdjudicationOutcome),
    /// The verdict came after the adjudication expired (the expiry was recorded).
    HandleExpired {
        /// The handle given.
        handle: Handle,
    },
}

/// The idempotency record a keyed write stores with its commit unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Idempotency {
    /// The caller's key (1–128 bytes, no NUL), unique per agent.
    pub key: String,
    /// Lowercase hex SHA-256 of the operation and its arguments ([`fingerprint`]).
    pub request: String,
    /// The first answer, returned again to every retry with the same request.
    pub answer: StoredAnswer,
}

/// Checks a key: 1–128 bytes, no NUL.
pub fn check_key(key: &str) -> Result<(), RejectReason> {
    validate::term(Field::IdempotencyKey, key, MAX_IDEMPOTENCY_KEY_BYTES, false)
}

/// The fingerprint of a request: lowercase hex SHA-256 of `operation`, a NUL, and `arguments`
/// as JSON. Values serialise with their object keys sorted, so two requests that are equal
/// (SPEC §1.1: key order does not matter) have one fingerprint.
pub fn fingerprint<T: Serialize + ?Sized>(operation: &str, arguments: &T) -> String {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0u8]);
    // Serialising plain data into a Vec cannot fail; an empty body would still fingerprint
    // the operation.
    hasher.update(serde_json::to_vec(arguments).unwrap_or_default());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// True when `s` has the shape of a [`fingerprint`]: 64 lowercase hex digits.
pub fn is_fingerprint(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_object_key_order_and_names_the_operation() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[true,"x"]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"b":[true,"x"],"a":1}"#).unwrap();
        assert_eq!(fingerprint("ingest", &a), fingerprint("ingest", &b));
        assert_ne!(fingerprint("ingest", &a), fingerprint("resolve", &a));
        assert!(is_fingerprint(&fingerprint("ingest", &a)));
        assert!(!is_fingerprint("ABC"));
    }

    #[test]
    fn check_key_refuses_empty_long_and_nul_keys() {
        assert!(check_key("k-1").is_ok());
        assert!(check_key(&"k".repeat(128)).is_ok());
        assert!(matches!(check_key(""), Err(RejectReason::Empty { .. })));
        assert!(matches!(check_key(&"k".repeat(129)), Err(RejectReason::TooLong { .. })));
        assert!(matches!(check_key("a\0b"), Err(RejectReason::ContainsNul { .. })));
    }
}
