"""``ostinato-tcp conformance`` on a lab of its own (prefix ``otcpk``, 198.18.12.0/24), started
apart from the tool as a user's lab would be, with addresses and ports of its own: the whole
catalogue at 1,000 connections per case passes on the strict DUT, and what the DUT forwarded of
each step is what its tracker took; a sample of one case's packets is checked on the DUT's wire;
entries a first packet from the server makes are found, counted and removed. The DUT's settings
are changed in test_conformance_settings_lab.py (a lab of its own: the two files run side by side)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from contextlib import contextmanager

import pytest

from ostinato_tcp.domain.conformance import CATALOGUE, LIBERAL, LOOSE

from .conftest import lab_started_apart
from .test_procfs_lab import tool

PREFIX, NET = "otcpk", "198.18.12.0/24"
CLIENT, SERVER, SPORT, FIRST = "10.1.1.77", "10.2.2.60", 9443, 41000
C_ISN, S_ISN = 123456, 3_000_000_000


@pytest.fixture(scope="module")
def conf_lab():
    with lab_started_apart(PREFIX, NET) as eps:
        yield eps


def profile(eps, tmp_path) -> str:
    import yaml

    data = {"name": "conf", "lab_file": eps["lab_file"],
            "connections": {"client_ip": CLIENT, "server_ip": SERVER, "server_port": SPORT, "first_client_port": FIRST,
                            "count": 1000},
            "traffic": {"rate": 20000, "client_isn": C_ISN, "server_isn": S_ISN}}
    out = tmp_path / "conf.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(out)


@contextmanager
def dut_sysctl(eps, name: str, value: int):
    """A per-namespace conntrack setting on the DUT for the test, put back as it was even when the test fails."""
    ns, key = eps["dut"]["namespace"], f"net.netfilter.{name}"
    before = subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-n", key], capture_output=True, text=True,
                            check=True).stdout.strip()
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={before}"], check=True)
        assert subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-n", key], capture_output=True,
                              text=True).stdout.strip() == before


def catalogue(eps, tmp_path, *args):
    rep, junit = tmp_path / f"c{len(list(tmp_path.glob('c*.json')))}.json", tmp_path / "j.xml"
    p = tool(tmp_path, "conformance", profile(eps, tmp_path), "--report-json", str(rep), "--junit", str(junit),
             "-q", *args, timeout=600)
    assert rep.exists(), p.stdout + p.stderr
    return p, json.loads(rep.read_text()), junit.read_text()


def by_case(d) -> dict:
    return {c["case"]: c for c in d["cases"]}


def test_the_whole_catalogue_passes_on_a_strict_dut(conf_lab, tmp_path):
    p, d, junit = catalogue(conf_lab, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert d["dut_settings"] == {LOOSE: 0, LIBERAL: 0} and d["verdict"] == "pass"
    cases = by_case(d)
    assert list(cases) == [c.name for c in CATALOGUE]
    for c in CATALOGUE:
        got = cases[c.name]
        assert (got["verdict"], got["as_expected"], got["connections"]) == ("pass", 1000, 1000), got
        assert got["expected"] == c.strict and got["outcomes"] == {c.strict: 1000}, got
        # what a strict tracker refuses it counts invalid, once per connection at least
        if c.refuses:
            assert got["invalid_delta"] >= 1000, got
        # the lab's ruleset drops ct state invalid: the data plane shows the tracker's refusals, step by step
        assert [s["forwarded"] for s in got["steps"]] == [0 if i in c.invalid_steps else 1000
                                                          for i in range(len(c.steps))], got
        assert got["forwarding"] == [] and got["forwarded_note"] == "", got
    assert cases["synack-wrong-ack"]["invalid_delta"] >= 2000  # the SYN-ACK, then the ACK in SYN_SENT
    assert junit.count("<testcase ") == len(CATALOGUE) and "<failure" not in junit
    assert p.stdout.strip().splitlines()[-1].startswith(f"PASS  {len(CATALOGUE)} of {len(CATALOGUE)} cases")


_LINE = re.compile(r"IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\](?:, seq (\d+)(?::\d+)?)?(?:, ack (\d+))?")


def test_a_case_s_packets_on_the_dut_s_wire(conf_lab, tmp_path):
    """synack-twice over 50 connections, captured as the DUT receives it: every packet of each step,
    in the case's order, with the case's flags and numbers."""
    ns = conf_lab["dut"]["namespace"]
    cap = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", "any", "-Q", "in", "-nn", "-S", "-l",
                            f"tcp and host {SERVER} and port {SPORT}"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    try:
        p = tool(tmp_path, "conformance", profile(conf_lab, tmp_path), "--case", "synack-twice", "--count", "50", "-q")
    finally:
        time.sleep(0.5)
        cap.terminate()
        out, _ = cap.communicate(timeout=10)
    assert p.returncode == 0, p.stdout + p.stderr
    seen = []
    for line in out.splitlines():
        m = _LINE.search(line)
        if m:
            src, sport, dst, dport, flags, seq, ack = m.groups()
            seen.append((src, int(sport), dst, int(dport), flags, int(seq) if seq else None, int(ack) if ack else None))
    big = 1 << 28
    # (tcpdump prints no seq for a segment without data, SYN or FIN: the ACK's is checked by the unit test)
    steps = [("S", C_ISN, None), ("S.", S_ISN, C_ISN + 1), ("S.", S_ISN + big, C_ISN + 1), (".", None, S_ISN + big + 1)]
    assert len(seen) == 4 * 50, out[-2000:]
    for k, (flags, seq, ack) in enumerate(steps):
        chunk = seen[50 * k:50 * (k + 1)]  # each step after the one before: no packet of one among another's
        to_server = k in (0, 3)
        ports = sorted(x[1] if to_server else x[3] for x in chunk)
        assert ports == list(range(FIRST, FIRST + 50)), (k, ports[:5])
        for src, sport, dst, dport, f, s, a in chunk:
            assert (src, dst) == ((CLIENT, SERVER) if to_server else (SERVER, CLIENT))
            assert (f, s, a) == (flags, None if seq is None else seq & 0xFFFFFFFF,
                                 None if ack is None else ack & 0xFFFFFFFF), (k, f, s, a)


def test_entries_from_the_server_side_are_found_counted_and_removed(conf_lab, tmp_path):
    """A first packet from the server opens no entry on a strict DUT, so the catalogue cannot show
    this path with its own cases: an ACK from the server with nf_conntrack_tcp_loose=1 does open
    one, server -> client, which the test space's filter (original destination: the servers)
    does not list. The case reads the clients' side too: every such entry is counted, the case
    fails naming them, and they are removed afterwards; ones left before a case are cleared
    first (and proven gone)."""
    from ostinato_tcp.domain.conformance import Case, Step
    from ostinato_tcp.domain.streams import TCP_ACK
    from ostinato_tcp.jobs.conformance import run_conformance
    from ostinato_tcp.scenario import load_scenario

    ns = conf_lab["dut"]["namespace"]
    sc = load_scenario(profile(conf_lab, tmp_path))
    server_ack = Case("server-ack", "an ACK from the server first", (Step("b", "ack", TCP_ACK, 1, 1),), "no entry",
                      "test only", reversed=True)

    def reversed_entries() -> int:
        out = subprocess.run(["ip", "netns", "exec", ns, "conntrack", "-L", "-p", "tcp", "--orig-src", SERVER,
                              "--orig-port-src", str(SPORT)], capture_output=True, text=True).stdout
        return len(out.splitlines())

    subprocess.run(["ip", "netns", "exec", ns, "conntrack", "-I", "-p", "tcp", "-s", SERVER, "-d", CLIENT, "--sport",
                    str(SPORT), "--dport", str(FIRST + 3), "--state", "ESTABLISHED", "-t", "300"], check=True,
                   capture_output=True)
    assert reversed_entries() == 1  # one left from "before": cleared by the case, not counted for it
    with dut_sysctl(conf_lab, LOOSE, 1):
        rep = run_conformance(sc, [server_ack], 300)
    assert rep.error is None, rep.error
    (v,) = rep.cases
    assert v.word == "fail" and v.outcomes == {"server -> client entry": 300}, v.to_dict()
    assert "instead 300 server -> client entry" in v.note
    assert reversed_entries() == 0
