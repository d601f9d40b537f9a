"""`asyncio` access: the methods of `credence.Store` as coroutines, each run on a worker thread
(the store's calls release the GIL, so they run in parallel with the event loop)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, Dict, List, Optional, TypeVar

import credence
from credence import (
    AdjudicationOutcome,
    Belief,
    History,
    LedgerEntry,
    LineageStep,
    SearchHit,
    SubjectSummary,
    WriteReceipt,
)
from credence._types import Adjudication

T = TypeVar("T")


async def _run(f: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(f, *args, **kwargs))


class AsyncStore:
    """A `credence.Store` whose methods are coroutines."""

    def __init__(self, store: credence.Store) -> None:
        self.store = store

    async def remember(self, agent: str, subject: str, predicate: str, value: Any, **options: Any) -> WriteReceipt:
        return await _run(self.store.remember, agent, subject, predicate, value, **options)

    async def recall(self, agent: str, subject: str, predicate: str, **options: Any) -> Belief:
        return await _run(self.store.recall, agent, subject, predicate, **options)

    async def history(self, agent: str, subject: str, predicate: str, **options: Any) -> History:
        return await _run(self.store.history, agent, subject, predicate, **options)

    async def subject(self, agent: str, subject: str, **options: Any) -> Dict[str, Belief]:
        return await _run(self.store.subject, agent, subject, **options)

    async def subjects(self, agent: str, **options: Any) -> List[SubjectSummary]:
        return await _run(self.store.subjects, agent, **options)

    async def search(self, agent: str, text: str, **options: Any) -> List[SearchHit]:
        return await _run(self.store.search, agent, text, **options)

    async def audit(self, agent: str, **options: Any) -> List[LedgerEntry]:
        return await _run(lambda: list(self.store.audit(agent, **options)))

    async def lineage(self, agent: str, claim: str) -> List[LineageStep]:
        return await _run(self.store.lineage, agent, claim)

    async def pending(self, agent: str) -> List[Adjudication]:
        return await _run(self.store.pending, agent)

    async def adjudicate(self, agent: str, handle: str, verdict: Any, **options: Any) -> AdjudicationOutcome:
        return await _run(self.store.adjudicate, agent, handle, verdict, **options)

    async def resolve(self, agent: str, subject: str, predicate: str, winner: str, **options: Any) -> WriteReceipt:
        return await _run(self.store.resolve, agent, subject, predicate, winner, **options)

    async def invalidate(self, agent: str, claim: str, reason: str, **options: Any) -> WriteReceipt:
        return await _run(self.store.invalidate, agent, claim, reason, **options)

    async def reinstate(self, agent: str, claim: str, **options: Any) -> WriteReceipt:
        return await _run(self.store.reinstate, agent, claim, **options)

    async def agents(self) -> List[str]:
        return await _run(self.store.agents)

    async def sweep(self, now: Optional[Any] = None) -> Dict[str, Any]:
        return await _run(self.store.sweep, now)


async def open(url: str, **options: Any) -> AsyncStore:
    """Opens a store (as `credence.open`) on a worker thread."""
    return AsyncStore(await _run(credence.open, url, **options))
