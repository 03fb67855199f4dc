"""Scheduled-regression features in the lab: a real sweep with its outputs, and history."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

import pytest

from .conftest import SCENARIOS, dut_nft_table


def acks_dropped_at_the_dut(lab):
    """Every pure ACK arriving on the DUT's client-side link is dropped (netdev ingress): the SYNs and
    SYN-ACKs go through, so the entries stay in SYN_RECV."""
    return dut_nft_table(lab, "netdev", "otcp_noack", "in {\n  type filter hook ingress device dut-a priority -500;",
                         "tcp flags & (fin | syn | rst | ack) == ack counter drop")

@pytest.mark.exclusive  # the sweep's maximum rate is measured
def test_lab_sweep_writes_every_output(ot, tmp_path):
    out = tmp_path / "sweep"
    rc, stdout, err, _ = ot("sweep", str(SCENARIOS / "sweeps" / "lab-sweep.yaml"), "--out", str(out), "-q")
    assert rc == 0, stdout + err
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {(int(r["count"]), float(r["rate"])) for r in rows} == {
        (c, float(r)) for c in (1000, 10000) for r in (5000, 10000, 50000)}
    assert all(r["verdict"] == "pass" and r["established_assured"] == r["expected"] for r in rows)
    data = json.loads((out / "results.json").read_text())
    assert data["summary"]["grid_passed"] == 6
    assert data["summary"]["connection_tracking_table_capacity"]["largest_count_fully_established"] == 10000
    assert data["summary"]["connection_tracking_table_capacity"]["dut_nf_conntrack_max"] > 0
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "6" and suite.get("failures") == "0"
    for png in ("success_vs_rate.png", "established_vs_count.png", "phase_times.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the maximum is the measured offered rate of the fastest passing point (timed within 5%: by
    # Drone's capture, to microseconds), never its asked rate
    m = data["summary"]["maximum_connection_establishment_rate"]
    points = {p["point_name"]: p for p in data["points"]}
    for count in ("1000", "10000"):
        best = m[count]
        assert best["point"] == f"n{count}-r50000" and best["bound_pct"] <= 5
        offered = points[best["point"]]["rates"]["offered_connection_rate"]
        assert best["connections_per_second"] == offered["per_second"] != 50000
        # what Drone kept of the asked rate: never above it (beyond the bound), and more than half of it
        # (an idle host here keeps 49,000/s; busy ones kept 42,000/s and 37,454/s: the figure is then
        # what was kept, as above)
        assert 25000 < best["connections_per_second"] <= 50000 * (1 + best["bound_pct"] / 100), best
    assert "measured (point n10000-r50000" in stdout
    # run again: every point is already there, nothing is sent
    rc, stdout, err, _ = ot("sweep", str(SCENARIOS / "sweeps" / "lab-sweep.yaml"), "--out", str(out))
    assert rc == 0 and err.count("(already done)") == 6


@pytest.mark.exclusive  # two runs' measured rates are compared
def test_history_flags_a_degraded_run(ot, lab, scenario_file):
    sc = scenario_file("lab-1000.yaml", **{"name": "hist-check", "connections.count": 500, "traffic.rate": 500})
    rc, out, err, _ = ot("run", str(sc))
    assert rc == 0, out + err
    rc, out, err, _ = ot("history", "--scenario", "hist-check", "--fail-on-regression")
    assert rc == 0 and "no earlier passing run" in out
    rc, out, err, _ = ot("run", str(sc))
    assert rc == 0
    rc, out, err, _ = ot("history", "--scenario", "hist-check", "--fail-on-regression")
    assert rc == 0 and "is no worse than run" in out
    # the same scenario on a DUT that now drops the ACKs: worse, flagged, exit 1
    with acks_dropped_at_the_dut(lab):
        rc, out, err, _ = ot("run", str(sc))
    assert rc == 1
    rc, out, err, _ = ot("history", "--scenario", "hist-check")
    assert rc == 0 and "REGRESSION: run 3 against run 2" in out and "established+assured 0 < 500" in out
    lines = [line for line in out.splitlines() if "hist-check" in line and ("pass" in line or "fail" in line)]
    assert len(lines) == 3
    rc, out, err, _ = ot("history", "--scenario", "hist-check", "--fail-on-regression", "--json")
    assert rc == 1
    assert json.loads(out)["comparison"]["baseline"] == 2
