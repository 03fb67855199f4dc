"""Unit tests: each test has a cache directory of its own (the fast build's remembered checks)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def own_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OSTINATO_TCP_CACHE_DIR", str(tmp_path / "cache"))
