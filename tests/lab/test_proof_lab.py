"""A PASS is a proof of this run: stale entries, a port that sent nothing, a lost leg hidden
by an earlier run's entries, rates that are measured, and the tool's own SSH session."""

from __future__ import annotations

import json

import yaml

from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.scenario import scenario_from_data
from ostinato_tcp.jobs.verify import verify_live

from .conftest import SCENARIOS, clear_test_space, dut_nft_table, entries_in_test_space


def synacks_dropped_at_the_dut(lab):
    """Every TCP packet arriving on the DUT's server-side link is dropped (netdev ingress)."""
    return dut_nft_table(lab, "netdev", "otcp_drop", "in {\n  type filter hook ingress device dut-b priority -500;",
                         "meta l4proto tcp counter drop")


def test_stale_entries_never_make_a_pass(ot, lab, scenario_file):
    clear_test_space(lab)
    first = scenario_file("lab-1000.yaml", **{"name": "stale", "connections.count": 5000, "traffic.rate": 5000})
    rc, out, err, rep = ot("run", "--keep-entries", str(first))  # its entries stay, as an earlier run's would
    assert rc == 0 and rep["established_assured"] == 5000, out + err
    # the same test again with dut.clear none, every SYN-ACK dropped at the DUT: the 5000 entries of the
    # first run are there, ESTABLISHED+ASSURED, but they are not this run's
    again = scenario_file("lab-1000.yaml", **{"name": "stale", "connections.count": 5000, "traffic.rate": 5000,
                                              "dut.clear": "none"})
    with synacks_dropped_at_the_dut(lab):
        rc, out, err, rep = ot("run", str(again))
    assert rc == 2 and rep is None, out + err
    assert "dut.clear none: 5000 of the test's 5000 connections already have conntrack entries" in err
    assert "this run could not prove them its own" in err and "Fix: dut.clear test" in err
    assert [line for line in err.splitlines() if line.startswith("ostinato-tcp:")] == [err.strip().splitlines()[-1]]
    assert out == ""
    # port B sending nothing, clear none: refused the same way, nothing sent
    rc, out, err, rep = ot("run", "--disable-stream", "synack", str(again))
    assert rc == 2 and "already have conntrack entries" in err
    # with the default clear the old entries go first, and the lost leg shows
    fresh = scenario_file("lab-1000.yaml", **{"name": "stale", "connections.count": 5000, "traffic.rate": 5000})
    with synacks_dropped_at_the_dut(lab):
        rc, out, err, rep = ot("run", str(fresh))
    assert rc == 1 and rep["categories"]["syn_sent_unreplied"] == 5000, out + err
    assert rep["outcome"]["delivered_in_order"] == 5000 and rep["outcome"]["failed_in_order"] == 5000
    assert rep["freshness"]["entries_before"] == 0
    rc, out, err, rep = ot("run", "--disable-stream", "synack", str(fresh))
    assert rc == 4 and rep["ports"]["b"]["sent_packets"] == 0 and rep["ports_short"] == ["b"]
    assert rep["verdict"] == "inconclusive"  # port B sent nothing: the traffic, not the DUT
    assert any("port B (portb) sent 0 of the 5000 TCP packets the plan said" in d for d in rep["diagnosis"])


def test_freshness_proof_with_and_without_dut_timestamps(ot, relab, scenario_file):
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 500, "traffic.rate": 500})
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 0, out + err
    assert rep["freshness"]["timestamps"] and rep["dump"]["max_age_seconds"] >= 1
    assert "fresh: entry ages (nf_conntrack_timestamp=1)" in out
    relab(timestamps=False)  # a DUT that keeps no start times: the read-back is the proof
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 0, out + err
    assert rep["freshness"]["timestamps"] is False and "max_age_seconds" not in rep["dump"]
    assert "fresh: the test's space read back empty before the first packet" in out


def test_sweep_point_asking_more_than_drone_can_send_is_refused_with_the_measured_ceiling(ot, tmp_path):
    sweep = tmp_path / "fast.yaml"
    sweep.write_text(yaml.safe_dump({"name": "too-fast", "base": str(SCENARIOS / "lab-1000.yaml"),
                                     "counts": [10000], "rates": [5000, 3000000]}))
    out = tmp_path / "out"
    rc, stdout, err, _ = ot("sweep", str(sweep), "--out", str(out), "-q", timeout=900)
    assert rc == 4, stdout + err  # nothing failed, a point could not be tested: not a pass
    data = json.loads((out / "results.json").read_text())
    points = {p["point_name"]: p for p in data["points"]}
    fast = points["n10000-r3e+06"]
    assert fast["verdict"] == "error" and fast["error_type"] == "PlanError"
    assert "traffic.rate 3,000,000/s is more than Drone's ports keep here" in fast["error"]
    m = data["summary"]["maximum_connection_establishment_rate"]["10000"]
    assert [x["point"] for x in m["not_tested"]] == ["n10000-r3e+06"] and m["not_tested"][0]["status"] == "refused"
    slow = points["n10000-r5000"]["rates"]["offered_connection_rate"]["per_second"]
    assert m["point"] == "n10000-r5000" and m["connections_per_second"] == slow
    # counted at the rate it measured; a busy host that kept less than 5,000/s says so (a lagged point)
    lagged = any(p["lagged"] for p in points["n10000-r5000"]["ports"].values())
    assert [x["point"] for x in m["lagged_points"]] == (["n10000-r5000"] if lagged else [])
    assert lagged or abs(m["connections_per_second"] - 5000) / 5000 < 0.10
    assert "point n10000-r3e+06: REFUSED, asked 3,000,000/s:" in stdout and "1 refused by the plan" in stdout


def test_the_tools_own_ssh_session_is_never_an_unexpected_entry(lab, tmp_path):
    # A test space that holds the tool's SSH login to the DUT: server = the DUT's SSH address
    # and port. The session's entry is there (conntrack tracks it), but it is not counted.
    ssh = lab.ssh  # the controller reaches the DUT from .5 of the /30 whose .6 is the DUT's SSH address
    controller = ssh["host"].rsplit(".", 1)[0] + "." + str(int(ssh["host"].rsplit(".", 1)[1]) - 1)
    data = {"name": "session", "drones": {"m": {"host": lab.drone_a["host"]}},
            "ports": {"a": {"drone": "m", "interface": "porta", "device": {"gateway": ssh["host"], "prefix": 30}},
                      # (sends nothing: port B's gateway only needs to be another address of the server's subnet)
                      "b": {"drone": "m", "interface": "portb",
                            "device": {"gateway": ssh["host"].rsplit(".", 1)[0] + "." + str(
                                (int(ssh["host"].rsplit(".", 1)[1]) & ~7) + 1), "prefix": 29}}},
            "connections": {"client_ip": controller, "server_ip": ssh["host"], "server_port": 22,
                            "first_client_port": 1024, "count": 1},
            "traffic": {"rate": 10},
            "dut": {"host": ssh["host"], "user": "root", "key_file": ssh["key_file"],
                    "known_hosts": ssh["known_hosts"], "ssh_config": False}}
    sc = scenario_from_data(data)
    out = verify_live(sc, RunOptions())
    v = out.verdict
    # earlier logins linger in TIME_WAIT and are someone else's; the live session is ours and left out
    assert v.parse.entries - v.unexpected == 1, v.unexpected_samples
    assert not any(x.startswith("ESTABLISHED") for x in v.unexpected_samples), v.unexpected_samples
    clear_test_space(lab)
    assert entries_in_test_space(lab) == 0
