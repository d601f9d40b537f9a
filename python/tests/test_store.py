"""The `credence` package on every backend: each method's happy path and its errors, values,
dates, as-of reads, the Contested story, threads, the GIL, bad input, and the conformance call."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

import credence
from credence import BeliefStatus, ClaimStatus, Disposition


def test_remember_and_recall_round_trip_every_kind_of_value(store: credence.Store) -> None:
    values: List[Any] = ["Lisbon", "", "ünïcödé ✓", 0, -7, 2**53, 1.5, -0.25, True, False, None,
                         [1, "two", [3.0]], {"nested": {"list": [True, None]}, "n": 1}]
    for i, value in enumerate(values):
        receipt = store.remember("a", "values", f"v{i}", value)
        assert receipt.disposition is Disposition.COMMITTED_CHEAP
        assert store.recall("a", "values", f"v{i}").value == value


def test_a_contradiction_is_contested_until_resolved(store: credence.Store) -> None:
    first = store.remember("a", "alice", "city", "Lisbon", provenance="user")
    second = store.remember("a", "alice", "city", "Porto", provenance="user")
    assert second.disposition is Disposition.CONTESTED
    assert second.contested_with == (first.claim_ref,)
    belief = store.recall("a", "alice", "city")
    assert belief.is_contested and belief.status is BeliefStatus.CONTESTED
    assert belief.values == ("Lisbon", "Porto")
    assert [c.claim_ref for c in belief.candidates] == [first.claim_ref, second.claim_ref]
    assert second.claim_ref is not None
    store.resolve("a", "alice", "city", second.claim_ref)
    assert store.recall("a", "alice", "city").value == "Porto"
    assert store.recall("a", "alice", "city", as_of_seq=1).value == "Lisbon"
    history = store.history("a", "alice", "city")
    assert [e.status for e in history.entries] == [ClaimStatus.SUPERSEDED, ClaimStatus.CURRENT]
    assert history.belief == store.recall("a", "alice", "city")


def test_dates_are_datetimes_dates_or_the_command_lines_strings(store: credence.Store) -> None:
    store.remember("a", "alice", "employer", "Acme", valid_from=dt.date(2019, 1, 1), valid_until="2022-03")
    store.remember("a", "alice", "employer", "Globex",
                   valid_from=dt.datetime(2022, 3, 1, tzinfo=dt.timezone.utc))
    assert store.recall("a", "alice", "employer", valid_at="2021").value == "Acme"
    assert store.recall("a", "alice", "employer", valid_at=dt.datetime(2023, 1, 1)).value == "Globex"
    before = store.recall("a", "alice", "employer", as_of=dt.date(2000, 1, 1))
    assert before.status is BeliefStatus.NO_BELIEF and before.as_of_seq == 0
    with pytest.raises(credence.InvalidArgument):
        store.recall("a", "alice", "employer", valid_at="next tuesday")
    with pytest.raises(credence.InvalidArgument):
        store.recall("a", "alice", "employer", valid_at=42)  # type: ignore[arg-type]


def test_every_read_and_write_answers_its_document(store: credence.Store) -> None:
    base = store.remember("a", "alice", "city", "Lisbon", idempotency_key="k")
    again = store.remember("a", "alice", "city", "Lisbon", idempotency_key="k")
    assert again.claim_ref == base.claim_ref
    assert base.claim_ref is not None
    child = store.remember("a", "alice", "country", "Portugal", provenance="model", derived_from=[base.claim_ref],
                           confidence=0.9, criticality="low")
    assert child.disposition is Disposition.COMMITTED_INFERRED
    assert child.claim_ref is not None
    assert [s.claim_ref for s in store.lineage("a", child.claim_ref)] == [base.claim_ref]
    assert sorted(store.subject("a", "alice")) == ["city", "country"]
    assert store.subjects("a") == store.subjects("a", prefix="al")
    assert [(s.subject, s.lines, s.live) for s in store.subjects("a")] == [("alice", 2, 2)]
    assert [h.predicate for h in store.search("a", "LISBON")] == ["city"]
    entries = list(store.audit("a", page_size=1))
    assert [e.seq for e in entries] == sorted(e.seq for e in entries) and len(entries) >= 2
    assert store.invalidate("a", child.claim_ref, "a guess").disposition is Disposition.INVALIDATED
    assert store.reinstate("a", child.claim_ref).disposition is Disposition.REINSTATED
    assert store.agents() == ["a"]
    assert store.sweep()["expired"] == 0
    doc = store.recall("a", "alice", "city").to_dict()
    assert doc["status"] == "TimingUncertain" and doc["value"] == "Lisbon"


def test_a_rejected_write_is_a_receipt_and_a_failed_call_a_typed_error(store: credence.Store) -> None:
    rejected = store.invalidate("a", "00000000-0000-0000-0000-000000000000", "nothing")
    assert rejected.disposition is Disposition.REJECTED and rejected.reason
    empty = store.remember("a", "", "p", 1)
    assert empty.disposition is Disposition.REJECTED and empty.reason and "subject" in empty.reason
    with pytest.raises(credence.InvalidArgument):
        store.remember("a", "s", "p", {1, 2})  # not JSON-able
    with pytest.raises(credence.InvalidQuery) as e:
        store.search("a", "?!")
    assert not e.value.retryable and e.value.kind == "InvalidQuery"
    with pytest.raises(credence.NotFound):
        store.lineage("a", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(credence.InvalidArgument):
        store.lineage("a", "not a ref")
    with pytest.raises(credence.HandleNotFound):
        store.adjudicate("a", "00000000-0000-0000-0000-000000000000", "affirm")
    with pytest.raises(credence.Error):
        store.history("a", "s", "p", page_size=0)


def test_a_queued_contradiction_reaches_a_python_oracle_and_takes_a_verdict(url: str) -> None:
    seen: List[credence.Adjudication] = []
    store = credence.open(url, oracle=seen.append, adjudication_ttl=3600)
    store.remember("a", "bob", "employer", "Acme", queue=True)
    queued = store.remember("a", "bob", "employer", "Globex", queue=True)
    assert queued.disposition is Disposition.QUEUED_FOR_ADJUDICATION
    assert [a.handle for a in seen] == [queued.handle] == [a.handle for a in store.pending("a")]
    assert queued.handle is not None
    outcome = store.adjudicate("a", queued.handle, credence.Verdict.AFFIRM)
    assert outcome.verdict == "Affirm"
    assert store.recall("a", "bob", "employer").value == "Globex"
    with pytest.raises(credence.HandleAlreadyClosed):
        store.adjudicate("a", queued.handle, "deny")


def test_export_and_import_through_files_and_file_objects(store: credence.Store, tmp_path: Path) -> None:
    store.remember("a", "alice", "city", "Lisbon")
    path = tmp_path / "export.jsonl"
    store.export(path)
    copy = credence.open("memory:")
    assert copy.import_(path)["units"] == 1
    buffer = io.StringIO()
    copy.export(buffer, agent="a")
    other = credence.open("memory:")
    other.import_(io.StringIO(buffer.getvalue()))
    assert other.recall("a", "alice", "city").value == "Lisbon"
    with pytest.raises(credence.Rejected):
        other.import_(io.StringIO("not an export\n"))


def test_bad_urls_and_options_are_typed_errors_not_crashes() -> None:
    for bad in ["", "mysql://x", "sqlite:", "memory:extra"]:
        with pytest.raises(credence.InvalidStoreUrl):
            credence.open(bad)
    with pytest.raises(credence.InvalidConfig):
        credence.open("memory:", adjudication_ttl=-1)
    with pytest.raises(credence.InvalidConfig):
        credence.open("memory:", config={"aging_days": 100, "decayed_days": 10})
    with pytest.raises(credence.InvalidConfig):
        credence.open("memory:", config={"colour": "red"})
    with pytest.raises(credence.InvalidConfig):
        credence.open("memory:", config={"aging_days": "soon"})
    store = credence.open("memory:")
    for agent in ["", "x" * 100_000, "a\x00b"]:
        assert store.recall(agent, "s", "p").status is BeliefStatus.NO_BELIEF
        assert store.remember(agent, "s", "p", 1).disposition is Disposition.REJECTED


def test_eight_threads_ingesting_one_agent_get_gap_free_seqs_and_one_winner_per_pair(url: str) -> None:
    store = credence.open(url)
    receipts: List[credence.WriteReceipt] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(10):
            r = store.remember("a", f"pair-{i}", "p", f"t{t}", provenance="user")
            with lock:
                receipts.append(r)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seqs = sorted(r.seq for r in receipts if r.seq is not None)
    assert seqs == list(range(1, 81))
    for i in range(10):
        first = [r for r in receipts if r.disposition is Disposition.COMMITTED_CHEAP
                 and store.history("a", f"pair-{i}", "p").entries[0].claim_ref == r.claim_ref]
        assert len(first) == 1, f"pair {i}"


def test_reads_in_four_threads_run_concurrently_with_the_gil_released(tmp_path: Path) -> None:
    store = credence.open(f"sqlite:{tmp_path / 'gil'}")
    for i in range(200):
        store.remember("a", "line", "p", i, set_valued=True)

    def reads() -> None:
        for _ in range(15):
            store.history("a", "line", "p")

    start = time.perf_counter()
    reads()
    one = time.perf_counter() - start
    threads = [threading.Thread(target=reads) for _ in range(4)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    four = time.perf_counter() - start
    # Serialised by the GIL, four threads would take about 4× one; the machine has 2 cores.
    assert four < 3.2 * one, f"one thread {one:.3f}s, four threads {four:.3f}s"


def test_conformance_runs_the_suite_and_reports_it() -> None:
    report: Dict[str, Any] = credence.conformance("memory:", filter="reads::history")
    assert report["failed"] == 0 and report["passed"] >= 3
    assert {c["outcome"] for c in report["cases"]} == {"passed"}


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    found = re.search(r"## From Python.*?```python\n(.*?)```", readme, re.S)
    assert found, "README has a From Python example"
    done = subprocess.run([sys.executable, "-c", found.group(1)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["status"] == "Contested"


def test_aio_runs_the_same_methods_as_coroutines(url: str) -> None:
    import asyncio

    import credence.aio

    async def story() -> credence.Belief:
        store = await credence.aio.open(url)
        first, second = await asyncio.gather(
            store.remember("a", "alice", "city", "Lisbon", provenance="user"),
            store.remember("a", "alice", "city", "Porto", provenance="user"),
        )
        assert {first.disposition, second.disposition} == {Disposition.COMMITTED_CHEAP, Disposition.CONTESTED}
        assert [e.seq for e in await store.audit("a")] == [1, 2]
        return await store.recall("a", "alice", "city")

    belief = asyncio.run(story())
    assert belief.is_contested and set(belief.values) == {"Lisbon", "Porto"}


def test_config_sets_the_engine(url: str) -> None:
    strict = credence.open(url, config={"valid_time_confidence_threshold": 0.95, "low_confidence_floor": 0.5,
                                        "burst_window": dt.timedelta(seconds=30)})
    low = strict.remember("a", "alice", "city", "Lisbon", confidence=0.4)
    assert low.disposition is Disposition.PENDING_LOW_CONFIDENCE
    default = credence.open("memory:")
    assert default.remember("a", "alice", "city", "Lisbon", confidence=0.4).disposition is Disposition.COMMITTED_CHEAP
