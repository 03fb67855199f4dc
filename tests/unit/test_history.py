"""Run history: schema migrations, recording, comparison with the last passing run."""

from __future__ import annotations

import sqlite3

import pytest

from ostinato_tcp.errors import UsageError
from ostinato_tcp.history import MIGRATIONS, SCHEMA_VERSION, History


def result(name="s1", verdict="pass", est=1000, exp=1000, rate=100.0, ra=100.0, rb=100.0):
    return {"scenario_name": name, "scenario_hash": "abc", "started_at": "2026-11-25T10:00:00Z", "verdict": verdict,
            "expected": exp, "established_assured": est, "plan": {"rate": rate},
            "ports": {"a": {"achieved_rate": ra}, "b": {"achieved_rate": rb}}, "states": {"ESTABLISHED": est},
            "timings": {"total": 1.0}, "drone_versions": {"lab-a": "1.2.0"}, "dut": {"kernel": "6.1.0"},
            "scenario": {"drones": {"lab-a": {"host": "198.18.0.2", "port": 7878}}, "dut": {"host": "198.18.0.6"},
                         "connections": {"count": exp}, "traffic": {"rate": rate}}}


def test_new_database_gets_the_latest_schema(tmp_path):
    with History.open(tmp_path / "h.sqlite") as h:
        assert h.version == SCHEMA_VERSION
        cols = {r[1] for r in h.conn.execute("PRAGMA table_info(runs)")}
        assert {"origin", "scenario_hash", "dut_kernel", "drone_version", "achieved_rate_a"} <= cols


def test_migration_from_version_1_keeps_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for stmt in MIGRATIONS[0]:
        conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO runs (started_at, scenario_name, verdict, expected, established_assured) "
                 "VALUES ('2026-01-01T00:00:00Z', 'old', 'pass', 10, 10)")
    conn.commit()
    conn.close()
    with History.open(path) as h:
        assert h.version == SCHEMA_VERSION
        (row,) = h.runs()
        assert row["scenario_name"] == "old" and row["origin"] == "run"
        indexes = {r[1] for r in h.conn.execute("PRAGMA index_list(runs)")}
        assert "runs_by_scenario" in indexes


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(UsageError, match="newer than this ostinato-tcp"):
        History.open(path)


def test_record_and_compare(tmp_path):
    with History.open(tmp_path / "h.sqlite") as h:
        first = h.record(result())
        second = h.record(result(verdict="fail", est=640))
        rows = h.runs("s1")
        assert [r["id"] for r in rows] == [second, first]
        cmp = h.compare(h.get(second))
        assert cmp.baseline["id"] == first and cmp.regressed
        assert any("640 < 1000" in r for r in cmp.regressions)
        third = h.record(result(ra=70.0))  # passed, but port A got much slower at the same rate
        cmp = h.compare(h.get(third))
        assert cmp.baseline["id"] == first
        assert cmp.regressions == ["port A achieved 70/s < 100/s (run 1, more than 10% slower)"]
        fourth = h.record(result(rate=200.0, ra=150, rb=150))  # another rate: rates not compared
        assert not h.compare(h.get(fourth)).regressed
        assert h.compare(h.get(first)).baseline is None
