"""A DUT the tool may not log into (``lab up --dut none``: no sshd), in a lab of its own (prefix
``otcpn``, 198.18.11.0/24) started apart from the tool as a user's lab would be: the lab file
says ``dut.kind: none``, ``check`` names the driver, 10,000 connections pass by the traffic
alone, and a DUT that drops the client's data after the handshake fails, naming the direction."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from .conftest import lab_started_apart
from .test_procfs_lab import profile as procfs_profile, tool

PREFIX, NET = "otcpn", "198.18.11.0/24"
DROP_TABLE = "otcp_test_drop_data"


@pytest.fixture(scope="module")
def none_lab():
    with lab_started_apart(PREFIX, NET, "--dut", "none") as eps:
        yield eps


def profile(eps, tmp_path, **changes) -> str:
    return procfs_profile(eps, tmp_path, **{"name": "none", **changes})


def test_the_lab_runs_no_sshd_and_its_lab_file_says_kind_none(none_lab):
    with pytest.raises(OSError):
        socket.create_connection((none_lab["ssh"]["host"], 22), timeout=2).close()
    lab_file = open(none_lab["lab_file"]).read()
    assert "kind: none" in lab_file and "key_file" not in lab_file
    st = subprocess.run([sys.executable, "-m", "ostinato_tcp", "lab", "status", "--prefix", PREFIX],
                        capture_output=True, text=True)
    assert st.returncode == 0 and "sshd not listening" not in st.stdout, st.stdout + st.stderr


def test_check_names_the_none_driver(none_lab, tmp_path):
    p = tool(tmp_path, "check", profile(none_lab, tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    line = next(x for x in p.stdout.splitlines() if "DUT driver" in x)
    assert line.startswith("OK") and "none" in line and "traffic proof alone" in line, line
    assert not [x for x in p.stdout.splitlines() if "DUT SSH" in x]


def test_ten_thousand_connections_pass_by_traffic_only(none_lab, tmp_path):
    rep = tmp_path / "r.json"
    p = tool(tmp_path, "run", "--report-json", str(rep), profile(none_lab, tmp_path), timeout=600)
    assert rep.exists(), p.stdout + p.stderr
    r = json.loads(rep.read_text())
    assert p.returncode == 0 and r["verdict"] == "pass", p.stdout + p.stderr
    assert r["established_assured"] is None and r["proof"] == {"asked": ["traffic"], "table": None, "traffic": True}
    assert r["traffic_proof"]["carried_both_ways"] == 10000 and r["dut"]["driver"] == "none"
    assert p.stdout.startswith("PASS  10000/10000 carried both ways, by traffic only"), p.stdout[:300]
    assert "proof by traffic only: the DUT's table is not read" in p.stdout
    assert r["plan"]["dut_timeouts"]["source"].startswith("kernel defaults (dut.kind none")


def test_a_dut_that_drops_the_clients_data_fails_by_traffic_naming_the_direction(none_lab, tmp_path):
    ns = none_lab["dut"]["namespace"]
    rules = (f"table inet {DROP_TABLE} {{\n chain block {{\n  type filter hook forward priority -10; policy accept;\n"
             f"  iifname \"{none_lab['dut']['client_interface']}\" tcp flags & psh == psh counter drop\n }}\n}}\n")
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True, check=True)
    try:
        rep = tmp_path / "r.json"
        p = tool(tmp_path, "run", "--report-json", str(rep),
                 profile(none_lab, tmp_path, **{"connections.count": 2000, "connections.first_client_port": 50000}))
        r = json.loads(rep.read_text())
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", DROP_TABLE], check=True)
    assert p.returncode == 1 and r["verdict"] == "fail", p.stdout + p.stderr
    tp = r["traffic_proof"]
    assert (tp["carried_both_ways"], tp["b_to_a"], tp["a_to_b"]) == (0, 2000, 0), tp
    assert any("2000 connection(s) forwarded one way only, towards the client" in x for x in r["diagnosis"])
