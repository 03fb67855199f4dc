"""DUTs that are harder to reach, in a lab of their own (prefix ``otcpj``, 198.18.6.0/24),
started apart from the tool as a user's lab would be:

- the DUT forwards in a namespace nested in the one its sshd runs in (``dut.netns``,
  as on container hosts): conntrack is read with ``ip netns exec``;
- the DUT's sshd is reached only through an SSH bastion (``dut.jump``, or ``ProxyJump`` in
  ~/.ssh/config), over paramiko channels, each hop's host key checked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

from ostinato_tcp.scenario import with_changes

from .conftest import lab_started_apart

PREFIX, NET = "otcpj", "198.18.6.0/24"


@pytest.fixture(scope="module")
def far_lab():
    with lab_started_apart(PREFIX, NET, "--jump-host", "--dut-netns") as eps:
        yield eps


def profile(eps, tmp_path, **changes) -> str:
    data = {"name": "far", "lab_file": eps["lab_file"],
            "connections": {"client_ip": "10.1.1.100", "server_ip": "10.2.2.100", "server_port": 8080,
                            "first_client_port": 23420, "count": 800},
            "traffic": {"rate": 800}}
    data = with_changes(data, changes)
    out = tmp_path / f"far-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(out)


def tool(*args, env=None, timeout=300):
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p


def entries_in(ns: str) -> int:
    out = subprocess.run(["ip", "netns", "exec", ns, "conntrack", "-L", "-p", "tcp", "--orig-dst", "10.2.2.100",
                          "--orig-port-dst", "8080"], capture_output=True, text=True).stdout
    return len(out.splitlines())


def test_dut_forwarding_in_a_nested_namespace(far_lab, tmp_path):
    eps = far_lab
    fwd, ssh_ns = eps["dut"]["netns"], eps["dut"]["ssh_namespace"]
    assert fwd == f"{PREFIX}-dutin" and ssh_ns == f"{PREFIX}-dut"
    path = profile(eps, tmp_path)  # dut.netns comes from the lab file
    assert yaml.safe_load(open(eps["lab_file"]))["dut"]["netns"] == fwd
    p = tool("check", path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"namespace {fwd}" in p.stdout and "DUT tracks forwarded packets: an ICMP echo" in p.stdout
    p = tool("run", "--keep-entries", "--report-json", str(tmp_path / "r.json"), path)
    assert p.returncode == 0, p.stdout + p.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["established_assured"] == 800 and rep["scenario"]["dut"]["netns"] == fwd
    # The entries are in the forwarding namespace; the sshd's namespace tracked none of them.
    assert entries_in(fwd) == 800 and entries_in(ssh_ns) == 0
    p = tool("verify", path)
    assert p.returncode == 0 and p.stdout.startswith("PASS  800/800"), p.stdout + p.stderr
    subprocess.run(["ip", "netns", "exec", fwd, "conntrack", "-D", "-p", "tcp", "--orig-dst", "10.2.2.100"],
                   capture_output=True)


def test_dut_behind_a_jump_host(far_lab, tmp_path):
    eps = far_lab
    j, ssh = eps["ssh"]["jump"], eps["ssh"]
    # The DUT's address on the bastion's link is not reachable from here (the lab's mgmt net is
    # unreachable from the root namespace outside its own links): only a hop gets there.
    with pytest.raises(OSError):
        socket.create_connection((j["dut_host"], 22), timeout=3)
    hop = {"host": j["host"], "user": j["user"], "key_file": ssh["key_file"], "known_hosts": ssh["known_hosts"]}
    path = profile(eps, tmp_path, **{"dut.host": j["dut_host"], "dut.jump": [hop]})
    p = tool("check", path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"DUT SSH: root@{j['dut_host']}:22, host key verified, through 1 jump host(s)" in p.stdout
    p = tool("run", "--report-json", str(tmp_path / "r.json"), path)
    assert p.returncode == 0, p.stdout + p.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["established_assured"] == 800 and rep["entries_after_the_run"]["removed"] == 800

    # Each hop's host key is checked: the bastion's key missing from its known_hosts refuses
    # the run before anything is sent, naming the hop.
    kh = tmp_path / "known_hosts_no_bastion"
    kh.write_text("".join(line for line in open(ssh["known_hosts"]) if not line.startswith(j["host"] + " ")))
    bad = profile(eps, tmp_path, **{"dut.host": j["dut_host"], "dut.jump": [dict(hop, known_hosts=str(kh))]})
    p = tool("run", "-q", bad)
    assert p.returncode == 3, p.stdout + p.stderr
    assert p.stderr.strip().startswith(f"ostinato-tcp: error: dut.jump[0].known_hosts: unknown SSH host key for "
                                       f"{j['host']}")
    assert entries_in(eps["dut"]["namespace"]) == 0


def test_proxyjump_from_ssh_config(far_lab, tmp_path):
    eps = far_lab
    j, ssh = eps["ssh"]["jump"], eps["ssh"]
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        f"Host far-dut\n  HostName {j['dut_host']}\n  User root\n  IdentityFile {ssh['key_file']}\n"
        f"  ProxyJump root@{j['host']}:22\n")
    path = profile(eps, tmp_path, **{"dut.host": "far-dut", "dut.ssh_config": True, "dut.key_file": None})
    env = dict(os.environ, HOME=str(home))
    p = tool("run", "--report-json", str(tmp_path / "r.json"), path, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads((tmp_path / "r.json").read_text())["established_assured"] == 800


def test_hold_keepalive_and_fin_close_in_a_users_lab(far_lab, tmp_path):
    # Other ports and addresses than the built-in tests use, the DUT forwarding in a nested
    # namespace: hold with keep-alives, then Drone's FIN close, each connection proven.
    eps = far_lab
    path = profile(eps, tmp_path, **{"connections.server_port": 443, "connections.first_client_port": 40000,
                                     "connections.client_ips": 3, "connections.count": 1500,
                                     "traffic.rate": 1500, "expect.hold": "6s", "traffic.keepalive": "2.5s",
                                     "traffic.teardown": "fin"})
    p = tool("run", "--report-json", str(tmp_path / "r.json"), path)
    assert p.returncode == 0, p.stdout + p.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    h = rep["hold"]
    assert rep["established_assured"] == 1500 and h["passed"], h
    # the first round is due 2.5 s after the ACKs began (at once if the verdict's dump took longer),
    # then every 2.5 s of the 6 s hold: 2 or 3 rounds, never a gap much past the keep-alive interval
    assert h["keepalive_rounds"] in (2, 3) and 2.4 <= h["longest_idle_seconds"] < 4, h
    td = rep["teardown"]
    assert td["passed"] and td["states"] == {"TIME_WAIT": 1500}
    assert rep["entries_after_the_run"]["removed"] == 1500
    out = subprocess.run(["ip", "netns", "exec", eps["dut"]["netns"], "conntrack", "-L", "-p", "tcp",
                          "--orig-port-dst", "443"], capture_output=True, text=True).stdout
    assert out.strip() == ""
