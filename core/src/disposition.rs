//! The twelve dispositions (SPEC §1.6): the outcome of every write.

use serde::{Deserialize, Serialize};

/// The outcome of one write. Serialises as the variant name, e.g. `"CommittedCheap"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Disposition {
    /// Live: a first-hand fact without conflict, a corroboration, a succession, a winner.
    CommittedCheap,
    /// Live, marked `Inferred`: a model inference that agrees with, or has no, live claim.
    CommittedInferred,
    /// Live: an External contradiction waiting for the oracle.
    QueuedForAdjudication,
    /// Live: an External contradiction nothing could settle.
    Contested,
    /// Not live: a model inference contradicting a live claim.
    PendingConflict,
    /// Not live: below the confidence floor, or a recall re-entry matching nothing live.
    PendingLowConfidence,
    /// Live with a marker: a claim whose `depends_on` parent stopped being live.
    PendingReview,
    /// Not live: incoherent trusted valid time, or a recall re-entry burst.
    Quarantined,
    /// Not live: lost an adjudication or a manual resolution.
    Superseded,
    /// Not live: explicitly invalidated.
    Invalidated,
    /// Live again after being Superseded or Invalidated.
    Reinstated,
    /// Invalid input: nothing was persisted.
    Rejected,
}

impl Disposition {
    /// All twelve, in SPEC order.
    pub const ALL: [Disposition; 12] = [
        Disposition::CommittedCheap,
        Disposition::CommittedInferred,
        Disposition::QueuedForAdjudication,
        Disposition::Contested,
        Disposition::PendingConflict,
        Disposition::PendingLowConfidence,
        Disposition::PendingReview,
        Disposition::Quarantined,
        Disposition::Superseded,
        Disposition::Invalidated,
        Disposition::Reinstated,
        Disposition::Rejected,
    ];

    /// True for the dispositions that leave a claim live (SPEC §1.6).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Disposition::CommittedCheap
                | Disposition::CommittedInferred
                | Disposition::QueuedForAdjudication
                | Disposition::Contested
                | Disposition::PendingReview
                | Disposition::Reinstated
        )
    }

    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::CommittedCheap => "CommittedCheap",
            Disposition::CommittedInferred => "CommittedInferred",
            Disposition::QueuedForAdjudication => "QueuedForAdjudication",
            Disposition::Contested => "Contested",
            Disposition::PendingConflict => "PendingConflict",
            Disposition::PendingLowConfidence => "PendingLowConfidence",
            Disposition::PendingReview => "PendingReview",
            Disposition::Quarantined => "Quarantined",
            Disposition::Superseded => "Superseded",
            Disposition::Invalidated => "Invalidated",
            Disposition::Reinstated => "Reinstated",
            Disposition::Rejected => "Rejected",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Disposition> {
        Disposition::ALL.into_iter().find(|d| d.as_str() == s)
    }
}
