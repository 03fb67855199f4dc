"""A DUT whose SSH login has no conntrack-tools, only /proc/net/nf_conntrack (as OpenWrt and
BusyBox images), in a lab of its own (prefix ``otcpf``, 198.18.8.0/24) started apart from the
tool as a user's lab would be: ``dut.kind: auto`` finds the procfs driver, a run of 10,000
connections passes on it, the verdict names the driver, and what it cannot do (delete) is
refused before any packet."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from ostinato_tcp.scenario import with_changes

from .conftest import lab_started_apart

PREFIX, NET = "otcpf", "198.18.8.0/24"


@pytest.fixture(scope="module")
def procfs_lab():
    with lab_started_apart(PREFIX, NET, "--dut", "procfs") as eps:
        yield eps


def profile(eps, tmp_path, **changes) -> str:
    data = {"name": "procfs", "lab_file": eps["lab_file"],
            "connections": {"client_ip": "10.1.1.40", "client_ips": 4, "server_ip": "10.2.2.80", "server_port": 9443,
                            "first_client_port": 31000, "count": 10000},
            "traffic": {"rate": 5000}}
    out = tmp_path / f"procfs-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    out.write_text(yaml.safe_dump(with_changes(data, changes), sort_keys=False))
    return str(out)


def tool(tmp_path, *args, timeout=300):
    env = dict(os.environ, OSTINATO_TCP_HISTORY=str(tmp_path / "h.sqlite"))
    return subprocess.run([sys.executable, "-m", "ostinato_tcp", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def dut_ssh(eps, command: str) -> subprocess.CompletedProcess:
    s = eps["ssh"]
    return subprocess.run(["ssh", "-i", s["key_file"], "-o", f"UserKnownHostsFile={s['known_hosts']}",
                           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"{s['user']}@{s['host']}",
                           command], capture_output=True, text=True, timeout=30)


def test_the_login_has_no_conntrack_tools_but_reads_proc(procfs_lab):
    assert dut_ssh(procfs_lab, "command -v conntrack").returncode != 0
    read = dut_ssh(procfs_lab, "head -c 0 /proc/net/nf_conntrack && echo readable")
    assert read.returncode == 0 and "readable" in read.stdout, read.stderr


def test_check_picks_the_procfs_driver(procfs_lab, tmp_path):
    p = tool(tmp_path, "check", profile(procfs_lab, tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    line = next(x for x in p.stdout.splitlines() if "DUT driver" in x)
    assert "procfs" in line and "auto" in line and "read only" in line, line


def test_ten_thousand_connections_pass_read_through_proc_and_carry_data_both_ways(procfs_lab, tmp_path):
    rep = tmp_path / "r.json"
    p = tool(tmp_path, "run", "--report-json", str(rep),
             profile(procfs_lab, tmp_path, **{"expect.proof": ["table", "traffic"]}), timeout=600)
    assert rep.exists(), p.stdout + p.stderr
    r = json.loads(rep.read_text())
    assert p.returncode == 0 and r["verdict"] == "pass", p.stdout + p.stderr
    assert r["established_assured"] == 10000
    assert r["dut"]["driver"] == "procfs" and "auto" in r["dut"]["driver_chosen"]
    assert r["freshness"]["timestamps"] is True  # ages from delta-time= in /proc's lines
    assert "procfs driver" in p.stdout
    # the traffic proof over four client addresses to another server address and port than the built-in lab's
    tp = r["traffic_proof"]
    assert tp["carried_both_ways"] == 10000 and tp["mistranslated"] == {} and r["proof"]["traffic"] is True
    assert "10000/10000 carried both ways" in p.stdout
    # nothing was deleted: the entries are still there, and a run on the same tuples is refused (exit 2)
    n = subprocess.run(["ip", "netns", "exec", procfs_lab["dut"]["namespace"], "conntrack", "-L", "-p", "tcp",
                        "--orig-dst", "10.2.2.80", "--orig-port-dst", "9443"], capture_output=True, text=True)
    assert len(n.stdout.splitlines()) == 10000
    again = tool(tmp_path, "run", "-q", profile(procfs_lab, tmp_path, **{"connections.count": 100}))
    assert again.returncode == 2 and "already have conntrack entries" in again.stderr, again.stderr


def test_a_scenario_asking_the_procfs_driver_to_delete_is_refused(procfs_lab, tmp_path):
    p = tool(tmp_path, "run", "-q", profile(procfs_lab, tmp_path, **{"dut.clear": "test",
                                                                     "connections.first_client_port": 45000}))
    assert p.returncode == 2, p.stdout + p.stderr
    (line,) = p.stderr.strip().splitlines()
    assert line.startswith("ostinato-tcp: error: dut.clear: test: ") and "procfs" in line, line
    ns = procfs_lab["dut"]["namespace"]
    left = subprocess.run(["ip", "netns", "exec", ns, "conntrack", "-L", "-p", "tcp", "--orig-port-src", "45000"],
                          capture_output=True, text=True).stdout
    assert left.strip() == ""  # nothing was sent


def test_check_picks_conntrack_where_it_is(lab, tmp_path):
    sc = {"name": "auto", "lab_file": lab.lab_file,  # the shared test lab: conntrack-tools present
          "connections": {"client_ip": "10.1.1.100", "server_ip": "10.2.2.100", "server_port": 8080, "count": 100,
                          "first_client_port": 23420}, "traffic": {"rate": 100}}
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(sc))
    p = tool(tmp_path, "check", str(path))
    line = next((x for x in p.stdout.splitlines() if "DUT driver" in x), p.stdout + p.stderr)
    assert "conntrack" in line and "conntrack-tools found" in line, line
