"""Typed, immutable results: each built from the JSON document `credence --json` prints for the
same operation, which `to_dict()` gives back unchanged."""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

Json = Any


class Disposition(enum.Enum):
    """What became of a claim (SPEC §1.6)."""

    COMMITTED_CHEAP = "CommittedCheap"
    COMMITTED_INFERRED = "CommittedInferred"
    QUEUED_FOR_ADJUDICATION = "QueuedForAdjudication"
    CONTESTED = "Contested"
    PENDING_CONFLICT = "PendingConflict"
    PENDING_LOW_CONFIDENCE = "PendingLowConfidence"
    QUARANTINED = "Quarantined"
    SUPERSEDED = "Superseded"
    INVALIDATED = "Invalidated"
    REINSTATED = "Reinstated"
    PENDING_REVIEW = "PendingReview"
    REJECTED = "Rejected"


class BeliefStatus(enum.Enum):
    """What a line's belief is."""

    RESOLVED = "Resolved"
    CONTESTED = "Contested"
    TIMING_UNCERTAIN = "TimingUncertain"
    NO_BELIEF = "NoBelief"


class ClaimStatus(enum.Enum):
    """A claim's status in a history."""

    CURRENT = "Current"
    SUPERSEDED = "Superseded"
    INVALIDATED = "Invalidated"
    QUARANTINED = "Quarantined"
    PENDING = "Pending"


class Verdict(enum.Enum):
    """A verdict on a queued contradiction."""

    AFFIRM = "affirm"
    DENY = "deny"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class _Document:
    """A result and the document it was read from."""

    _doc: Dict[str, Json] = field(repr=False, compare=False)

    def to_dict(self) -> Dict[str, Json]:
        """The operation's JSON document, as `credence --json` prints it."""
        return copy.deepcopy(self._doc)


@dataclass(frozen=True)
class WriteReceipt(_Document):
    """What a write did. A `Rejected` write is a receipt too (`reason` says why)."""

    disposition: Disposition
    claim_ref: Optional[str]
    seq: Optional[int]
    tx_time: Optional[int]
    contested_with: Tuple[str, ...]
    handle: Optional[str]
    rationale: Optional[str]
    reason: Optional[str]

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "WriteReceipt":
        return WriteReceipt(
            _doc=d,
            disposition=Disposition(d["disposition"]),
            claim_ref=d.get("claim_ref"),
            seq=d.get("seq"),
            tx_time=d.get("tx_time"),
            contested_with=tuple(d.get("contested_with") or ()),
            handle=d.get("handle"),
            rationale=d.get("rationale"),
            reason=d.get("reason_message"),
        )


@dataclass(frozen=True)
class Candidate(_Document):
    """One distinct live value of a line and the claims that support it."""

    value: Json
    claim_ref: str
    supporting: Tuple[str, ...]
    provenance: Json
    confidence: float
    valid_time: Optional[Dict[str, Json]]

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "Candidate":
        return Candidate(
            _doc=d,
            value=d["value"],
            claim_ref=d["claim_ref"],
            supporting=tuple(d["supporting"]),
            provenance=d["provenance"],
            confidence=d["confidence"],
            valid_time=d.get("valid_time"),
        )


@dataclass(frozen=True)
class Belief(_Document):
    """What to hold true for a line, derived at read time (SPEC §3.2)."""

    status: BeliefStatus
    value: Json
    values: Tuple[Json, ...]
    candidates: Tuple[Candidate, ...]
    primary_claim: Optional[str]
    corroboration_count: int
    markers: Tuple[str, ...]
    currency: Optional[str]
    as_of_seq: int

    @property
    def is_contested(self) -> bool:
        return self.status is BeliefStatus.CONTESTED

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "Belief":
        return Belief(
            _doc=d,
            status=BeliefStatus(d["status"]),
            value=d.get("value"),
            values=tuple(d.get("values") or ()),
            candidates=tuple(Candidate.from_dict(c) for c in d.get("candidates") or ()),
            primary_claim=d.get("primary_claim"),
            corroboration_count=d.get("corroboration_count", 0),
            markers=tuple(d.get("markers") or ()),
            currency=d.get("currency"),
            as_of_seq=d.get("as_of_seq", 0),
        )


