"""Stores for the tests: memory, SQLite in a temporary directory, in-memory SQLite, and the local
PostgreSQL (`CREDENCE_TEST_POSTGRES_URL`; under `CI=true` its absence is a failure)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import credence

BACKENDS = ["memory", "sqlite", "sqlite-memory", "postgres"]


def postgres_base() -> str:
    base = os.environ.get("CREDENCE_TEST_POSTGRES_URL")
    if base:
        return base
    if os.environ.get("CI") == "true":
        pytest.fail("CREDENCE_TEST_POSTGRES_URL is unset (CI=true makes this a failure)")
    pytest.skip("CREDENCE_TEST_POSTGRES_URL is unset: the PostgreSQL tests did not run")


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    kind: str = request.param
    if kind == "memory":
        yield "memory:"
    elif kind == "sqlite":
        yield f"sqlite:{tmp_path / 'store'}"
    elif kind == "sqlite-memory":
        yield "sqlite::memory:"
    else:
        base = postgres_base()
        schema = f"credence_py_{uuid.uuid4().hex[:12]}"
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}schema={schema}"
        subprocess.run(["psql", base, "-qc", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'], check=True)


@pytest.fixture
def store(url: str) -> credence.Store:
    return credence.open(url)
