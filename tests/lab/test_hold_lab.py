"""expect.hold against the lab's real conntrack: entries that outlive the hold pass, entries
whose established timeout runs out during it fail with that timeout named, and keep-alive
ACKs sent by Drone refresh the timeout so the same hold passes."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager

from .conftest import clear_test_space

ESTABLISHED = "net.netfilter.nf_conntrack_tcp_timeout_established"


def _sysctl(lab, name: str, value: str | None = None) -> str:
    argv = ["ip", "netns", "exec", lab.dut["namespace"], "sysctl", "-n" if value is None else "-w",
            name if value is None else f"{name}={value}"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


@contextmanager
def established_timeout(lab, seconds: int):
    """The DUT's established timeout set for the test, restored afterwards."""
    old = _sysctl(lab, ESTABLISHED)
    _sysctl(lab, ESTABLISHED, str(seconds))
    try:
        yield
    finally:
        _sysctl(lab, ESTABLISHED, old)


HOLD = {"connections.count": 2000, "traffic.rate": 2000, "expect.hold": "5s"}
SHORT = dict(HOLD, **{"expect.hold": "10s"})  # past a 6 s established timeout


def test_connections_held_5s_are_all_still_established(ot, lab, scenario_file):
    clear_test_space(lab)
    rc, out, err, rep = ot("run", str(scenario_file("lab-1000.yaml", name="hold-ok", **HOLD)))
    assert rc == 0, out + err
    h = rep["hold"]
    assert h["passed"] and h["established_assured"] == 2000 and h["held_seconds"] >= 5
    assert h["established_timeout"] == 432000 and h["keepalive_rounds"] == 0
    assert "hold: still 2000/2000 ESTABLISHED+ASSURED after 5" in out


def test_an_established_timeout_shorter_than_the_hold_fails_with_the_reason(ot, lab, scenario_file):
    clear_test_space(lab)
    sc = scenario_file("lab-1000.yaml", name="hold-short", **SHORT)
    with established_timeout(lab, 6):
        rc, out, err, rep = ot("plan", str(sc), report=False)
        assert rc == 0 and "stay idle 10 s, not less than the DUT's established timeout 6 s" in out
        rc, out, err, rep = ot("run", str(sc))
    assert rc == 1, out + err
    assert rep["established_assured"] == 2000  # the verdict itself passed: the entries went during the hold
    h = rep["hold"]
    assert not h["passed"] and h["established_assured"] == 0 and h["categories"]["missing"] == 2000
    assert h["longest_idle_seconds"] > h["held_seconds"] >= 10  # idle from the ACKs, which came before the hold
    assert any(d.startswith("after the hold: 2000 connection(s) lost their entry during the") and
               "the DUT's established timeout is 6 s (nf_conntrack_tcp_timeout_established)" in d
               for d in rep["diagnosis"]), rep["diagnosis"]
    assert out.startswith("FAIL  2000/2000") and "hold: only 0/2000 ESTABLISHED+ASSURED" in out


def test_keepalive_acks_from_drone_keep_them_through_the_same_hold(ot, lab, scenario_file):
    clear_test_space(lab)
    sc = scenario_file("lab-1000.yaml", name="hold-keep", **SHORT, **{"traffic.keepalive": "3s"})
    with established_timeout(lab, 6):
        rc, out, err, rep = ot("run", str(sc))
    assert rc == 0, out + err
    h = rep["hold"]
    assert h["passed"] and h["established_assured"] == 2000
    # due 3 s after the ACKs began (the verdict's dump takes some of that), then every 3 s of the 10 s hold
    rounds = h["keepalive_rounds"]
    assert rounds in (3, 4) and rounds * 2000 <= h["keepalive_packets"] <= rounds * 2000 + 10, h
    # the first round is due 3 s after the ACKs began, not after the verdict's dump: no gap reaches the 6 s timeout
    assert 2.9 <= h["longest_idle_seconds"] < 6, h