@dataclass(frozen=True)
class HistoryEntry(_Document):
    """One claim of a line's history."""

    claim_ref: str
    value: Json
    status: ClaimStatus
    disposition: Disposition
    seq: int
    tx_time: int
    provenance: Json
    confidence: float
    valid_time: Optional[Dict[str, Json]]
    markers: Tuple[str, ...]

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "HistoryEntry":
        return HistoryEntry(
            _doc=d,
            claim_ref=d["claim_ref"],
            value=d["value"],
            status=ClaimStatus(d["status"]),
            disposition=Disposition(d["disposition"]),
            seq=d["seq"],
            tx_time=d["tx_time"],
            provenance=d["provenance"],
            confidence=d["confidence"],
            valid_time=d.get("valid_time"),
            markers=tuple(d.get("markers") or ()),
        )


@dataclass(frozen=True)
class History(_Document):
    """Every claim of a line in canonical order, and the line's belief."""

    entries: Tuple[HistoryEntry, ...]
    belief: Belief
    as_of_seq: int

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "History":
        return History(
            _doc=d,
            entries=tuple(HistoryEntry.from_dict(e) for e in d["entries"]),
            belief=Belief.from_dict(d["belief"]),
            as_of_seq=d["as_of_seq"],
        )


@dataclass(frozen=True)
class SubjectSummary(_Document):
    """One subject: its lines and live claims."""

    subject: str
    lines: int
    live: int

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "SubjectSummary":
        return SubjectSummary(_doc=d, subject=d["subject"], lines=d["lines"], live=d["live"])


@dataclass(frozen=True)
class SearchHit(_Document):
    """A line a search found, with its belief."""

    subject: str
    predicate: str
    latest_seq: int
    belief: Belief

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "SearchHit":
        return SearchHit(
            _doc=d,
            subject=d["subject"],
            predicate=d["predicate"],
            latest_seq=d["latest_seq"],
            belief=Belief.from_dict(d["belief"]),
        )


@dataclass(frozen=True)
class LedgerEntry(_Document):
    """One audit-trail entry."""

    seq: int
    index: int
    claim_ref: str
    event: str
    disposition: Disposition
    rationale: Dict[str, Json]

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "LedgerEntry":
        return LedgerEntry(
            _doc=d,
            seq=d["seq"],
            index=d["index"],
            claim_ref=d["claim_ref"],
            event=d["event"],
            disposition=Disposition(d["disposition"]),
            rationale=d["rationale"],
        )


@dataclass(frozen=True)
class LineageStep(_Document):
    """One ancestor of a claim."""

    depth: int
    claim_ref: str
    subject: str
    predicate: str
    value: Json

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "LineageStep":
        return LineageStep(
            _doc=d, depth=d["depth"], claim_ref=d["claim_ref"], subject=d["subject"],
            predicate=d["predicate"], value=d["value"],
        )


@dataclass(frozen=True)
class Adjudication(_Document):
    """A contradiction held for a verdict."""

    handle: str
    agent: str
    subject: str
    predicate: str
    challenger: str
    incumbents: Tuple[str, ...]
    status: str
    expires_at: Optional[int]

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "Adjudication":
        return Adjudication(
            _doc=d,
            handle=d["handle"],
            agent=d["agent"],
            subject=d["subject"],
            predicate=d["predicate"],
            challenger=d["challenger"],
            incumbents=tuple(d["incumbents"]),
            status=d["status"],
            expires_at=d.get("expires_at"),
        )


@dataclass(frozen=True)
class AdjudicationOutcome(_Document):
    """What a verdict did."""

    handle: str
    verdict: str
    seq: int
    dispositions: Tuple[Tuple[str, Disposition], ...]

    @staticmethod
    def from_dict(d: Dict[str, Json]) -> "AdjudicationOutcome":
        return AdjudicationOutcome(
            _doc=d,
            handle=d["handle"],
            verdict=d["verdict"],
            seq=d["seq"],
            dispositions=tuple((c, Disposition(x)) for c, x in d["dispositions"]),
        )
