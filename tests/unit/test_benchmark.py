"""The benchmark's searches and figures without a lab: the rate search on a simulated DUT that
establishes up to a known rate (and a Drone that never offers exactly what it is asked), the
spread over trials, the judgement of a step from a run's JSON, the report, bad input refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ostinato_tcp.domain.search import RateSearch, Step, midpoint, narrow_enough, nearest_rank, spread, steer
from ostinato_tcp.jobs.benchmark import judge_step
from ostinato_tcp.report.benchmark import benchmark_lines, spread_text, write_benchmark_csv
from ostinato_tcp.report.contract import stamp, validate

from .helpers import data


def search_against(edge: float, *, top: float, offered=lambda asked: asked * 0.97, floor=1000.0,
                   resolution=0.01) -> RateSearch:
    """A search run against a DUT that establishes every connection up to ``edge`` per second."""
    s = RateSearch(floor=floor, resolution=resolution)
    ask = top
    while ask is not None:
        got = offered(ask)
        s.record(Step(asked=ask, measured=got, passed=got <= edge, why="" if got <= edge else "fail: missing 12"))
        ask = s.next_ask()
    return s


@pytest.mark.parametrize("edge", [3000.0, 1234.0, 47_000.0])
def test_the_search_finds_the_edge_within_its_resolution_on_measured_rates(edge):
    s = search_against(edge, top=80_000.0)
    assert s.outcome == "found"
    assert s.figure <= edge < s.hi
    assert (s.hi - s.figure) / s.figure <= 0.01
    assert s.steps[0].asked == 80_000.0 and s.steps[1].asked == 1000.0  # the top first, then the floor
    # every step after those two asks for its target through Drone's 3% shortfall
    assert all(abs(st.measured - midpoint(lo, hi)) / midpoint(lo, hi) < 0.02 for st, (lo, hi) in
               zip(s.steps[2:], _bounds_before(s.steps)[2:]))
    assert len(s.steps) <= 2 + 12  # geometric bisection: about log2(ln(80) / ln(1.01)) steps


def _bounds_before(steps: list[Step]) -> list[tuple[float, float]]:
    """The (lo, hi) each step was chosen between (replayed)."""
    out, lo, hi = [], None, None
    for st in steps:
        out.append((lo, hi))
        if st.passed:
            lo = st.measured if lo is None else max(lo, st.measured)
        else:
            hi = st.measured if hi is None else min(hi, st.measured)
    return out


def test_a_dut_faster_than_the_generator_and_one_slower_than_the_floor():
    fast = search_against(1e9, top=50_000.0)
    assert fast.outcome == "passed at the top" and len(fast.steps) == 1 and fast.figure == 50_000 * 0.97
    slow = search_against(500.0, top=50_000.0)
    assert slow.outcome == "below the floor" and slow.figure is None and len(slow.steps) == 2


def test_a_drone_that_cannot_be_steered_closer_ends_the_search_with_its_bounds():
    # Drone offers only multiples of 1,000/s: the search stops when it would ask a rate again
    s = search_against(3500.0, top=20_000.0, offered=lambda a: max(1000.0, round(a / 1000) * 1000))
    assert s.outcome == "not narrowed" and s.figure == 3000.0 and s.hi == 4000.0
    assert len({st.asked for st in s.steps}) == len(s.steps)


def test_a_result_that_contradicts_an_earlier_one_wins():
    s = RateSearch(floor=1000)
    s.record(Step(asked=10_000, measured=10_000, passed=False))
    s.record(Step(asked=1000, measured=1000, passed=True))
    s.record(Step(asked=5000, measured=5000, passed=True))
    s.record(Step(asked=4000, measured=4000, passed=False))  # fails below a pass: the DUT is not steady there
    assert (s.lo, s.hi) == (1000, 4000)
    s.record(Step(asked=6000, measured=6000, passed=True))  # passes above a failure
    assert (s.lo, s.hi) == (6000, 10_000)


def test_a_step_lost_on_the_generators_side_bounds_the_search_but_is_never_the_duts():
    # the DUT establishes everything; Drone's ports lag above 20,000/s
    s = RateSearch(floor=1000, resolution=0.02)
    ask = 60_000.0
    while ask is not None:
        s.record(Step(asked=ask, measured=ask, passed=ask <= 20_000, generator=ask > 20_000,
                      why="" if ask <= 20_000 else "port A lagged behind the asked rate"))
        ask = s.next_ask()
    assert s.outcome == "limited by the generator" and s.hi is None
    assert 19_600 <= s.figure <= 20_000 < s.generator_hi <= s.figure * 1.02
    # a generator failure at or below a pass bounds nothing; a DUT failure below it still wins
    s = RateSearch(floor=1000)
    for st in (Step(asked=9000, measured=9000, passed=False), Step(asked=1000, measured=1000, passed=True),
               Step(asked=3000, measured=3000, passed=True), Step(asked=2000, measured=2000, passed=False,
                                                                   generator=True)):
        s.record(st)
    assert (s.lo, s.hi, s.generator_hi, s.bound) == (3000, 9000, None, 9000)
    # only generator failures at the floor: no figure, and not the DUT's fault
    s = RateSearch(floor=1000)
    s.record(Step(asked=50_000, measured=None, passed=False, generator=True))
    assert s.next_ask() == 1000
    s.record(Step(asked=1000, measured=None, passed=False, generator=True))
    assert s.next_ask() is None and s.outcome == "limited by the generator" and s.figure is None


def test_steer_narrow_and_midpoint():
    assert steer(3000, []) == 3000
    assert steer(3000, [(1000, 950), (4000, 3800), (20_000, 15_000)]) == round(3000 * 4000 / 3800)
    assert narrow_enough(1000, 1010, 0.01) and not narrow_enough(1000, 1011, 0.01)
    assert midpoint(1000, 4000) == 2000


def test_spread_median_range_and_percentiles_from_twenty_trials():
    s = spread([3000.0, 2900.0, None, 3100.0])
    assert (s["median"], s["minimum"], s["maximum"], s["trials"], s["trials_with_a_figure"]) == (3000, 2900, 3100, 4, 3)
    assert s["percentile_1"] is None and s["percentile_99"] is None
    assert spread([1.0, 2.0, 3.0, 4.0])["median"] == 2.5
    many = [float(x) for x in range(1, 21)]
    s = spread(many)
    assert (s["percentile_1"], s["percentile_99"]) == (1.0, 20.0)
    assert nearest_rank([float(x) for x in range(1, 201)], 1) == 2.0 and nearest_rank(many, 50) == 10.0
    assert spread([None])["median"] is None
    assert "median 3,000/s (min 2,900/s, max 3,100/s) over 3 of 4 trial(s)" in spread_text(spread([3000, 2900, None, 3100]))


def row(verdict="pass", *, bound=1.0, lagged=False, deltas=None, traffic=True, categories=None, reasons=()):
    return {"verdict": verdict, "error": None, "error_type": None,
            "outcome": {"reasons": list(reasons)},
            "rates": {"offered_connection_rate": {"per_second": 2990.0, "bound_pct": bound}},
            "ports": {"a": {"lagged": lagged}, "b": {"lagged": False}},
            "dut": {"counter_deltas": deltas or {"drop": 0, "early_drop": 0, "insert_failed": 0, "invalid": 3}},
            "proof": {"asked": ["table", "traffic"], "table": verdict == "pass", "traffic": traffic},
            "categories": categories or {"established_assured": 1000, "missing": 0}}


def test_a_step_passes_only_with_every_check_held():
    assert judge_step(row(), validation=True) == (True, "", False)
    assert judge_step(row("fail", categories={"established_assured": 700, "missing": 300}), validation=True) == \
        (False, "fail: missing 300", False)
    assert judge_step(row(lagged=True), validation=True) == (False, "port A lagged behind the asked rate", True)
    assert judge_step(row(bound=9.0), validation=True)[1] == "the offered connection rate was not measured within 5%"
    assert judge_step(row(deltas={"drop": 2, "early_drop": 0, "insert_failed": 1}), validation=True) == \
        (False, "the DUT's counters: drop +2, insert_failed +1", False)
    assert judge_step(row(traffic=None), validation=True) == (False, "the traffic proof did not hold", False)
    assert judge_step(row(traffic=None), validation=False) == (True, "", False)
    assert judge_step(row("inconclusive", reasons=["port A sent short"]), validation=True) == \
        (False, "inconclusive (the traffic, not the DUT): port A sent short", True)


CEILING = {"ports": {"a": {"per_second": 62_500.0, "bound_pct": 1.0, "count": 30000, "seconds": 0.48,
                           "bound_seconds": 0.0001, "estimated": False}},
           "packets_per_second": 62_500.0, "usable_packets_per_second": 50_000.0, "usable_share": 0.8,
           "probe_seconds": 0.5, "remembered_at": None, "definition": "d"}


def report_dict() -> dict:
    s = search_against(3000.0, top=40_000.0)
    return stamp("benchmark", {
        "scenario_name": "police", "figure": "establishment-rate", "verdict": "pass", "connections_per_step": 1000,
        "trials_asked": 1, "floor": 1000.0, "top": None, "resolution": 0.01, "validation": True,
        "maximum_connection_establishment_rate": spread([s.figure]), "trials_passed_at_the_top": 0,
        "trials": [dict(s.to_dict(), trial=1)],
        "dut": {"kernel": "6.1", "conntrack_max": 262144, "buckets": 262144, "timeouts": {"syn_sent": 120},
                "tcp_loose": 0, "tcp_be_liberal": 0},
        "ceiling": None, "seconds": 12.5, "error": None, "definition": "d"})


def test_the_report_text_csv_and_schema(tmp_path):
    d = report_dict()
    assert validate(d) == []
    text = "\n".join(benchmark_lines(d))
    assert "trial 1: " in text and "(found; bounds" in text and "step 1: asked 40,000/s, measured 38,800/s: FAIL" in text
    assert text.splitlines()[-1].startswith("PASS  maximum connection establishment rate: median 2,9")
    write_benchmark_csv(d, tmp_path / "b.csv")
    lines = (tmp_path / "b.csv").read_text().splitlines()
    assert lines[0] == "trial,step,asked_rate,measured_rate,passed,why,generator_limited,seconds,retried"
    assert len(lines) == 1 + len(d["trials"][0]["steps"])
    top = dict(d, trials_passed_at_the_top=1)
    assert "(1 of 1 trial(s) passed at the top: there the DUT kept up with the fastest rate asked, and the figure " \
           "is the generator's)" in benchmark_lines(top)[-1]
    bad = dict(d, figure="capacity")
    assert validate(bad)


@pytest.mark.parametrize("args,msg", [
    (["--trials", "0"], "--trials 0: must be at least 1"),
    (["--floor", "-5"], "--floor -5: must be above 0 connections per second"),
    (["--resolution", "2"], "--resolution 2: must be between 0 and 1 (0.01 is 1%)"),
    (["--top", "900"], "--top 900: must be above --floor 1000"),
])
def test_bad_input_is_one_line_and_nothing_is_sent(tmp_path, args, msg):
    sc = tmp_path / "s.yaml"
    sc.write_text(json.dumps(data()))  # its Drone and DUT (192.0.2.x) are never reached: refused before
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "benchmark", str(sc), *args], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [f"ostinato-tcp: error: {msg}"] and p.stdout == ""


def test_the_job_runs_top_floor_then_bisects_and_runs_a_lagged_step_again(monkeypatch):
    """run_benchmark's loop over a simulated DUT (edge 3,000/s) whose generator lags once at one rate."""
    from ostinato_tcp.jobs import benchmark as B
    from .helpers import scenario

    asked, lag_once = [], {"left": 1}

    def fake_step(sc, opts, events, openers):
        rate = 50_000.0 if sc.traffic.rate == "max" else float(sc.traffic.rate)
        asked.append((sc.traffic.rate, tuple(sc.expect.proof)))
        r = row("pass" if rate <= 3000 else "fail", categories={"missing": 5} if rate > 3000 else None)
        r["rates"]["offered_connection_rate"]["per_second"] = rate
        r["plan"] = {"rate": rate, "ceiling": CEILING,
                     "dut_table": {"conntrack_max": 262144, "buckets": 1024}, "dut_timeouts": {"syn_sent": 120}}
        if 2000 < rate <= 3000 and lag_once["left"]:
            lag_once["left"] -= 1
            r["ports"]["b"]["lagged"] = True
        return r

    monkeypatch.setattr(B, "_run_step", fake_step)
    rep = B.run_benchmark(scenario(), trials=2, floor=1000, resolution=0.02)
    assert rep.exit_code == 0 and rep.word == "pass"
    assert asked[0] == ("max", ("table", "traffic")) and asked[1][0] == 1000  # the top, the floor; validated
    first = rep.searches[0]
    assert all(2940 <= s.figure <= 3000 for s in rep.searches) and first.outcome == "found"
    again = [s for s in first.steps if s.retried]
    assert len(again) == 1 and again[0].passed and "port B lagged" in again[0].retried[0]
    assert rep.ceiling["packets_per_second"] == 62_500.0 and rep.dut["conntrack_max"] == 262144
    d = rep.to_dict()
    assert d["maximum_connection_establishment_rate"]["trials_with_a_figure"] == 2
    assert [len(t["steps"]) for t in d["trials"]] == [len(s.steps) for s in rep.searches]
    assert validate(stamp("benchmark", d)) == []  # what the job writes, against its schema
    # without validation the scenario's proofs stand
    asked.clear()
    B.run_benchmark(scenario(), trials=1, floor=1000, resolution=0.02, validation=False)
    assert asked[0][1] == ("table",)


def test_a_refused_step_or_a_fault_ends_the_benchmark_with_its_exit_code(monkeypatch):
    from types import SimpleNamespace

    from ostinato_tcp.errors import CapacityError, DroneTimeoutError
    from ostinato_tcp.jobs import benchmark as B
    from .helpers import scenario

    for exc, kind, code in ((CapacityError("the DUT's table has room for 900 more entries"), "CapacityError", 2),
                            (DroneTimeoutError("no reply within 10 s", endpoint="d:7878", rpc="build"),
                             "DroneTimeoutError", 3)):
        monkeypatch.setattr(B, "run_scenario", lambda *a, _e=exc, **k: SimpleNamespace(exception=_e))
        monkeypatch.setattr(B, "result_to_dict", lambda r, _k=kind, _e=exc: {
            "verdict": "error", "error": str(_e), "error_type": _k, "entries_after_the_run": {"removed": 0}})
        rep = B.run_benchmark(scenario(), trials=3)
        assert rep.exit_code == code and rep.word == "error" and str(exc) in rep.error
        assert rep.searches and not rep.searches[0].steps  # not counted as a step the DUT failed
