//! The append-only records besides claims (SPEC §1.4) and the twelve dispositions (§1.6).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::AgentId;
pub use crate::disposition::Disposition;
use crate::ids::{AssertionRef, ClaimRef, Handle};
use crate::time::Timestamp;

/// What a ledger entry records. Serialises as the variant name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// A claim row was written (state).
    ClaimCommitted,
    /// A live claim gained an External supporter (informational).
    Corroborated,
    /// A recall re-entry matched this claim by identity (informational).
    RecallReEntryDetected,
    /// A Bound or Reopen assertion was recorded against this claim (state).
    ValidityAsserted,
    /// The claim was sent to the oracle (informational).
    AdjudicationRequested,
    /// The oracle's verdict was applied to this claim (state).
    AdjudicationResolved,
    /// The adjudication expired without a verdict (state).
    AdjudicationExpired,
    /// A manual resolution was applied to this claim (state).
    Resolved,
    /// The claim was invalidated (state).
    Invalidated,
    /// The claim was reinstated (state).
    Reinstated,
    /// A `depends_on` parent of this claim stopped being live (informational).
    DependentFlaggedPendingReview,
}

impl Event {
    /// All events.
    pub const ALL: [Event; 11] = [
        Event::ClaimCommitted,
        Event::Corroborated,
        Event::RecallReEntryDetected,
        Event::ValidityAsserted,
        Event::AdjudicationRequested,
        Event::AdjudicationResolved,
        Event::AdjudicationExpired,
        Event::Resolved,
        Event::Invalidated,
        Event::Reinstated,
        Event::DependentFlaggedPendingReview,
    ];

    /// The events a [`StateMark`](crate::ledger::StateMark) is returned for: the state events
    /// plus `DependentFlaggedPendingReview` (which sets the PendingReview marker).
    pub const MARKS: [Event; 8] = [
        Event::ClaimCommitted,
        Event::ValidityAsserted,
        Event::AdjudicationResolved,
        Event::AdjudicationExpired,
        Event::Resolved,
        Event::Invalidated,
        Event::Reinstated,
        Event::DependentFlaggedPendingReview,
    ];

    /// True for the events whose disposition decides liveness (SPEC §1.6).
    pub fn is_state(self) -> bool {
        !matches!(
            self,
            Event::Corroborated
                | Event::RecallReEntryDetected
                | Event::AdjudicationRequested
                | Event::DependentFlaggedPendingReview
        )
    }

    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::ClaimCommitted => "ClaimCommitted",
            Event::Corroborated => "Corroborated",
            Event::RecallReEntryDetected => "RecallReEntryDetected",
            Event::ValidityAsserted => "ValidityAsserted",
            Event::AdjudicationRequested => "AdjudicationRequested",
            Event::AdjudicationResolved => "AdjudicationResolved",
            Event::AdjudicationExpired => "AdjudicationExpired",
            Event::Resolved => "Resolved",
            Event::Invalidated => "Invalidated",
            Event::Reinstated => "Reinstated",
            Event::DependentFlaggedPendingReview => "DependentFlaggedPendingReview",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// One audit-trail entry. Entries of one commit unit share `seq` and are ordered by `index`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The commit unit that wrote it.
    pub seq: u64,
    /// Position within the commit unit, from 0.
    pub index: u32,
    /// The claim it is about.
    pub claim_ref: ClaimRef,
    /// What happened.
    pub event: Event,
    /// The claim's disposition as of this entry.
    pub disposition: Disposition,
    /// Why, as JSON (always an object with at least `"rationale"`).
    pub rationale: Value,
    /// The commit unit's `tx_time`.
    pub recorded_at: Timestamp,
}

/// Bound or Reopen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AssertionKind {
    /// The target stops being live from `at` on.
    Bound,
    /// The target is live again from `at` on.
    Reopen,
}

/// A validity assertion against one claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assertion {
    /// Its id.
    pub assertion_ref: AssertionRef,
    /// The claim it is about.
    pub target: ClaimRef,
    /// Bound or Reopen.
    pub kind: AssertionKind,
    /// The commit unit's `tx_time`.
    pub at: Timestamp,
    /// The commit unit's `seq`.
    pub seq: u64,
}

/// The kind of an edge between two claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EdgeKind {
    /// `from` was derived from `to`.
    DerivedFrom,
    /// `from` depends on `to`.
    DependsOn,
    /// `from` corroborates `to`.
    Corroborates,
}

impl EdgeKind {
    /// The stable wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::DerivedFrom => "DerivedFrom",
            EdgeKind::DependsOn => "DependsOn",
            EdgeKind::Corroborates => "Corroborates",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<EdgeKind> {
        [EdgeKind::DerivedFrom, EdgeKind::DependsOn, EdgeKind::Corroborates]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A directed edge, unique per `(agent, from, to, kind)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Source claim.
    pub from: ClaimRef,
    /// Target claim.
    pub to: ClaimRef,
    /// Kind.
    pub kind: EdgeKind,
    /// The commit unit that wrote it.
    pub seq: u64,
}

/// The state of a pending adjudication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjudicationStatus {
    /// Waiting for a verdict.
    Pending,
    /// A verdict (or a manual resolution) closed it.
    Resolved,
    /// It passed `expires_at` without a verdict.
    Expired,
}

impl AdjudicationStatus {
    /// The stable wire name (`pending`, `resolved`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            AdjudicationStatus::Pending => "pending",
            AdjudicationStatus::Resolved => "resolved",
            AdjudicationStatus::Expired => "expired",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<AdjudicationStatus> {
        [AdjudicationStatus::Pending, AdjudicationStatus::Resolved, AdjudicationStatus::Expired]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// A pending (or closed) adjudication row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adjudication {
    /// Its handle.
    pub handle: Handle,
    /// The agent.
    pub agent_id: AgentId,
    /// The line's subject.
    pub subject: String,
    /// The line's predicate.
    pub predicate: String,
    /// The claim that contradicted the line.
    pub challenger: ClaimRef,
    /// The live claims it contradicts.
    pub incumbents: Vec<ClaimRef>,
    /// When it was queued (the challenger's `tx_time`).
    pub queued_at: Timestamp,
    /// When it expires, if a TTL is configured.
    pub expires_at: Option<Timestamp>,
    /// Pending, resolved or expired.
    pub status: AdjudicationStatus,
    /// Whether the oracle has been told.
    pub notified: bool,
    /// The commit unit that queued it.
    pub seq: u64,
}

/// A change to an adjudication row's status within a commit unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Which row.
    pub handle: Handle,
    /// Its new status.
    pub status: AdjudicationStatus,
}
