"""credence: a memory AI agents can trust.

Agents record claims (subject, predicate, value, with provenance, confidence and an optional
valid-time window); nothing is ever overwritten; belief is derived at read time and can be asked
for "as of" any past point; contradictions surface as Contested instead of being silently
resolved.

    >>> import credence
    >>> store = credence.open("memory:")
    >>> store.remember("agent-1", "alice", "city", "Lisbon").disposition
    <Disposition.COMMITTED_CHEAP: 'CommittedCheap'>
    >>> store.recall("agent-1", "alice", "city").value
    'Lisbon'
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from . import _credence
from ._types import (
    Adjudication,
    AdjudicationOutcome,
    Belief,
    BeliefStatus,
    Candidate,
    ClaimStatus,
    Disposition,
    History,
    HistoryEntry,
    LedgerEntry,
    LineageStep,
    SearchHit,
    SubjectSummary,
    Verdict,
    WriteReceipt,
)

__version__: str = _credence.__version__

__all__ = [
    "Adjudication", "AdjudicationOutcome", "Belief", "BeliefStatus", "Candidate", "ClaimStatus",
    "Conflict", "Corrupt", "Disposition", "Error", "HandleAlreadyClosed", "HandleExpired",
    "HandleNotFound", "History", "HistoryEntry", "InvalidArgument", "InvalidConfig", "InvalidQuery",
    "InvalidStoreUrl", "LedgerEntry", "LineageStep", "NotFound", "ReadOnly", "Rejected",
    "SchemaTooNew", "SearchHit", "Store", "SubjectSummary", "Unavailable", "Verdict",
    "WriteReceipt", "conformance", "open",
]

When = Union[str, _dt.date, _dt.datetime]
"""A point in time: a `datetime` (naive ones are taken as UTC), a `date`, or a string in the
command line's forms (`2024`, `2024-03`, `2024-03-01`, RFC 3339)."""


class Error(Exception):
    """A call that failed (SPEC §6). `retryable` says whether trying again may succeed."""

    kind: str = "Error"

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class InvalidArgument(Error, ValueError):
    """An argument does not fit the operation (a bad date, an unknown option, a limit of 0)."""


class NotFound(Error):
    """No such claim or agent."""


class HandleNotFound(Error):
    """No such adjudication handle."""


class HandleExpired(Error):
    """The adjudication expired before the verdict."""


class HandleAlreadyClosed(Error):
    """The adjudication was already settled."""


class InvalidConfig(Error):
    """The engine configuration is invalid."""


class InvalidStoreUrl(Error, ValueError):
    """The store URL cannot be opened as written."""


class Rejected(Error):
    """Input refused as a whole (an import file)."""


class InvalidQuery(Error, ValueError):
    """A read that cannot be answered as asked (a search without words)."""


class SchemaTooNew(Error):
    """The store was written by a newer version."""


class Unavailable(Error):
    """The store is busy, locked or unreachable; retrying may succeed."""


class Conflict(Error):
    """A concurrent write won; retrying may succeed."""


class ReadOnly(Error):
    """The store is read-only."""


class Corrupt(Error):
    """Stored bytes do not decode."""


class Backend(Error):
    """The backend failed otherwise."""


_KINDS: Dict[str, type] = {
    cls.__name__: cls
    for cls in (
        InvalidArgument, NotFound, HandleNotFound, HandleExpired, HandleAlreadyClosed, InvalidConfig,
        InvalidStoreUrl, Rejected, InvalidQuery, SchemaTooNew, Unavailable, Conflict, ReadOnly, Corrupt,
        Backend,
    )
}


def _raise(e: _credence.NativeError) -> Error:
    kind, message, retryable = e.args
    cls = _KINDS.get(kind, Error)
    err: Error = cls(message, retryable)
    err.kind = kind
    return err


def _when(t: Optional[When], name: str) -> Optional[str]:
    if t is None or isinstance(t, str):
        return t
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return t.isoformat()
    if isinstance(t, _dt.date):
        return t.isoformat()
    raise InvalidArgument(f"{name} must be a datetime, a date or a string, not {type(t).__name__}")


