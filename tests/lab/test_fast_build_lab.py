"""Drone's fast build in the lab: every checksum right on the wire, a gateway MAC that changes
during the run diagnosed, and the fall-back to the resolve form when fast frames come out wrong."""

from __future__ import annotations

import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.result import RunEvents
from ostinato_tcp.run.runner import Runner


@contextmanager
def capture(lab, ifname: str, path: Path, namespace: str | None = None):
    """tcpdump on a DUT interface (or one in ``namespace``) for the duration of the block (TCP only)."""
    proc = subprocess.Popen(["ip", "netns", "exec", namespace or lab.dut["namespace"], "tcpdump", "-i", ifname,
                             "-w", str(path),
                             "-B", "65536", "-s", "96", "-U", "tcp"], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        yield
    finally:
        time.sleep(0.5)
        proc.terminate()
        proc.wait(10)


def checksums(path: Path) -> tuple[int, int]:
    """(TCP packets in the capture, packets tcpdump -vv finds a wrong IP or TCP checksum in)."""
    out = subprocess.run(["tcpdump", "-r", str(path), "-nn", "-vv"], capture_output=True, text=True).stdout
    packets = len(re.findall(r"proto TCP \(6\)", out))
    return packets, out.count("incorrect") + out.count("bad cksum")


def sysctl(lab, name: str) -> str:
    return subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "sysctl", "-n", name], capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.parametrize("ips,count,first_port", [(1, 30000, 20000), (6, 42000, 30000)], ids=["1-ip", "6-ips"])
def test_fast_build_passes_and_every_checksum_on_the_wire_is_right(ot, lab, scenario_file, tmp_path, ips, count,
                                                                   first_port):
    assert sysctl(lab, "net.netfilter.nf_conntrack_checksum") == "1"  # the DUT drops bad checksums as invalid
    sc = scenario_file("lab-1000.yaml", **{"connections.count": count, "connections.client_ips": ips,
                                           "connections.first_client_port": first_port, "traffic.rate": 20000})
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    with capture(lab, "dut-a", a), capture(lab, "dut-b", b):
        rc, out, err, rep = ot("run", str(sc))
    assert rc == 0 and rep["established_assured"] == count, out + err
    assert [c["form"] for c in rep["drone_build"]] == ["fast"] and rep["drone_build"][0]["bad_frames"] == 0
    assert rep["plan"]["client_ips"] == ips
    # the wrap of the TCP checksum's sum is crossed in the 1-IP run (ports 20000..49999)
    for path, sent in ((a, 2 * count), (b, count)):
        packets, bad = checksums(path)
        assert bad == 0 and packets >= sent, (path.name, packets, bad)  # B's side also sees the forwarded SYNs/ACKs
    assert rep["dut"]["counter_deltas"].get("invalid", 0) == 0


class ChangeGatewayMacAtSend(RunEvents):
    """Changes the DUT's A-side MAC once the run's frames are built (between resolve and send)."""

    def __init__(self, lab, mac: str):
        self.lab, self.mac, self.done = lab, mac, False

    def phase(self, name: str, detail: str = "") -> None:
        if name == "send" and not self.done:
            subprocess.run(["ip", "netns", "exec", self.lab.dut["namespace"], "ip", "link", "set", "dut-a", "address",
                            self.mac], check=True)
            self.done = True


def _dut_mac(lab) -> str:
    out = subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "cat", "/sys/class/net/dut-a/address"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_gateway_mac_changed_between_resolve_and_send_is_diagnosed(lab, load_lab_scenario):
    sc = load_lab_scenario("lab-1000.yaml", **{"connections.count": 2000, "traffic.rate": 2000})
    old = _dut_mac(lab)
    events = ChangeGatewayMacAtSend(lab, "02:42:de:ad:be:ef")
    try:
        r = Runner(sc, RunOptions(poll_interval=0), events).run()
    finally:
        subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "ip", "link", "set", "dut-a", "address", old],
                       check=True)
    assert events.done and not r.passed and r.error is None
    assert r.verdict.counts["missing"] == 2000  # the SYNs went to the old MAC: the DUT never saw them
    (change,) = r.gateway_changes
    assert "port A (porta): the gateway 10.1.1.1 answers ARP with 02:42:de:ad:be:ef" in change
    assert f"the run's frames went to {old}" in change
    assert r.diagnosis[0] == change


def test_fast_build_giving_wrong_frames_falls_back_to_resolve(lab, load_lab_scenario):
    sc = load_lab_scenario("lab-1000.yaml", **{"connections.count": 3000, "traffic.rate": 3000})
    r = Runner(sc, RunOptions(poll_interval=0, fault_fast_build=1)).run()
    assert r.passed, (r.error, r.diagnosis)
    (check,) = r.build_checks
    assert check["form"] == "resolve" and check["bad_frames"] == check["frames_checked"] == 3000
    assert not r.plan.fast and r.plan.build_per_packet == check["build_seconds_per_packet"]
    assert any("the fast build is not used" in w for w in r.warnings)
