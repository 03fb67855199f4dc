"""One run over two port pairs on two Drone namespaces, in a lab of its own (prefix
``otcpp``, 198.18.7.0/24) started apart from the tool as a user's lab would be, and run from
a profile on its lab file (other server port, client ports and counts than the shipped ones)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

PREFIX, NET = "otcpp", "198.18.7.0/24"


HISTORY = f"/tmp/{PREFIX}-history.sqlite"  # runs of this module are recorded apart from the user's history
ENV = dict(os.environ, OSTINATO_TCP_HISTORY=HISTORY)


def tool(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ostinato_tcp", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def pairs_lab():
    up = tool("lab", "up", "--prefix", PREFIX, "--mgmt-net", NET, "--pairs", "2", "--drone-per-pair", "--ipv6",
              "--json", timeout=180)
    assert up.returncode == 0, up.stderr
    yield json.loads(up.stdout)
    down = tool("lab", "down", "--prefix", PREFIX, timeout=120)
    if os.path.exists(HISTORY):
        os.unlink(HISTORY)
    assert down.returncode == 0, down.stderr
    assert not [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if ns.startswith(PREFIX + "-")]


def profile(eps, tmp_path, count: int, rate: float) -> str:
    data = {"name": "two-pairs", "lab_file": eps["lab_file"],
            "connections": {"client_ip": "10.1.1.100", "server_ip": "10.2.2.100", "server_port": 443,
                            "first_client_port": 41000, "count": count},
            "traffic": {"rate": rate}}
    path = tmp_path / f"pairs-{count}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def ct_lines(eps, server: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "exec", eps["dut"]["namespace"], "conntrack", "-L", "-p", "tcp", "--orig-dst",
                          server, "--orig-port-dst", "443"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def drone_ports(eps, pair: int) -> dict:
    from ostinato_tcp.drone import open_drone

    p = eps["pairs"][pair - 1]
    out = {}
    with open_drone(p["drone"]["host"], p["drone"]["port"]) as d:
        for name in (p["port_a"], p["port_b"]):
            pid = d.find_port(name)
            sids = d.getStreamIdList(d.pb.PortId(id=pid))
            gids = d.getDeviceGroupIdList(d.pb.PortId(id=pid))
            out[name] = {"streams": len(sids.stream_id), "groups": len(gids.device_group_id),
                         "transmitting": d.stats([pid])[pid].state.is_transmit_on}
    return out


def test_two_pairs_on_two_drones_all_established_with_per_pair_figures(pairs_lab, tmp_path):
    eps = pairs_lab
    assert eps["pairs"][0]["drone"]["host"] != eps["pairs"][1]["drone"]["host"]
    path, rep = profile(eps, tmp_path, 10_000, 5000), tmp_path / "rep.json"
    p = tool("check", path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "pair 2: Drone" in p.stdout and "pair 1: Drone" in p.stdout
    p = tool("plan", path, "--json")
    assert p.returncode == 0, p.stderr
    assert [x["total"] for x in json.loads(p.stdout)["pairs"]] == [5000, 5000]

    p = tool("run", path, "--keep-entries", "--report-json", str(rep))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith("PASS  10000/10000 ESTABLISHED+ASSURED"), p.stdout
    r = json.loads(rep.read_text())
    assert [(x["pair"], x["expected"], x["established_assured"], x["verdict"]) for x in r["pairs"]] == \
           [(1, 5000, 5000, "pass"), (2, 5000, 5000, "pass")]
    assert [x["server_ip"] for x in r["pairs"]] == ["10.2.2.100", "10.4.4.100"]
    assert {k: v["sent_packets"] for k, v in r["ports"].items()} == {"a1": 10000, "b1": 5000, "a2": 10000, "b2": 5000}
    assert r["ports"]["a1"]["drone"] != r["ports"]["a2"]["drone"]  # two Drones
    for x in r["pairs"]:
        assert x["offered_connection_rate"]["per_second"] > 0 and x["build_seconds"] > 0
    agg = r["rates"]["aggregate_connection_rate"]
    assert agg["count"] == 10000 and agg["per_second"] > 0 and agg["bound_pct"] is not None
    assert "pair 1 (10.1.1.100 -> 10.2.2.100): PASS 5000/5000" in p.stdout
    assert "aggregate connection rate" in p.stdout
    # the DUT itself: each pair's 5000 entries, ESTABLISHED and ASSURED, behind its own server
    for server, client in (("10.2.2.100", "10.1.1.100"), ("10.4.4.100", "10.3.3.100")):
        lines = ct_lines(eps, server)
        assert len(lines) == 5000 and all("ESTABLISHED" in x and "[ASSURED]" in x and f"src={client}" in x
                                          for x in lines)
    p = tool("verify", path)
    assert p.returncode == 0 and "pair 2: PASS  5000/5000" in p.stdout, p.stdout + p.stderr
    p = tool("history", "--json")
    assert p.returncode == 0, p.stderr
    runs = json.loads(p.stdout)["runs"]
    assert runs and runs[0]["verdict"] == "pass" and runs[0]["established_assured"] == 10000
    # the next run clears both pairs' entries first and removes them after
    p = tool("run", path, "--report-json", str(rep))
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(rep.read_text())["entries_after_the_run"]["removed"] == 10000
    assert ct_lines(eps, "10.2.2.100") == [] and ct_lines(eps, "10.4.4.100") == []


def test_a_fault_in_one_pair_stops_the_other(pairs_lab, tmp_path):
    eps = pairs_lab
    path, rep = profile(eps, tmp_path, 8000, 800), tmp_path / "rep.json"  # about 10 s of sending
    proc = subprocess.Popen([sys.executable, "-m", "ostinato_tcp", "run", path, "--report-json", str(rep)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 60
        while not ct_lines(eps, "10.2.2.100"):  # pair 1's SYNs are going through the DUT
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        pid = int(open(f"/run/ostinato-tcp/{PREFIX}/drone-p2.pid").read())
        os.kill(pid, signal.SIGKILL)  # pair 2's Drone dies
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    r = json.loads(rep.read_text())
    assert r["verdict"] == "error" and r["error"].startswith("pair 2:"), r["error"]
    assert r["pairs"][0]["verdict"] == "error" and "port pair 2 stopped" in r["pairs"][0]["error"]
    # pair 1 stopped sending long before its plan was done, and left its ports as it found them
    assert r["ports"]["a1"]["sent_packets"] < 16000
    assert drone_ports(eps, 1) == {"porta": {"streams": 0, "groups": 0, "transmitting": False},
                                   "portb": {"streams": 0, "groups": 0, "transmitting": False}}
    up = tool("lab", "up", "--prefix", PREFIX, "--mgmt-net", NET, "--pairs", "2", "--drone-per-pair", "--ipv6",
              timeout=180)
    assert up.returncode == 0, up.stderr  # the lab brings pair 2's Drone back


def test_dual_stack_over_two_pairs(pairs_lab, tmp_path):
    """Pair 1 IPv4, pair 2 IPv6 on the second Drone: one run, one verdict over both tables."""
    eps = pairs_lab
    ports = yaml.safe_load(open(eps["lab_file"]))["ports"]
    ports[1]["a"]["device"] = {"gateway": "fd00:3::1", "prefix": 64}
    ports[1]["b"]["device"] = {"gateway": "fd00:4::1", "prefix": 64}
    ports[1].update(client_ip="fd00:3::100", server_ip="fd00:4::100")
    data = {"name": "dual-stack", "lab_file": eps["lab_file"], "ports": ports,
            "connections": {"client_ip": "10.1.1.100", "server_ip": "10.2.2.100", "server_port": 443,
                            "first_client_port": 41000, "count": 4000},
            "traffic": {"rate": 2000}}
    path, rep = tmp_path / "dual.yaml", tmp_path / "rep.json"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    p = tool("run", str(path), "--keep-entries", "--report-json", str(rep))
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        r = json.loads(rep.read_text())
        assert [(x["client_ip"], x["established_assured"]) for x in r["pairs"]] == [("10.1.1.100", 2000),
                                                                                     ("fd00:3::100", 2000)]
        v6 = subprocess.run(["ip", "netns", "exec", eps["dut"]["namespace"], "conntrack", "-L", "-f", "ipv6", "-p",
                             "tcp", "--orig-dst", "fd00:4::100", "--orig-port-dst", "443"], capture_output=True,
                            text=True).stdout.splitlines()
        assert len(v6) == 2000 and all("ESTABLISHED" in x and "[ASSURED]" in x for x in v6)
        assert len(ct_lines(eps, "10.2.2.100")) == 2000
    finally:
        for args in (["-f", "ipv6", "--orig-dst", "fd00:4::100"], ["--orig-dst", "10.2.2.100"]):
            subprocess.run(["ip", "netns", "exec", eps["dut"]["namespace"], "conntrack", "-D", "-p", "tcp", *args],
                           capture_output=True)
