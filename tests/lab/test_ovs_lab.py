"""A DUT whose connection tracking is Open vSwitch's (the userspace ``netdev`` datapath's ``ct()``
flows, which also masquerade), in a lab of its own (prefix ``otcpo``, 198.18.10.0/24) started
apart from the tool as a user's lab would be: ``dut.kind: auto`` picks the ovs driver from the
lab file's ``dut.ovs``, 10,000 connections pass by the table and by the traffic, the kernel's
own table holds none of them (what was read is Open vSwitch's), and the clear by repeated
partial flushes leaves the space empty."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import lab_started_apart
from .test_procfs_lab import profile as procfs_profile, tool

PREFIX, NET = "otcpo", "198.18.10.0/24"


@pytest.fixture(scope="module")
def ovs_lab():
    with lab_started_apart(PREFIX, NET, "--dut", "ovs", "--nat", "masquerade") as eps:
        yield eps
    left = subprocess.run(["pgrep", "-f", f"/run/ostinato-tcp/{PREFIX}/ovs"], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"Open vSwitch of the lab still runs: {left.stdout}"


def profile(eps, tmp_path, **changes) -> str:
    # one client address: masquerade keeps its ports (four addresses collide on ports, and the
    # translated ones cost thousands of SYN-ACK streams: a heavier build than this test is about)
    base = {"name": "ovs", "nat.mode": "learn", "connections.client_ips": 1, "connections.server_port": 9443,
            "traffic.rate": 3000}
    return procfs_profile(eps, tmp_path, **{**base, **changes})


def appctl(eps, *args: str) -> str:
    ovs = eps["dut"]["ovs"]
    return subprocess.run(["ovs-appctl", "-t", ovs["target"], *args], capture_output=True, text=True,
                          check=True).stdout


def zone_entries(eps, port: int) -> int:
    zone = eps["dut"]["ovs"]["zone"]
    return sum(1 for x in appctl(eps, "dpctl/dump-conntrack", f"zone={zone}").splitlines()
               if x.startswith("tcp,") and f"dport={port})" in x.split("reply=")[0])


def test_check_picks_the_ovs_driver_and_reads_its_settings(ovs_lab, tmp_path):
    p = tool(tmp_path, "check", profile(ovs_lab, tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    lines = {x.split(":", 1)[0][6:]: x for x in p.stdout.splitlines() if x[:6].strip() in ("OK", "WARN", "FAIL")}
    assert "ovs" in lines["DUT driver"] and "dut.ovs" in lines["DUT driver"], lines["DUT driver"]
    assert "Open vSwitch" in lines["DUT conntrack"] and "zone 7" in lines["DUT conntrack"], lines["DUT conntrack"]
    assert "SYN_RECV 30 s" in lines["DUT timeouts"] and "ct-get-maxconns" in lines["DUT table"]
    assert lines["DUT tracks forwarded packets"].startswith("OK"), lines["DUT tracks forwarded packets"]


def test_ten_thousand_translated_connections_pass_by_table_and_traffic_on_open_vswitch(ovs_lab, tmp_path):
    rep = tmp_path / "r.json"
    p = tool(tmp_path, "run", "--report-json", str(rep), "--keep-entries",
             profile(ovs_lab, tmp_path, **{"expect.proof": ["table", "traffic"]}), timeout=600)
    assert rep.exists(), p.stdout + p.stderr
    r = json.loads(rep.read_text())
    assert p.returncode == 0 and r["verdict"] == "pass", p.stdout + p.stderr
    assert r["established_assured"] == 10000 and r["dut"]["driver"] == "ovs"
    assert "dut.ovs" in r["dut"]["driver_chosen"] and "ovs driver" in p.stdout
    assert r["freshness"]["timestamps"] is False and r["freshness"]["entries_before"] == 0
    # masquerade by the flows: every reply goes to the DUT's B-side address, learnt from the SYN_SENT entries
    assert r["nat_reply_destinations"] == {"10.2.2.1": 10000}, r["nat_reply_destinations"]
    tp = r["traffic_proof"]
    assert tp["carried_both_ways"] == 10000 and tp["mistranslated"] == {} and r["proof"]["traffic"] is True
    # the entries judged are Open vSwitch's: they are in its zone, and the kernel tracked none of them
    assert zone_entries(ovs_lab, 9443) == 10000
    kernel = subprocess.run(["ip", "netns", "exec", ovs_lab["dut"]["namespace"], "conntrack", "-L", "-p", "tcp",
                             "--orig-port-dst", "9443"], capture_output=True, text=True)
    assert kernel.returncode == 0 and kernel.stdout.strip() == "", kernel.stdout[:300] + kernel.stderr
    # kept entries: a run on the same tuples that may not clear is refused before any packet (exit 2) ...
    again = tool(tmp_path, "run", "-q", profile(ovs_lab, tmp_path, **{"dut.clear": "none"}))
    assert again.returncode == 2 and "already have conntrack entries" in again.stderr, again.stderr
    # ... and one that clears them (3.1.0's flush by partial tuple takes a part per call) starts from an empty space
    rep2 = tmp_path / "r2.json"
    p2 = tool(tmp_path, "run", "--report-json", str(rep2), profile(ovs_lab, tmp_path, **{"connections.count": 2000}),
              timeout=300)
    r2 = json.loads(rep2.read_text())
    assert p2.returncode == 0 and r2["established_assured"] == 2000, p2.stdout + p2.stderr
    assert r2["freshness"]["entries_before"] == 0
    assert zone_entries(ovs_lab, 9443) == 0  # dut.clear_after: test emptied the zone of the test's entries
