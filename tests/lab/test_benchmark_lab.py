"""``ostinato-tcp benchmark`` in the real lab: against a DUT that polices new connections at
3,000/s, RFC 9693's binary search finds the policer's rate within 5% in each of three trials
and reports their median and spread. Each step here is judged by the table alone
(``--no-validation``: a step with the traffic proof takes 8 s instead of 5 on this host, and
three searches are about 16 steps); the traffic proof gating a step is shown in
tests/lab/test_contract_lab.py and by the unit tests."""

from __future__ import annotations

import csv
import json

import pytest

from .conftest import SCENARIOS
from .test_ceiling_lab import POLICED, new_connections_policed

pytestmark = pytest.mark.exclusive  # the search measures rates


def test_the_search_finds_the_policed_rate_in_three_trials(ot, lab, tmp_path):
    rep, table = tmp_path / "bench.json", tmp_path / "steps.csv"
    # 4,000 connections a step: over a SYN phase of 1.3 s the policer's bucket (50 ms of SYNs) lets
    # through at most 3.9% more than its rate; pipelined, so a step's send takes 2 s, not 4
    with new_connections_policed(lab, POLICED):
        rc, out, err, _ = ot("benchmark", str(SCENARIOS / "lab-1000.yaml"), "--lab", lab.prefix, "--set",
                             "connections.count=4000", "--set", "traffic.mode=pipelined", "--trials", "3",
                             "--floor", "2800", "--top", "3400", "--resolution", "0.04", "--no-validation",
                             "--report-json", str(rep), "--csv", str(table), "--plot", str(tmp_path / "search.png"),
                             timeout=1200)
    assert rc == 0, out + err[-3000:]
    d = json.loads(rep.read_text())
    assert d["verdict"] == "pass" and d["validation"] is False and len(d["trials"]) == 3
    for tr in d["trials"]:
        assert tr["outcome"] == "found", tr
        assert abs(tr["figure"] - POLICED) / POLICED < 0.05, tr  # each trial within 5% of the policer
        steps = tr["steps"]
        assert steps[0]["asked_rate"] == 3400 and not steps[0]["passed"]  # the top
        assert steps[1]["asked_rate"] == 2800 and steps[1]["passed"]  # the floor
        # the figure is a measured rate of a step that passed; the bound above it a measured failure
        assert tr["figure"] in [s["measured_rate"] for s in steps if s["passed"]]
        assert tr["upper_bound"] == min(s["measured_rate"] for s in steps
                                        if not s["passed"] and s["measured_rate"] > tr["figure"])
        assert (tr["upper_bound"] - tr["figure"]) / tr["figure"] <= 0.04
        # the policer drops SYNs: a failing step above it is the DUT's (connections missing), not Drone's
        assert all(s["why"].startswith("fail: missing") and not s["generator_limited"]
                   for s in steps if not s["passed"] and s["measured_rate"] > 1.06 * POLICED), steps
    s = d["maximum_connection_establishment_rate"]
    figures = sorted(tr["figure"] for tr in d["trials"])
    assert s["median"] == figures[1] and s["minimum"] == figures[0] and s["maximum"] == figures[2]
    assert s["percentile_1"] is None and s["trials_with_a_figure"] == 3  # percentiles from 20 trials
    assert d["dut"]["conntrack_max"] and d["ceiling"]["packets_per_second"] > 5 * POLICED  # measured, shown
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == sum(len(tr["steps"]) for tr in d["trials"]) and rows[0]["trial"] == "1"
    assert (tmp_path / "search.png").stat().st_size > 1000
    assert out.splitlines()[-1].startswith("PASS  maximum connection establishment rate: median ")
    assert "trial 3/3 step " in err  # progress, a line per step
