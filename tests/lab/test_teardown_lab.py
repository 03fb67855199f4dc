"""Tear-down legs against the lab's real conntrack: RST and FIN closes of 5,000 connections,
each connection's state proven after; a lost FIN-ACK leg diagnosed; both tear-down rates
measured."""

from __future__ import annotations

import pytest

from .conftest import clear_test_space, entries_in_test_space

N = {"connections.count": 5000, "traffic.rate": 5000}


@pytest.mark.exclusive  # the offered tear-down rate is held to the asked 5,000/s
@pytest.mark.parametrize("mode, end", [("rst", "CLOSE"), ("fin", "TIME_WAIT")])
def test_every_connection_closed_and_proven(ot, lab, scenario_file, mode, end):
    clear_test_space(lab)
    sc = scenario_file("lab-1000.yaml", name=f"td-{mode}", **N, **{"traffic.teardown": mode})
    rc, out, err, rep = ot("run", str(sc))
    td = rep["teardown"]
    lagged = any(p["lagged"] for p in list(rep["ports"].values()) + list(td["ports"].values()))
    # a busy host may keep less than the asked rate: a lagging port is reported; the run passes (a phased
    # plan's order holds whatever the speed) or, where the lag explains a failure, is inconclusive (exit 4)
    assert rc == 0 or (lagged and rc == 4), out + err
    assert td["passed"] and td["closed"] == 5000
    # CLOSE lasts 10 s: some may be gone by the dump; TIME_WAIT lasts 120 s
    assert set(td["states"]) <= {end} and td["states"].get(end, 0) + td["gone"] == 5000
    if mode == "fin":
        assert td["states"] == {"TIME_WAIT": 5000}
        assert {side: (p["sent_packets"], p["expected_packets"]) for side, p in td["ports"].items()} == \
            {"a": (10000, 10000), "b": (5000, 5000)}
    else:
        assert td["ports"]["a"]["sent_packets"] == 5000 and td["ports"]["b"]["sent_packets"] == 0
    assert td["counter_deltas"].get("invalid", 0) == 0
    offered, retire = td["offered_teardown_rate"], td["dut_retire_rate"]
    assert offered["count"] == 5000 and 3000 < offered["per_second"] < 6000  # a busy host kept 3,902/s of 5,000
    # polled counts: when one poll of the 5,000 entries takes as long as the retire (a busy host, CI
    # saw 0.84 s of 0.84 s), the bound is the whole time: the figure is then a bound, still reported
    assert retire["count"] == 5000 and retire["per_second"] > 0 and retire["bound_seconds"] <= retire["seconds"]
    assert f"teardown {mode}: 5000/5000 closed" in out and "DUT retire rate" in out
    assert entries_in_test_space(lab) == 0  # dut.clear_after removed them too


def test_a_lost_fin_ack_leg_is_diagnosed(ot, lab, scenario_file):
    clear_test_space(lab)
    sc = scenario_file("lab-1000.yaml", name="td-lost", **N, **{"traffic.teardown": "fin"})
    rc, out, err, rep = ot("run", "--disable-stream", "finack", str(sc))
    assert rc == 4, out + err  # Drone sent no FIN-ACK: the traffic, not the DUT
    assert rep["established_assured"] == 5000  # the handshake passed: the tear-down failed
    td = rep["teardown"]
    assert not td["passed"] and td["states"] == {"FIN_WAIT": 5000} and td["closed"] == 0
    assert any(d.startswith("tear-down: 5000 in FIN_WAIT after the tear-down (e.g. 10.1.1.100:") and
               "B's FIN-ACK never reached the DUT" in d for d in rep["diagnosis"]), rep["diagnosis"]
    assert any("port B (portb) sent 0 of the 5000 tear-down packets" in d for d in rep["diagnosis"])


def test_a_sweep_reports_the_connection_tear_down_rate(ot, lab, tmp_path):
    import csv
    import json

    import yaml

    from .conftest import SCENARIOS

    base = yaml.safe_load((SCENARIOS / "lab-1000.yaml").read_text())
    base["traffic"]["teardown"] = "rst"
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "sw.yaml").write_text(yaml.safe_dump({"name": "td-sweep", "base": "base.yaml", "counts": [3000],
                                                      "rates": [3000, 6000]}))
    clear_test_space(lab)
    rc, out, err, _ = ot("sweep", str(tmp_path / "sw.yaml"), "--out", str(tmp_path / "out"), "-q", timeout=900)
    assert rc == 0, out + err
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert [int(r["teardown_closed"]) for r in rows] == [3000, 3000]
    assert all(float(r["offered_teardown_rate"]) > 0 for r in rows)
    summary = json.loads((tmp_path / "out" / "results.json").read_text())["summary"]
    best = summary["connection_teardown_rate"]["3000"]
    assert best["mode"] == "rst" and best["teardowns_per_second"] == max(float(r["offered_teardown_rate"])
                                                                          for r in rows)
    assert "connection tear-down rate (rst)" in out
    assert (tmp_path / "out" / "teardown_rate.png").exists()
