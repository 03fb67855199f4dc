"""``ostinato-tcp check`` against the real lab: all OK, then each problem a user meets gives
its own FAIL or WARN line and exit code, and sends no TCP: no test entry appears on the
DUT and Drone's ports are as they were."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

from .conftest import entries_in_test_space, port_view, set_port


def profile(lab, tmp_path, **dut_or_other) -> str:
    """A test profile naming the lab's lab file, as a user of their own lab writes it."""
    data = {"name": "preflight", "lab_file": lab.lab_file,
            "connections": {"client_ip": "10.1.1.100", "server_ip": "10.2.2.100", "server_port": 8080,
                            "first_client_port": 23420, "count": 1000},
            "traffic": {"rate": 1000}}
    for path, value in dut_or_other.items():
        from ostinato_tcp.scenario import with_changes
        data = with_changes(data, {path.replace("__", "."): value})
    out = tmp_path / f"preflight-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(out)


def check(path: str, *extra: str):
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "check", path, "--json", *extra],
                       capture_output=True, text=True, timeout=180)
    data = json.loads(p.stdout) if p.stdout.strip().startswith("{") else None
    return p, data


def by_name(data) -> dict:
    return {c["name"]: c for c in data["checks"]}


def ports_seen(lab):
    return {k: {kk: v[kk] for kk in ("streams", "groups", "user_name", "mode")} for k, v in port_view(lab).items()}


def test_check_all_ok_on_the_lab(lab, tmp_path):
    before = ports_seen(lab)
    p, data = check(profile(lab, tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    checks = by_name(data)
    assert {c["status"] for c in data["checks"]} == {"OK"}, data
    for name in ("DUT SSH", "DUT conntrack", "DUT forwarding", "DUT tcp_loose", "DUT timeouts", "DUT table",
                 "DUT hash table", "DUT timestamps", "Drone lab-a", "port A", "port B", "ARP port A", "ARP port B",
                 "DUT tracks forwarded packets", "plan"):
        assert name in checks, name
    # The ARP line names the DUT's real MAC on that link.
    mac = subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "cat", "/sys/class/net/dut-a/address"],
                         capture_output=True, text=True).stdout.strip()
    assert mac in checks["ARP port A"]["detail"]
    # No TCP: nothing in the test's space; the ICMP probe's entry was deleted; ports as they were.
    assert entries_in_test_space(lab) == 0
    icmp = subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", "-L", "-p", "icmp"],
                          capture_output=True, text=True).stdout
    assert "10.1.1.100" not in icmp
    assert ports_seen(lab) == before
    # The terminal form: one line per check, then the verdict.
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "check", profile(lab, tmp_path)], capture_output=True,
                       text=True, timeout=180)
    lines = p.stdout.strip().splitlines()
    assert p.returncode == 0 and lines[-1] == "check preflight: ready to run"
    assert all(line.startswith("OK    ") for line in lines[:-1]), p.stdout


@pytest.mark.parametrize("case", ["wrong_port", "port_owned", "no_arp", "tcp_loose", "no_rules",
                                  pytest.param("table_small", marks=pytest.mark.exclusive),  # nf_conntrack_max: host-wide
                                  "unknown_host_key"])
def test_check_names_each_problem(case, lab, lab_handle, relab, tmp_path):
    kwargs, undo = {}, None
    if case == "wrong_port":
        kwargs["ports__a__interface"] = "eth7"
    elif case == "port_owned":
        set_port(lab, "portb", user_name=f"ostinato-tcp run pid {os.getpid()} on {socket.gethostname()} by root "
                                         "(scenario nightly)")
        undo = lambda: set_port(lab, "portb", user_name="")  # noqa: E731
    elif case == "no_arp":
        kwargs["ports__a__device__gateway"] = "10.1.1.254"  # in the prefix, but nobody has it
    elif case == "tcp_loose":
        relab(tcp_loose=1)
    elif case == "no_rules":
        subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "nft", "delete", "table", "inet",
                        "ostinato_tcp_lab"], check=True)
        undo = lambda: lab_handle.up()  # noqa: E731  (puts the ruleset back)
    elif case == "table_small":
        relab(conntrack_max=500)
    elif case == "unknown_host_key":
        (tmp_path / "known_hosts_empty").write_text("")
        kwargs["dut__known_hosts"] = str(tmp_path / "known_hosts_empty")
    before = ports_seen(lab)
    try:
        p, data = check(profile(lab, tmp_path, **kwargs))
        after = ports_seen(lab)
    finally:
        if undo:
            undo()
    assert data is not None, p.stderr
    checks = by_name(data)
    bad = {c["name"]: c for c in data["checks"] if c["status"] != "OK"}
    expected = {  # the one line that must say it, its status, words of it, the exit code
        "wrong_port": ("port A", "FAIL", "ports.a.interface: ", "no port named 'eth7'; Drone has: ", 2),
        "port_owned": ("port B", "FAIL", "in use by ostinato-tcp run pid", "(scenario nightly)", 2),
        "no_arp": ("ARP port A", "FAIL", "the gateway 10.1.1.254 did not answer ARP", "within 6 s", 2),
        "tcp_loose": ("DUT tcp_loose", "WARN", "nf_conntrack_tcp_loose=1", "never ASSURED", 0),
        "no_rules": ("DUT tracks forwarded packets", "FAIL", "made no conntrack entry", "ct state", 2),
        "table_small": ("DUT table", "FAIL", "nf_conntrack_max 500", "free for 1000", 2),
        "unknown_host_key": ("DUT SSH", "FAIL", "dut.known_hosts: unknown SSH host key", "ssh-keyscan", 3),
    }[case]
    name, status, words1, words2, code = expected
    assert name in bad, data
    line = bad[name]
    assert line["status"] == status and words1 in line["detail"] and words2 in (line["detail"] + line["fix"]), line
    assert p.returncode == code == data["exit_code"], p.stdout
    # Only this problem (and what cannot be checked because of it) is flagged.
    others = {n: c["status"] for n, c in bad.items() if n != name}
    allowed = ({"DUT tracks forwarded packets": "SKIP", "Drone send ceiling": "SKIP"} if case == "unknown_host_key"
               else {})
    if case in ("wrong_port", "port_owned", "no_arp"):
        allowed = {}  # the ICMP probe needs both ports and both gateways: not run, no line
        assert "DUT tracks forwarded packets" not in checks
    assert others == allowed, data
    # No TCP was sent: the test's space on the DUT is empty and the ports are as they were.
    assert entries_in_test_space(lab) == 0
    assert after == before
