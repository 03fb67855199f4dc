"""The built-in lab, checked against the real thing: Drone, sshd, conntrack, forwarding."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import paramiko
import pytest

from ostinato_tcp.lab import Lab, LabConfig, list_namespaces


def ssh_client(eps, user=None) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(eps.ssh["known_hosts"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(eps.ssh["host"], port=eps.ssh["port"], username=user or eps.ssh["user"],
                   key_filename=eps.ssh["key_file"], allow_agent=False, look_for_keys=False, timeout=5)
    return client


def ns_run(ns: str, *cmd: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True, text=True).stdout


def test_drone_answers_version_check_and_lists_ports(lab):
    from ostinato_tcp.drone import open_drone

    # A raw TCP connect first: the RPC port is open.
    with socket.create_connection((lab.drone_a["host"], lab.drone_a["port"]), timeout=3):
        pass
    with open_drone(lab.drone_a["host"], lab.drone_a["port"]) as drone:
        assert drone.announced_version.startswith("1.")
        names = drone.port_names()
    assert {"porta", "portb"} <= set(names)


def test_ssh_login_with_strict_host_key_checking_and_conntrack(lab):
    client = ssh_client(lab)
    try:
        _, out, err = client.exec_command("conntrack -L -p tcp; echo rc=$?", timeout=10)
        text = out.read().decode()
    finally:
        client.close()
    # The SSH session itself is tracked by the DUT: conntrack ran and saw it.
    assert "rc=0" in text
    assert "dport=22" in text


def test_openssh_client_accepts_the_lab_host_key(lab):
    proc = subprocess.run(
        ["ssh", "-i", lab.ssh["key_file"], "-o", f"UserKnownHostsFile={lab.ssh['known_hosts']}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
         f"{lab.ssh['user']}@{lab.ssh['host']}", "echo ok"], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_forwarded_packet_creates_conntrack_entry(lab):
    """A UDP datagram sent into port A's wire is forwarded by the DUT and tracked."""
    tg, dut = lab.drone_a["namespace"], lab.dut["namespace"]
    # Give the traffic-generator side a temporary address and route on port A, send, remove.
    ns_run(tg, "ip", "addr", "add", "10.1.1.250/24", "dev", "porta")
    try:
        ns_run(tg, "ip", "route", "add", "10.2.2.0/24", "via", "10.1.1.1", "dev", "porta")
        ns_run(tg, "python3", "-c",
               "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
               "s.bind(('10.1.1.250', 0)); s.sendto(b'x', ('10.2.2.77', 9999))")
        out = ns_run(dut, "conntrack", "-L", "-p", "udp", "--orig-port-dst", "9999")
    finally:
        ns_run(tg, "ip", "addr", "del", "10.1.1.250/24", "dev", "porta")
    assert "src=10.1.1.250 dst=10.2.2.77" in out
    assert "[UNREPLIED]" in out
    ns_run(dut, "conntrack", "-D", "-p", "udp", "--orig-port-dst", "9999")


def test_lab_cli_up_status_json(lab):
    out = subprocess.run([sys.executable, "-m", "ostinato_tcp", "lab", "status", "--prefix", lab.prefix, "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["up"] is True
    eps = data["endpoints"]
    assert eps["drone_a"]["port_name"] == "porta" and eps["drone_b"]["port_name"] == "portb"
    assert eps["ssh"]["known_hosts"].endswith("known_hosts")


def test_dut_settings_from_lab_config(lab, relab):
    relab(syn_recv_timeout=17, tcp_loose=1)
    dut = lab.dut["namespace"]
    assert ns_run(dut, "sysctl", "-n", "net.netfilter.nf_conntrack_tcp_timeout_syn_recv").strip() == "17"
    assert ns_run(dut, "sysctl", "-n", "net.netfilter.nf_conntrack_tcp_loose").strip() == "1"


def _leftovers(prefix: str) -> list[str]:
    found = [f"namespace {ns}" for ns in list_namespaces() if ns.startswith(prefix + "-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if f" {prefix}-" in line]
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    found += [f"process {p}" for p in procs.splitlines() if f"/run/ostinato-tcp/{prefix}/" in p]
    from pathlib import Path
    if Path(f"/run/ostinato-tcp/{prefix}").exists():
        found.append(f"directory /run/ostinato-tcp/{prefix}")
    return found


def _drone_pids_in(ns: str) -> list[str]:
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    return [p for p in pids if open(f"/proc/{p}/comm").read().strip() == "drone"]


def test_up_twice_down_twice_leaves_nothing():
    lab = Lab(LabConfig(prefix="otcpd", mgmt_net="198.18.3.0/24", two_drones=True))
    try:
        eps1 = lab.up()
        drones = _drone_pids_in("otcpd-tg") + _drone_pids_in("otcpd-tg2")
        assert len(drones) == 2
        eps2 = lab.up()  # idempotent: same endpoints, same Drone processes
        assert eps1 == eps2
        assert _drone_pids_in("otcpd-tg") + _drone_pids_in("otcpd-tg2") == drones
        assert Lab.from_state("otcpd").status()["up"]
    finally:
        lab.down()
    assert lab.down() == []  # the second down finds nothing to do
    assert _leftovers("otcpd") == []  # its namespaces, links, processes, directory (not other labs')
    for pid in drones:
        assert not __import__("os").path.exists(f"/proc/{pid}")


def test_down_after_half_failed_up():
    """Drone's port is taken by another program: up fails; down still removes everything."""
    lab = Lab(LabConfig(prefix="otcph", mgmt_net="198.18.4.0/24"))
    from ostinato_tcp.errors import LabError

    subprocess.run(["ip", "netns", "add", "otcph-tg"], check=True)
    blocker = subprocess.Popen(["ip", "netns", "exec", "otcph-tg", sys.executable, "-c",
                                "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
                                "s.bind(('0.0.0.0', 7878)); s.listen(); time.sleep(60)"])
    try:
        subprocess.run(["ip", "netns", "exec", "otcph-tg", sys.executable, "-c",
                        "import socket,time\nfor _ in range(50):\n"
                        "  try: socket.create_connection(('127.0.0.1', 7878), 0.2); break\n"
                        "  except OSError: time.sleep(0.1)"], check=True)
        with pytest.raises(LabError, match="Drone"):
            # Drone cannot bind (or something else answers): the lab says so instead of hanging.
            lab.up()
    finally:
        blocker.kill()
        lab.down()
    assert _leftovers("otcph") == []
