"""Run history: schema migrations, recording, comparison with the last passing run."""

from __future__ import annotations

import sqlite3

import pytest

from ostinato_tcp.errors import UsageError
from ostinato_tcp.report.history import MIGRATIONS, SCHEMA_VERSION, History


def result(name="s1", verdict="pass", est=1000, exp=1000, rate=100.0, ra=100.0, rb=100.0):
    return {"scenario_name": name, "scenario_hash": "abc", "started_at": "2026-11-25T10:00:00Z", "verdict": verdict,
            "expected": exp, "established_assured": est, "plan": {"rate": rate},
            "ports": {"a": {"packet_rate": {"per_second": ra}}, "b": {"packet_rate": {"per_second": rb}}},
            "rates": {"offered_connection_rate": {"per_second": ra, "bound_pct": 0.5}}, "states": {"ESTABLISHED": est},
            "timings": {"total": 1.0}, "drone_versions": {"lab-a": "1.2.0"}, "dut": {"kernel": "6.1.0"},
            "scenario": {"drones": {"lab-a": {"host": "198.18.0.2", "port": 7878}}, "dut": {"host": "198.18.0.6"},
                         "connections": {"count": exp}, "traffic": {"rate": rate}}}


def test_new_database_gets_the_latest_schema(tmp_path):
    with History.open(tmp_path / "h.sqlite") as h:
        assert h.version == SCHEMA_VERSION
        cols = {r[1] for r in h.conn.execute("PRAGMA table_info(runs)")}
        assert {"origin", "scenario_hash", "dut_kernel", "drone_version", "packet_rate_a",
                "offered_connection_rate", "end_to_end_rate"} <= cols


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
        assert cmp.regressions == ["port A packet rate 70/s < 100/s (run 1, more than 10% slower)"]
        fourth = h.record(result(rate=200.0, ra=150, rb=150))  # another rate: rates not compared
        assert not h.compare(h.get(fourth)).regressed
        assert h.compare(h.get(first)).baseline is None


def params(count=1000, rate=100.0, server_port=8080):
    return {"connections": {"count": count, "client_ip": "10.1.1.100", "client_ips": 1, "first_client_port": 20000,
                            "server_ip": "10.2.2.100", "server_port": server_port}, "traffic": {"rate": rate}}


def shaped(verdict="pass", est=None, count=1000, rate=100.0, hash_="abc", **kw):
    r = result(verdict=verdict, est=count if est is None else est, exp=count, rate=rate, **kw)
    r["scenario_hash"] = hash_
    r["scenario"].update(params(count, rate))
    return r


def test_runs_of_another_count_are_not_compared(tmp_path):
    # The issue's case: the scenario went from 10,000 to 5,000 connections; 5000 < 10000 is no regression.
    with History.open(tmp_path / "h.sqlite") as h:
        h.record(shaped(count=10000, hash_="h10k"))
        later = h.record(shaped(count=5000, hash_="h5k"))
        cmp = h.compare(h.get(later))
        assert cmp.baseline is None and not cmp.regressed and "no earlier passing run of the same test" in cmp.basis


def test_same_file_is_compared_by_hash_else_by_count_addresses_and_rate(tmp_path):
    with History.open(tmp_path / "h.sqlite") as h:
        first = h.record(shaped(hash_="one"))
        second = h.record(shaped(hash_="two"))  # the file changed (a comment, say), the test did not
        cmp = h.compare(h.get(second))
        assert cmp.baseline["id"] == first and "the same count, addresses and rate" in cmp.basis
        third = h.record(shaped(hash_="one", verdict="fail", est=10))
        cmp = h.compare(h.get(third))
        assert cmp.baseline["id"] == first and "the same scenario file (hash one)" in cmp.basis and cmp.regressed
        other_rate = h.record(shaped(hash_="three", rate=500.0, verdict="fail", est=0))
        assert h.compare(h.get(other_rate)).baseline is None


def test_a_failed_run_without_baseline_is_failed_not_silent(tmp_path):
    with History.open(tmp_path / "h.sqlite") as h:
        only = h.record(shaped(verdict="fail", est=3))
        cmp = h.compare(h.get(only))
        assert cmp.baseline is None and not cmp.regressed and cmp.failed


def _cli(*args, env):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "ostinato_tcp", "history", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_history_cli_compare_argument_and_fail_on_regression(tmp_path):
    import os

    db = tmp_path / "h.sqlite"
    env = dict(os.environ, OSTINATO_TCP_HISTORY=str(db))
    with History.open(db) as h:
        h.record(shaped(verdict="fail", est=3))
    p = _cli("--compare", "abc", env=env)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0
    assert "--compare: 'abc' is not a run id" in p.stderr and "Traceback" not in p.stderr
    p = _cli("--fail-on-regression", env=env)  # the latest run failed and nothing passed before it
    assert p.returncode == 1 and "FAILED: run 1 did not pass its verdict (fail)" in p.stdout
    p = _cli(env=env)  # without the option the listing itself succeeds
    assert p.returncode == 0


def test_a_run_proven_by_traffic_only_keeps_no_established_count_and_compares_carried(tmp_path):
    def by_traffic(carried, verdict="pass"):
        d = result(est=None, verdict=verdict)
        d["traffic_proof"] = {"carried_both_ways": carried}
        return d

    with History.open(tmp_path / "h.sqlite") as h:
        base = h.get(h.record(by_traffic(100)))
        assert base["established_assured"] is None and base["carried_both_ways"] == 100
        worse = h.get(h.record(by_traffic(90, "fail")))
        c = h.compare(worse)
        assert "carried both ways 90 < 100" in " ".join(c.regressions), c.regressions
        assert not [x for x in c.regressions if "established" in x]


def test_migration_from_version_3_keeps_rows_and_lets_the_count_be_null(tmp_path):
    path = tmp_path / "v3.sqlite"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:
        for stmt in migration:
            conn.execute(stmt)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO runs (started_at, scenario_name, verdict, expected, established_assured, "
                 "offered_connection_rate, origin) VALUES ('2026-01-01T00:00:00Z', 'old', 'pass', 10, 10, 99.5, 'sweep')")
    conn.commit()
    conn.close()
    with History.open(path) as h:
        assert h.version == SCHEMA_VERSION
        (row,) = h.runs()
        assert (row["scenario_name"], row["established_assured"], row["offered_connection_rate"], row["origin"],
                row["carried_both_ways"]) == ("old", 10, 99.5, "sweep", None)
        h.record(result(est=None))  # NOT NULL is gone
        assert {r[1] for r in h.conn.execute("PRAGMA index_list(runs)")} >= {"runs_by_scenario"}
