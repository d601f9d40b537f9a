//! Idempotency keys in the write path (SPEC §2.4): looking a key up inside the unit, and
//! storing the first answer with the unit's rows.

use serde::Serialize;

use crate::api::{AdjudicationOutcome, WriteReceipt};
use crate::error::{Error, Result};
use crate::idempotency::{self, Idempotency, StoredAnswer};
use crate::ledger::{Append, LedgerRead};
use crate::validate::RejectReason;

/// A write's key and the fingerprint of its request.
pub(super) struct Keyed {
    key: String,
    request: String,
}

/// What a key lookup found.
pub(super) enum Replay {
    /// The key is new: the write runs.
    Fresh,
    /// The same request was answered before: this is its answer.
    Answer(StoredAnswer),
    /// The key was used for another request.
    Reused(RejectReason),
}

impl Keyed {
    /// The key of a write of `operation` with `arguments`, if it has one; an invalid key is
    /// the reason to reject the write.
    pub(super) fn new<T: Serialize + ?Sized>(
        key: Option<&str>,
        operation: &str,
        arguments: &T,
    ) -> std::result::Result<Option<Keyed>, RejectReason> {
        let Some(key) = key else { return Ok(None) };
        idempotency::check_key(key)?;
        Ok(Some(Keyed { key: key.to_owned(), request: idempotency::fingerprint(operation, arguments) }))
    }

    /// Looks the key up in the unit's view (under the agent's serialisation).
    pub(super) fn replay(&self, view: &dyn LedgerRead) -> Result<Replay> {
        Ok(match view.idempotency(&self.key)? {
            None => Replay::Fresh,
            Some(found) if found.request == self.request => Replay::Answer(found.answer),
            Some(_) => Replay::Reused(self.reused()),
        })
    }

    /// The reason to refuse a write whose key was first used for another request.
    pub(super) fn reused(&self) -> RejectReason {
        RejectReason::IdempotencyKeyReused { key: self.key.clone() }
    }

    /// Stores `answer` under the key with the unit's rows.
    pub(super) fn attach(&self, mut append: Append, answer: StoredAnswer) -> Append {
        append.idempotency =
            Some(Box::new(Idempotency { key: self.key.clone(), request: self.request.clone(), answer }));
        append
    }
}

/// An answer a keyed write can store and give again.
pub(super) trait Replayable: Sized {
    /// The answer as stored.
    fn stored(&self) -> StoredAnswer;
    /// A stored answer as this operation's, `None` when it is another operation's.
    fn replayed(answer: StoredAnswer) -> Option<Self>;
    /// What a write whose key was used for another request answers.
    fn refused(reason: RejectReason) -> Result<Self>;
}

impl Replayable for WriteReceipt {
    fn stored(&self) -> StoredAnswer {
        StoredAnswer::Receipt(self.clone())
    }

    fn replayed(answer: StoredAnswer) -> Option<Self> {
        match answer {
            StoredAnswer::Receipt(r) => Some(r),
            _ => None,
        }
    }

    fn refused(reason: RejectReason) -> Result<Self> {
        Ok(WriteReceipt::rejected(None, reason))
    }
}

/// An applied verdict, or an expiry recorded instead (then `true`).
impl Replayable for (AdjudicationOutcome, bool) {
    fn stored(&self) -> StoredAnswer {
        match self {
            (outcome, true) => StoredAnswer::HandleExpired { handle: outcome.handle },
            (outcome, false) => StoredAnswer::Adjudication(outcome.clone()),
        }
    }

    fn replayed(answer: StoredAnswer) -> Option<Self> {
        match answer {
            StoredAnswer::Adjudication(outcome) => Some((outcome, false)),
            StoredAnswer::HandleExpired { handle } => {
                let outcome = AdjudicationOutcome {
                    handle,
                    verdict: crate::api::Verdict::Unknown,
                    seq: 0,
                    dispositions: Vec::new(),
                };
                Some((outcome, true))
            }
            StoredAnswer::Receipt(_) => None,
        }
    }

    fn refused(reason: RejectReason) -> Result<Self> {
        Err(Error::Rejected { reason })
    }
}
