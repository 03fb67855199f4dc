"""Sweeps: grid, resume, search and outputs (the run is replaced by a stand-in here;
tests/lab/test_sweep_lab.py runs a real sweep)."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

import ostinato_tcp.jobs.sweep as S
from ostinato_tcp.errors import ScenarioError

from .helpers import BASE


@pytest.fixture
def sweep_file(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = tmp_path / "sweep.yaml"
    path.write_text("name: sw\nbase: base.yaml\ncounts: [1000, 2000]\nrates: [1000, 4000, 16000]\n"
                    "search: {max_steps: 3, precision: 0.05}\n")
    return path


class FakeResult:
    pass


def fake_runner(calls, limit_for, ceiling=10_000):
    """A stand-in for run_scenario: Drone offers min(asked rate, ceiling) SYNs/s (measured);
    a run passes when the offered rate <= limit_for(count); a port lags above the ceiling."""

    def run(sc, opts, events, **_):
        calls.append((sc.connections.count, sc.traffic.rate))
        offered = min(sc.traffic.rate, ceiling)
        lagged = sc.traffic.rate > ceiling * 1.1
        ok = offered <= limit_for(sc.connections.count)
        n = sc.connections.count
        rate = {"per_second": offered * 0.99, "bound_pct": 0.4}
        return {"scenario_name": sc.name, "verdict": "pass" if ok else "fail", "expected": n,
                "established_assured": n if ok else n // 2, "timings": {"total": 1.0, "send": 0.5},
                "plan": {"mode": "pipelined", "batches": 1},
                "ports": {"a": {"lagged": lagged, "packet_rate": rate}, "b": {"lagged": False, "packet_rate": rate}},
                "rates": {"offered_connection_rate": rate, "end_to_end_connection_rate": rate}, "states": {},
                "dut": {"after": {"max": 262144}}, "diagnosis": [] if ok else ["late"]}

    return run


def test_grid_resume_search_and_outputs(sweep_file, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(S, "run_scenario", fake_runner(calls, lambda n: 6000 if n == 1000 else 3000))
    monkeypatch.setattr(S, "result_to_dict", lambda r: r)
    monkeypatch.setattr(S, "clear_point", lambda *args: None)
    sweep = S.load_sweep(sweep_file)
    assert [p.name for p in sweep.points] == ["n1000-r1000", "n1000-r4000", "n1000-r16000", "n2000-r1000",
                                              "n2000-r4000", "n2000-r16000"]
    out = tmp_path / "out"
    summary = S.run_sweep(sweep, out)
    grid_calls = calls[:6]
    assert len(grid_calls) == 6
    search = calls[6:]
    assert search and all(4000 < r < 16000 for n, r in search if n == 1000)
    m = summary["maximum_connection_establishment_rate"]
    # the measured offered rate of the best passing point, never an asked rate
    assert 4000 * 0.99 <= m["1000"]["connections_per_second"] <= 6000 * 0.99
    assert m["1000"]["connections_per_second"] != m["1000"]["asked_rate"]
    # 16,000/s asked is above what Drone offers (10,000/s): lagged; it failed at the rate it measured,
    # 9,900/s, and that measured rate (not the asked one) bounds the search from above
    assert [x["point"] for x in m["1000"]["lagged_points"]] == ["n1000-r16000"]
    assert m["1000"]["lagged_points"][0]["measured_offered_rate"] == 9900
    assert m["1000"]["lagged_points"][0]["status"] == "fail"
    assert summary["grid_lagged"] == 2 and summary["grid_failed"] == 3  # n2000 at 4,000/s, both at 16,000/s
    assert summary["connection_tracking_table_capacity"] == {"largest_count_fully_established": 2000,
                                                             "dut_nf_conntrack_max": 262144}
    for name in ("results.csv", "results.json", "junit.xml", "success_vs_rate.png", "established_vs_count.png",
                 "phase_times.png"):
        assert (out / name).stat().st_size > 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == len(calls)
    assert {r["status"] for r in rows} == {"pass", "fail"}
    assert {r["lagged_a"] for r in rows} == {"True", "False"}
    assert all(float(r["offered_connection_rate"]) > 0 and r["offered_rate_bound_pct"] == "0.4" for r in rows)
    # resume: nothing runs again
    calls.clear()
    S.run_sweep(sweep, out)
    assert calls == []
    # an interrupted sweep: drop two points, only those run again
    (out / "points" / "n2000-r4000.json").unlink()
    (out / "points" / "n1000-r1000.json").unlink()
    S.run_sweep(sweep, out)
    assert sorted(calls) == [(1000, 1000), (2000, 4000)]
    data = json.loads((out / "results.json").read_text())
    assert data["summary"]["grid_points"] == 6


def test_maximum_rate_ignores_points_measured_too_loosely():
    rows = [{"count": 10, "rate": 100.0, "point_name": "a", "verdict": "pass",
             "rates": {"offered_connection_rate": {"per_second": 99.0, "bound_pct": 1.0}}},
            {"count": 10, "rate": 1000.0, "point_name": "b", "verdict": "pass",
             "rates": {"offered_connection_rate": {"per_second": 990.0, "bound_pct": 7.5}}}]
    m = S.summarize(rows)["maximum_connection_establishment_rate"]["10"]
    assert m["connections_per_second"] == 99.0 and m["not_counted_bound_over_5pct"] == ["b"]


def refused(path, text: str, match: str) -> None:
    """A sweep file of ``text`` is refused with a message matching ``match``."""
    path.write_text(text)
    with pytest.raises(ScenarioError, match=match):
        S.load_sweep(path)


def test_bad_sweep_file(tmp_path):
    p = tmp_path / "bad.yaml"
    refused(p, "name: sw\nbase: nowhere.yaml\ncounts: [10]\nrates: [1]\n", r"bad\.yaml:2: base: no scenario file")
    refused(p, "name: sw\nbase: nowhere.yaml\ncounts: [10]\nrates: []\n",
            r"bad\.yaml:4: rates: List should have at least 1 item")


def test_vary_any_field_and_search_it(tmp_path, monkeypatch):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = tmp_path / "sweep.yaml"
    path.write_text("name: sw\nbase: base.yaml\nrates: [2000]\n"
                    "vary: {connections.client_ips: [1, 2], connections.count: [1000, 8000]}\n"
                    "search: {field: connections.count, max_steps: 4, precision: 0.2}\n")
    calls = []

    def run(sc, opts, events, **_):  # passes up to 3,000 connections per client IP
        calls.append((sc.connections.client_ips, sc.connections.count))
        ok = sc.connections.count <= 3000 * sc.connections.client_ips
        rate = {"per_second": 1980.0, "bound_pct": 0.1}
        return {"scenario_name": sc.name, "verdict": "pass" if ok else "fail", "expected": sc.connections.count,
                "established_assured": sc.connections.count if ok else 0, "timings": {"total": 1.0},
                "plan": {"mode": "phased", "batches": 1}, "ports": {}, "states": {},
                "rates": {"offered_connection_rate": rate}, "dut": {}}

    monkeypatch.setattr(S, "run_scenario", run)
    monkeypatch.setattr(S, "result_to_dict", lambda r: r)
    monkeypatch.setattr(S, "clear_point", lambda *args: None)
    sweep = S.load_sweep(path, sets=["traffic.delay=auto"])
    assert [p.name for p in sweep.points] == ["r2000-client_ips1-n1000", "r2000-client_ips1-n8000",
                                              "r2000-client_ips2-n1000", "r2000-client_ips2-n8000"]
    S.run_sweep(sweep, tmp_path / "out")
    searched = [c for c in calls[4:]]
    # bisection on the count, per client-IP count, between the last pass (1000) and the first fail (8000)
    assert {ips for ips, _ in searched} == {1, 2}
    assert all(1000 < n < 8000 for _, n in searched)
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert len(rows) == len(calls)
    # the varied field has a column of its own, beside count (which has its own already)
    assert list(rows[0])[:2] == ["point_name", "connections.client_ips"]
    assert sorted({r["connections.client_ips"] for r in rows}) == ["1", "2"]
    with pytest.raises(ScenarioError, match=r"--set traffic.window=abc: traffic.window: input should be"):
        S.load_sweep(path, sets=["traffic.window=abc"])


def test_a_test_profile_as_base_brings_its_lab_file(tmp_path):
    # the profile holds the test, lab.yaml the drones/ports/dut, as `ostinato-tcp init` writes them
    lab_keys = ("drones", "ports", "dut")
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump({k: BASE[k] for k in lab_keys if k in BASE}))
    profile = {k: v for k, v in BASE.items() if k not in lab_keys}
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump({"lab_file": "lab.yaml", **profile}))
    (tmp_path / "sweep.yaml").write_text("name: sw\nbase: profile.yaml\ncounts: [500]\nrates: [1000, 2000]\n")
    sweep = S.load_sweep(tmp_path / "sweep.yaml")
    scs = [S.scenario_for(sweep, p) for p in sweep.points]
    assert [sc.traffic.rate for sc in scs] == [1000, 2000]
    assert scs[0].drones["main"].host == "192.0.2.10"


def test_the_tear_down_rate_counts_only_points_that_closed_every_connection():
    def point(name, count, offered, verdict="pass", bound=0.5):
        return {"point_name": name, "count": count, "rate": offered, "verdict": verdict, "ports": {},
                "teardown": {"mode": "fin", "offered_teardown_rate": {"per_second": offered, "bound_pct": bound},
                             "dut_retire_rate": {"per_second": offered * 0.9, "bound_pct": 30.0}}}
    rows = [point("a", 1000, 5000), point("b", 1000, 9000), point("c", 1000, 20000, verdict="fail"),
            point("d", 1000, 30000, bound=9.0)]
    td = S.summarize(rows)["connection_teardown_rate"]["1000"]
    assert td["teardowns_per_second"] == 9000 and td["point"] == "b" and td["dut_retire_rate"] == 8100
    assert S.summarize([point("x", 10, 1, verdict="fail")])["connection_teardown_rate"] == {}


def test_resume_runs_again_the_points_whose_scenario_changed(sweep_file, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(S, "run_scenario", fake_runner(calls, lambda n: 100_000))
    monkeypatch.setattr(S, "result_to_dict", lambda r: r)
    monkeypatch.setattr(S, "clear_point", lambda *args: None)
    out = tmp_path / "out"
    S.run_sweep(S.load_sweep(sweep_file), out)
    calls.clear()
    S.run_sweep(S.load_sweep(sweep_file), out)
    assert calls == []  # the same sweep: every point reused
    # the base profile changed (another window): every point's scenario differs, so every point runs again
    summary = S.run_sweep(S.load_sweep(sweep_file, sets=["traffic.window=512"]), out)
    assert len(calls) >= 6 and any("were run again" in n for n in summary["notes"])
    calls.clear()
    S.run_sweep(S.load_sweep(sweep_file, sets=["traffic.window=512"]), out)
    assert calls == []


def test_sweep_file_errors_name_the_sweep_file_and_the_varied_line(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    p = tmp_path / "sw.yaml"
    p.write_text("name: sw\nbase: base.yaml\nrats: [100]\n")
    with pytest.raises(ScenarioError) as e:
        S.load_sweep(p)
    assert str(e.value) == f"{p}:3: rats: unknown field 'rats'; did you mean 'rates'?"
    p.write_text("name: sw\nbase: base.yaml\nrates: [100]\nvary: {traffic.window: [-5]}\n")
    with pytest.raises(ScenarioError) as e:
        S.load_sweep(p)
    assert str(e.value).startswith(f"{p}:4: traffic.window: input should be greater than or equal to 0")
    # a count of yes is not 1, nor a search step count (YAML's booleans)
    refused(p, "name: sw\nbase: base.yaml\ncounts: [yes, 1000]\n",
            r"sw\.yaml:3: counts.0: must be a number, not the boolean true")
    refused(p, "name: sw\nbase: base.yaml\nrates: [100]\nsearch: {max_steps: on}\n",
            r"search.max_steps: must be a number, not the boolean true")


def test_csv_sums_the_ports_of_several_pairs():
    from ostinato_tcp.jobs.sweep_results import _csv_row

    rate = lambda x: {"per_second": x}  # noqa: E731
    r = {"point_name": "p", "count": 10, "rate": 5, "verdict": "pass", "expected": 10, "established_assured": 10,
         "pairs": [{}, {}],
         "ports": {"a1": {"packet_rate": rate(100.0), "lagged": False}, "b1": {"packet_rate": rate(50.0)},
                   "a2": {"packet_rate": rate(101.5), "lagged": True}, "b2": {"packet_rate": rate(49.0)}}}
    row = _csv_row(r)
    assert row["packet_rate_a"] == 201.5 and row["packet_rate_b"] == 99.0
    assert row["lagged_a"] is True and row["lagged_b"] is False
    one = _csv_row(dict(r, ports={"a": {"packet_rate": rate(7.0)}, "b": {}}))
    assert one["packet_rate_a"] == 7.0 and one["packet_rate_b"] is None and one["lagged_a"] is False
