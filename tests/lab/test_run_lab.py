"""The main job in the lab: real Drone, real DUT conntrack, through the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import SCENARIOS, clear_test_space, drone_streams, entries_in_test_space


def test_lab_1_phased_passes(ot):
    rc, out, err, rep = ot("run", str(SCENARIOS / "lab-1.yaml"))
    assert rc == 0, out + err
    assert out.startswith("PASS  1/1 ESTABLISHED+ASSURED")
    assert rep["plan"]["mode"] == "phased"
    assert rep["verdict"] == "pass" and rep["established_assured"] == 1 and rep["states"] == {"ESTABLISHED": 1}


@pytest.mark.exclusive  # the SYN phase's pace is compared with port A's within 0.5%
def test_lab_1000_the_article(ot, lab):
    rc, out, err, rep = ot("run", "--keep-entries", str(SCENARIOS / "lab-1000.yaml"))
    assert rc == 0, out + err
    assert "PASS  1000/1000 ESTABLISHED+ASSURED" in out
    for key in ("verdict", "expected", "established_assured", "states", "timings", "scenario", "diagnosis"):
        assert key in rep
    assert rep["expected"] == 1000 and rep["states"] == {"ESTABLISHED": 1000} and rep["diagnosis"] == []
    assert rep["plan"]["mode"] == "pipelined" and rep["plan"]["delay"] == 5.0
    assert abs(rep["delays"][0] - 5.0) < 0.1  # B really started 5 s after A
    # the run's TCP packets exactly: the emulated devices' ARP frames are counted apart
    assert rep["ports"]["a"]["sent_packets"] == 2000 and rep["ports"]["b"]["sent_packets"] == 1000
    assert rep["ports"]["a"]["frames_exact"] and rep["ports"]["b"]["frames_exact"]
    assert "port A porta: sent 2000/2000 packets" in out and "port B portb: sent 1000/1000 packets" in out
    # the three rates, measured: the offered rate is the SYN phase's (1000 SYNs over its time) and port
    # A's packet rate its whole send; each is within traffic.rate_tolerance of the 100/s asked, not
    # nearer each other (on a busy host Drone paced the SYNs at 98.1/s and the ACKs at 95.4/s). End to
    # end (first SYN to last ACK, port A's send) is half port A's pace: SYNs and ACKs share it
    offered, e2e = rep["rates"]["offered_connection_rate"], rep["rates"]["end_to_end_connection_rate"]
    a_rate = rep["ports"]["a"]["packet_rate"]
    assert offered["bound_pct"] < 1 and offered["count"] == 1000 and a_rate["count"] == 2000
    assert abs(offered["per_second"] - offered["count"] / offered["seconds"]) <= 0.05, offered
    for rate in (offered, a_rate):
        assert abs(rate["per_second"] - 100) <= 100 * 0.10, (offered, a_rate)  # the scenario's rate_tolerance
    assert abs(e2e["per_second"] - a_rate["per_second"] / 2) <= a_rate["per_second"] / 2 * 0.01, (e2e, a_rate)
    assert rep["freshness"]["timestamps"] is True
    assert not rep["ports"]["a"]["lagged"] and not rep["ports"]["b"]["lagged"]
    assert set(rep["timings"]) >= {"configure", "build", "send", "verify", "total"}
    assert rep["scenario"]["traffic"]["client_isn"] == 100
    # the run removed what it created on Drone
    assert drone_streams(lab, "porta") == [] and drone_streams(lab, "portb") == []
    # verify alone, without traffic, agrees (the entries were kept)
    rc, out, err, _ = ot("verify", str(SCENARIOS / "lab-1000.yaml"))
    assert rc == 0 and out.startswith("PASS  1000/1000"), out + err


@pytest.mark.slow
@pytest.mark.exclusive  # 10,000/s on port A: a port that lags beside another lab is INCONCLUSIVE
def test_lab_30000_fast(ot):
    rc, out, err, rep = ot("run", str(SCENARIOS / "lab-30000-fast.yaml"))
    assert rc == 0, out + err
    assert rep["established_assured"] == 30000
    assert rep["plan"]["rate"] == 10000


def test_lost_synack_leg_is_diagnosed(ot, scenario_file):
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 400, "traffic.rate": 400})
    rc, out, err, rep = ot("run", "--disable-stream", "synack", str(sc))
    assert rc == 4, out + err  # Drone sent no SYN-ACK: the traffic, not the DUT
    assert rep["categories"]["syn_sent_unreplied"] == 400 and rep["established_assured"] == 0
    assert rep["states"] == {"SYN_SENT": 400}
    assert any("400 in SYN_SENT [UNREPLIED]" in d and "SYN-ACK never reached the DUT" in d for d in rep["diagnosis"])
    assert "INCONCLUSIVE  0/400 ESTABLISHED+ASSURED" in out
    assert "outcome: port B (portb) sent 0 of the 400 TCP packets the plan said: the traffic, not the DUT" in out


def test_delay_beyond_window_refused_then_forced(ot, scenario_file, lab):
    sc = scenario_file("lab-1000.yaml", **{"connections.count": 300, "traffic.rate": 150, "traffic.delay": 3})
    rc, out, err, _ = ot("plan", str(sc))
    assert rc == 2 and "REFUSED: traffic.delay 3 s is not below batch size/rate = 2 s" in out
    clear_test_space(lab)
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 2 and rep is None
    errors = [line for line in err.splitlines() if line.startswith("ostinato-tcp: error:")]
    assert len(errors) == 1 and "traffic.delay 3 s is not below batch size/rate = 2 s" in errors[0]
    assert drone_streams(lab, "porta") == []  # nothing was configured on Drone
    assert entries_in_test_space(lab) == 0  # and nothing reached the DUT
    rc, out, err, rep = ot("run", "--ignore-plan-checks", str(sc))
    assert rc == 4, out + err  # the forced plan sent every ACK before its SYN-ACK: the traffic's doing
    assert rep["established_assured"] == 0 and rep["categories"]["syn_recv"] == 300
    diag = " ".join(rep["diagnosis"])
    assert "the ACKs reached the DUT before the SYN-ACKs" in diag
    assert "the plan was forced past its checks" in diag
    assert rep["outcome"]["failed_by_the_traffic"] == 300 and rep["outcome"]["delivered_in_order"] == 0


def test_capacity_refusal_sends_nothing(ot, lab, scenario_file):
    # more connections than the DUT's table holds (nf_conntrack_max is 262144 by default;
    # the test leaves that host-global setting alone)
    max_ = int(subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "cat",
                               "/proc/sys/net/netfilter/nf_conntrack_max"], capture_output=True, text=True).stdout)
    sc = scenario_file("lab-1000.yaml", **{"connections.count": max_ + 1000, "connections.client_ips": "auto",
                                           "connections.first_client_port": 1024, "traffic.rate": 100000})
    clear_test_space(lab)
    rc, out, err, rep = ot("run", str(sc))
    assert rc == 2, out + err
    assert f"connections.count {max_ + 1000} is more than the DUT's conntrack table can take: nf_conntrack_max {max_}" in err
    # the DUT was only read: no stream on Drone, no entry in the test's address space
    assert drone_streams(lab, "porta") == [] and entries_in_test_space(lab) == 0


def test_two_drones_and_a_fault_stops_every_port(ot, relab, scenario_file, tmp_path):
    eps = relab(two_drones=True)
    assert eps.drone_b["host"] != eps.drone_a["host"]

    # Drone B dies in the middle of a run: exit 3, port A stopped and cleaned up.
    sc = scenario_file("lab-two-drones.yaml", **{"connections.count": 20000, "traffic.rate": 2000})
    env = dict(os.environ, OSTINATO_TCP_HISTORY=str(tmp_path / "h.sqlite"))
    report = tmp_path / "fault.json"
    proc = subprocess.Popen([sys.executable, "-m", "ostinato_tcp", "run", "-q", "--lab", eps.prefix,
                             "--report-json", str(report), str(sc)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    pid = int(Path(f"/run/ostinato-tcp/{eps.prefix}/drone2.pid").read_text())
    from ostinato_tcp.drone import open_drone

    # Drone answers one RPC at a time: while it builds the run's 40,000 packets our getStats waits.
    with open_drone(eps.drone_a["host"], eps.drone_a["port"], timeout=120) as a, \
            open_drone(eps.drone_b["host"], eps.drone_b["port"], timeout=120) as b:
        port_a, port_b = a.find_port("porta"), b.find_port("portb")
        deadline = time.monotonic() + 90
        # both ports transmitting: A since the start, B after the 5 s delay
        while not (a.stats([port_a])[port_a].state.is_transmit_on and b.stats([port_b])[port_b].state.is_transmit_on):
            assert time.monotonic() < deadline and proc.poll() is None, "the ports never both transmitted"
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, out + err
        assert f"Drone {eps.drone_b['host']}:7878" in err
        rep = json.loads(report.read_text())  # the fault is in the report too
        assert rep["verdict"] == "error" and f"Drone {eps.drone_b['host']}:7878" in rep["error"]
        time.sleep(0.5)
        assert not a.stats([port_a])[port_a].state.is_transmit_on  # the fault stopped port A
        ids = a.getStreamIdList(a.pb.PortId(id=port_a))
        assert not ids.stream_id  # and its streams were removed
        assert a.port_config(port_a).user_name == ""  # and its tag
    # Drone B back (the lab restarts it): the next run passes
    relab(two_drones=True)
    rc, out, err, rep = ot("run", str(SCENARIOS / "lab-two-drones.yaml"), "--set", "traffic.rate=2500")
    assert rc == 0 and rep["established_assured"] == 5000, out + err
    assert rep["ports"]["a"]["drone"] != rep["ports"]["b"]["drone"]  # ports A and B on two Drones