class Store:
    """One open store. Safe to share between threads; every storage call releases the GIL."""

    def __init__(self, native: _credence.NativeStore) -> None:
        self._native = native

    @property
    def url(self) -> str:
        """The store's URL, its password redacted."""
        return self._native.url()

    def _call(self, op: str, agent: str, arguments: Dict[str, Any], keep: Sequence[str] = ()) -> Dict[str, Any]:
        given = {k: v for k, v in arguments.items() if v is not None or k in keep}
        try:
            text = json.dumps(given)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"{op}: an argument is not JSON-able: {e}") from None
        try:
            doc, _summary = self._native.call(op, agent, text)
        except _credence.NativeError as e:
            raise _raise(e) from None
        result: Dict[str, Any] = json.loads(doc)
        return result

    def remember(
        self,
        agent: str,
        subject: str,
        predicate: str,
        value: Any,
        *,
        provenance: str = "first-hand",
        confidence: Optional[float] = None,
        criticality: Optional[str] = None,
        set_valued: bool = False,
        valid_from: Optional[When] = None,
        valid_until: Optional[When] = None,
        valid_confidence: Optional[float] = None,
        derived_from: Sequence[str] = (),
        depends_on: Sequence[str] = (),
        queue: bool = False,
        idempotency_key: Optional[str] = None,
    ) -> WriteReceipt:
        """Records a claim. `provenance` is `user`, `first-hand`, `recall` or `model`;
        `criticality` `low`, `medium`, `high` or `critical`; `value` any JSON-able object."""
        doc = self._call("remember", agent, {
            "subject": subject, "predicate": predicate, "value": value, "provenance": provenance,
            "confidence": confidence, "criticality": criticality, "set_valued": set_valued,
            "valid_from": _when(valid_from, "valid_from"), "valid_until": _when(valid_until, "valid_until"),
            "valid_confidence": valid_confidence, "derived_from": list(derived_from),
            "depends_on": list(depends_on), "queue": queue, "idempotency_key": idempotency_key,
        }, keep=("value",))
        return WriteReceipt.from_dict(doc)

    def recall(
        self,
        agent: str,
        subject: str,
        predicate: str,
        *,
        as_of: Optional[When] = None,
        as_of_seq: Optional[int] = None,
        valid_at: Optional[When] = None,
    ) -> Belief:
        """The belief of a line, now or as the memory stood at `as_of` / after `as_of_seq`, for
        the moment `valid_at` in the world."""
        doc = self._call("recall", agent, {
            "subject": subject, "predicate": predicate, "as_of": _when(as_of, "as_of"),
            "as_of_seq": as_of_seq, "valid_at": _when(valid_at, "valid_at"),
        })
        return Belief.from_dict(doc)

    def history(
        self,
        agent: str,
        subject: str,
        predicate: str,
        *,
        as_of: Optional[When] = None,
        as_of_seq: Optional[int] = None,
        page_size: int = 1000,
    ) -> History:
        """Every claim of a line in canonical order (read page by page, every page pinned to
        the first one's seq), and its belief."""
        arguments: Dict[str, Any] = {
            "subject": subject, "predicate": predicate, "as_of": _when(as_of, "as_of"),
            "as_of_seq": as_of_seq, "limit": page_size,
        }
        first = self._call("history", agent, arguments)
        entries = list(first["entries"])
        arguments.update(as_of=None, as_of_seq=first["as_of_seq"])
        nxt = first.get("next")
        while nxt is not None:
            page = self._call("history", agent, dict(arguments, after=nxt))
            entries.extend(page["entries"])
            nxt = page.get("next")
        doc = {k: v for k, v in first.items() if k != "next"}
        doc["entries"] = entries
        return History.from_dict(doc)

    def subject(
        self,
        agent: str,
        subject: str,
        *,
        as_of: Optional[When] = None,
        as_of_seq: Optional[int] = None,
        valid_at: Optional[When] = None,
    ) -> Dict[str, Belief]:
        """The belief of every predicate of a subject, by predicate (sorted)."""
        doc = self._call("subject", agent, {
            "subject": subject, "as_of": _when(as_of, "as_of"), "as_of_seq": as_of_seq,
            "valid_at": _when(valid_at, "valid_at"),
        })
        return {p["predicate"]: Belief.from_dict(p["belief"]) for p in doc["predicates"]}

    def subjects(self, agent: str, *, prefix: Optional[str] = None, page_size: int = 1000) -> List[SubjectSummary]:
        """Every subject with a claim (bytewise order), with its lines and live claims."""
        out: List[SubjectSummary] = []
        after: Optional[str] = None
        while True:
            doc = self._call("subjects", agent, {"prefix": prefix, "after": after, "limit": page_size})
            out.extend(SubjectSummary.from_dict(s) for s in doc["subjects"])
            after = doc.get("next")
            if after is None:
                return out

    def search(
        self,
        agent: str,
        text: str,
        *,
        as_of: Optional[When] = None,
        as_of_seq: Optional[int] = None,
        limit: int = 20,
    ) -> List[SearchHit]:
        """The lines whose subject, predicate and live values hold every word of `text`,
        newest first."""
        doc = self._call("search", agent, {
            "text": text, "as_of": _when(as_of, "as_of"), "as_of_seq": as_of_seq, "limit": limit,
        })
        return [SearchHit.from_dict(h) for h in doc["hits"]]

    def audit(
        self,
        agent: str,
        *,
        claim: Optional[str] = None,
        newest_first: bool = False,
        page_size: int = 1000,
    ) -> Iterator[LedgerEntry]:
        """The audit trail, entry by entry (pages are read as the iterator goes)."""
        after: Optional[Dict[str, int]] = None
        while True:
            doc = self._call("audit", agent, {
                "claim": claim, "after": after, "limit": page_size, "newest_first": newest_first,
            })
            for e in doc["entries"]:
                yield LedgerEntry.from_dict(e)
            after = doc.get("next")
            if after is None:
                return

    def lineage(self, agent: str, claim: str) -> List[LineageStep]:
        """The DerivedFrom ancestry of a claim, nearest first."""
        doc = self._call("lineage", agent, {"claim": claim})
        return [LineageStep.from_dict(s) for s in doc["ancestors"]]

    def pending(self, agent: str) -> List[Adjudication]:
        """The agent's open adjudications, oldest first."""
        doc = self._call("pending", agent, {})
        return [Adjudication.from_dict(a) for a in doc["adjudications"]]

    def adjudicate(
        self,
        agent: str,
        handle: str,
        verdict: Union[Verdict, str],
        *,
        evidence: str = "user",
        idempotency_key: Optional[str] = None,
    ) -> AdjudicationOutcome:
        """Applies a verdict (`affirm`, `deny`, `unknown`) to a queued contradiction."""
        v = verdict.value if isinstance(verdict, Verdict) else verdict
        doc = self._call("adjudicate", agent, {
            "handle": handle, "verdict": v, "evidence": evidence, "idempotency_key": idempotency_key,
        })
        return AdjudicationOutcome.from_dict(doc)

    def resolve(
        self, agent: str, subject: str, predicate: str, winner: str, *, idempotency_key: Optional[str] = None
    ) -> WriteReceipt:
        """Settles a line in favour of `winner`; its other live claims are superseded."""
        doc = self._call("resolve", agent, {
            "subject": subject, "predicate": predicate, "winner": winner, "idempotency_key": idempotency_key,
        })
        return WriteReceipt.from_dict(doc)

    def invalidate(
        self, agent: str, claim: str, reason: str, *, idempotency_key: Optional[str] = None
    ) -> WriteReceipt:
        """Stops believing a claim; it stays in history."""
        doc = self._call("invalidate", agent, {"claim": claim, "reason": reason, "idempotency_key": idempotency_key})
        return WriteReceipt.from_dict(doc)

    def reinstate(self, agent: str, claim: str, *, idempotency_key: Optional[str] = None) -> WriteReceipt:
        """Believes a superseded or invalidated claim again."""
        doc = self._call("reinstate", agent, {"claim": claim, "idempotency_key": idempotency_key})
        return WriteReceipt.from_dict(doc)

    def agents(self) -> List[str]:
        """Every agent in the store, sorted."""
        try:
            return self._native.agents()
        except _credence.NativeError as e:
            raise _raise(e) from None

    def sweep(self, now: Optional[When] = None) -> Dict[str, Any]:
        """Expires overdue adjudications (as of `now`, default the clock); the report."""
        try:
            report: Dict[str, Any] = json.loads(self._native.sweep(_when(now, "now")))
        except _credence.NativeError as e:
            raise _raise(e) from None
        return report

    def export(self, to: Union[str, "os.PathLike[str]", IO[str]], *, agent: Optional[str] = None) -> None:
        """Writes the export of one agent or all to a path or a text file object."""
        try:
            text = self._native.export(agent)
        except _credence.NativeError as e:
            raise _raise(e) from None
        if isinstance(to, (str, os.PathLike)):
            with io.open(to, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            to.write(text)

    def import_(self, source: Union[str, "os.PathLike[str]", IO[str]]) -> Dict[str, int]:
        """Imports an export (a path or a text file object) into this store, every unit checked
        before anything is written; the counts."""
        if isinstance(source, (str, os.PathLike)):
            with io.open(source, "r", encoding="utf-8") as f:
                text = f.read()
        else:
            text = source.read()
        try:
            counts: Dict[str, int] = json.loads(self._native.import_(text))
        except _credence.NativeError as e:
            raise _raise(e) from None
        return counts


_CONFIG_NUMBERS = ("valid_time_confidence_threshold", "low_confidence_floor", "quarantine_burst_threshold",
                   "aging_days", "decayed_days", "max_value_bytes")
_CONFIG_SECONDS = ("burst_window", "adjudication_ttl")


def _config(config: Optional[Dict[str, Any]], adjudication_ttl: Optional[float]) -> str:
    given = dict(config or {})
    if adjudication_ttl is not None:
        given["adjudication_ttl"] = adjudication_ttl
    out: Dict[str, Any] = {}
    for key, value in given.items():
        if key in _CONFIG_NUMBERS:
            out[key] = value
        elif key in _CONFIG_SECONDS:
            if value is None:
                out[key] = None
                continue
            seconds = value.total_seconds() if isinstance(value, _dt.timedelta) else float(value)
            if not seconds >= 0 or seconds == float("inf"):
                raise InvalidConfig(f"{key} must be a finite, non-negative number of seconds, not {value!r}")
            whole = int(seconds)
            out[key] = {"secs": whole, "nanos": int(round((seconds - whole) * 1e9))}
        else:
            raise InvalidConfig(f"no engine setting {key!r} (known: {', '.join(_CONFIG_NUMBERS + _CONFIG_SECONDS)})")
    return json.dumps(out)


def open(
    url: str,
    *,
    config: Optional[Dict[str, Any]] = None,
    adjudication_ttl: Optional[float] = None,
    oracle: Optional[Callable[[Adjudication], None]] = None,
) -> Store:
    """Opens a store: `memory:`, `sqlite:<dir>`, `sqlite::memory:` or `postgres://…`.

    `config` sets the engine (SPEC §4): `valid_time_confidence_threshold`,
    `low_confidence_floor`, `quarantine_burst_threshold`, `burst_window` (seconds or a
    `timedelta`), `aging_days`, `decayed_days`, `adjudication_ttl` (seconds), `max_value_bytes`;
    an unknown or out-of-range setting is `InvalidConfig`. `oracle`, when given, is called with
    each contradiction `remember(..., queue=True)` holds for a verdict (raising means "not
    notified": the next sweep tries again)."""
    settings = _config(config, adjudication_ttl)
    callback: Optional[Callable[[str], None]] = None
    if oracle is not None:
        user = oracle

        def callback(doc: str) -> None:
            user(Adjudication.from_dict(json.loads(doc)))

    try:
        return Store(_credence.NativeStore(url, settings, callback))
    except _credence.NativeError as e:
        raise _raise(e) from None


def conformance(url: str, *, filter: Optional[str] = None) -> Dict[str, Any]:
    """Runs the conformance suite against fresh stores at `url`; its report."""
    try:
        report: Dict[str, Any] = json.loads(_credence.conformance(url, filter))
    except _credence.NativeError as e:
        raise _raise(e) from None
    return report
