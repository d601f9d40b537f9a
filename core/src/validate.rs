//! Input validation (SPEC §1.1) and the typed reasons for a `Rejected` disposition.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::ClaimRef;

/// Longest agent id, in bytes.
pub const MAX_AGENT_ID_BYTES: usize = 256;
/// Longest subject or predicate, in bytes.
pub const MAX_TERM_BYTES: usize = 1024;

/// Deepest nesting of arrays and objects a value may have. Every backend stores values as
/// JSON text and must parse them back; JSON parsers limit recursion (serde_json at 128), so
/// a deeper value is refused at the door instead of becoming unreadable later.
pub const MAX_VALUE_DEPTH: usize = 100;

/// Which input field a reject reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The agent id.
    AgentId,
    /// The subject.
    Subject,
    /// The predicate.
    Predicate,
    /// The value confidence.
    Confidence,
    /// The valid-time window's confidence.
    ValidTimeConfidence,
    /// The idempotency key.
    IdempotencyKey,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::AgentId => "agent_id",
            Field::Subject => "subject",
            Field::Predicate => "predicate",
            Field::Confidence => "confidence",
            Field::ValidTimeConfidence => "valid_time.confidence",
            Field::IdempotencyKey => "idempotency_key",
        })
    }
}

/// Which parent list a reject reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// `derived_from`.
    DerivedFrom,
    /// `depends_on`.
    DependsOn,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::DerivedFrom => "derived_from",
            Relation::DependsOn => "depends_on",
        })
    }
}

/// Why a write was `Rejected`. Nothing is persisted for a rejected write.
///
/// Wire form: `{"code": "<snake_case variant>", ...fields}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// A required string is empty.
    #[error("{field} is empty")]
    Empty {
        /// Which field.
        field: Field,
    },
    /// A string is longer than allowed.
    #[error("{field} is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Which field.
        field: Field,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string holds a NUL byte.
    #[error("{field} contains a NUL byte")]
    ContainsNul {
        /// Which field.
        field: Field,
    },
    /// An agent id holds a control character.
    #[error("{field} contains a control character")]
    ContainsControl {
        /// Which field.
        field: Field,
    },
    /// The serialised value is larger than `max_value_bytes`.
    #[error("value is {size} bytes serialised, more than the {max} allowed")]
    ValueTooLarge {
        /// Serialised size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The value nests arrays/objects deeper than [`MAX_VALUE_DEPTH`].
    #[error("value nests {depth} levels deep, more than the {max} allowed")]
    ValueTooDeep {
        /// Its nesting depth (counted up to one past the limit).
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// A confidence is NaN, infinite or outside [0, 1].
    #[error("{field} {value} is not a finite number in [0, 1]")]
    ConfidenceOutOfRange {
        /// Which confidence.
        field: Field,
        /// The value given (as text, since NaN has no JSON form).
        value: String,
    },
    /// A parent claim does not exist for this agent.
    #[error("{relation} parent {claim_ref} does not exist for this agent")]
    UnknownParent {
        /// Which list.
        relation: Relation,
        /// The missing claim.
        claim_ref: ClaimRef,
    },
    /// A parent claim is listed twice.
    #[error("{relation} lists parent {claim_ref} more than once")]
    DuplicateParent {
        /// Which list.
        relation: Relation,
        /// The repeated claim.
        claim_ref: ClaimRef,
    },
    /// The claim named by resolve/invalidate/reinstate does not exist for this agent.
    #[error("claim {claim_ref} does not exist for this agent")]
    UnknownClaim {
        /// The claim given.
        claim_ref: ClaimRef,
    },
    /// The resolve winner belongs to another line.
    #[error("claim {claim_ref} is not on line ({subject}, {predicate})")]
    WrongLine {
        /// The claim given.
        claim_ref: ClaimRef,
        /// The line's subject.
        subject: String,
        /// The line's predicate.
        predicate: String,
    },
    /// The claim is not live, but the operation needs a live claim (resolve winner, invalidate).
    #[error("claim {claim_ref} is not live")]
    NotLive {
        /// The claim given.
        claim_ref: ClaimRef,
    },
    /// Only Superseded or Invalidated claims can be reinstated.
    #[error("claim {claim_ref} is {disposition:?}; only Superseded or Invalidated claims can be reinstated")]
    NotReinstatable {
        /// The claim given.
        claim_ref: ClaimRef,
        /// Its current disposition.
        disposition: crate::disposition::Disposition,
    },
    /// The idempotency key was first used with a different request (SPEC §2.4).
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyKeyReused {
        /// The key given.
        key: String,
    },
}

pub(crate) fn term(field: Field, s: &str, max: usize, forbid_control: bool) -> Result<(), RejectReason> {
    if s.is_empty() {
        return Err(RejectReason::Empty { field });
    }
    if s.len() > max {
        return Err(RejectReason::TooLong { field, len: s.len(), max });
    }
    if s.contains('\0') {
        return Err(RejectReason::ContainsNul { field });
    }
    if forbid_control && s.chars().any(char::is_control) {
        return Err(RejectReason::ContainsControl { field });
    }
    Ok(())
}

/// Checks an agent id: 1–256 bytes, no NUL, no control characters.
pub fn agent_id(s: &str) -> Result<(), RejectReason> {
    term(Field::AgentId, s, MAX_AGENT_ID_BYTES, true)
}

/// Checks a subject or predicate: 1–1024 bytes, no NUL.
pub fn subject_or_predicate(field: Field, s: &str) -> Result<(), RejectReason> {
    term(field, s, MAX_TERM_BYTES, false)
}

/// Checks that a value nests no deeper than [`MAX_VALUE_DEPTH`] (iteratively: a hostile value
/// cannot overflow the stack here).
pub fn value_depth(value: &serde_json::Value) -> Result<(), RejectReason> {
    let mut stack: Vec<(&serde_json::Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match v {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        let depth = depth + 1;
        if depth > MAX_VALUE_DEPTH {
            return Err(RejectReason::ValueTooDeep { depth, max: MAX_VALUE_DEPTH });
        }
        stack.extend(children.map(|c| (c, depth)));
    }
    Ok(())
}

/// Checks a confidence: finite and within [0, 1].
pub fn confidence(field: Field, c: f32) -> Result<(), RejectReason> {
    if c.is_finite() && (0.0..=1.0).contains(&c) {
        Ok(())
    } else {
        Err(RejectReason::ConfidenceOutOfRange { field, value: c.to_string() })
    }
}

/// Checks a parent list: no claim twice (existence is checked against storage by the engine).
/// Linear in the list's length, so a long list (e.g. in an import file) costs no more than
/// reading it.
pub fn parents_unique(relation: Relation, parents: &[ClaimRef]) -> Result<(), RejectReason> {
    let mut seen = std::collections::HashSet::with_capacity(parents.len());
    for p in parents {
        if !seen.insert(p) {
            return Err(RejectReason::DuplicateParent { relation, claim_ref: *p });
        }
    }
    Ok(())
}
