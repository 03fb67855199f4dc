"""Server ranges on the lab: 4 server addresses x 3 server ports, 2 client IPs; every
connection ESTABLISHED+ASSURED on its own endpoint, read from the DUT by conntrack itself."""

from __future__ import annotations

import re
import subprocess
from collections import Counter

from .conftest import SCENARIOS

# Inside the dump's address mask (10.2.2.100/30) but not the test's: another port of a test
# address, and a test port of an address the mask covers but the test does not use.
SENTINELS = [("10.1.1.100", 40000, "10.2.2.100", 9090), ("10.1.1.100", 30001, "10.2.2.102", 8083)]
SERVERS = ("10.2.2.100", "10.2.2.101", "10.2.2.102", "10.2.2.103")
_ENTRY = re.compile(r"ESTABLISHED src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) .*\[ASSURED\]")


def _ct(lab, *args) -> str:
    return subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", *args], capture_output=True,
                          text=True).stdout


def _test_entries(lab) -> list[tuple[str, str, int, int]]:
    out = []
    for line in _ct(lab, "-L", "-p", "tcp", "--orig-dst", "10.2.2.96", "--mask-dst", "255.255.255.240").splitlines():
        m = _ENTRY.search(line)
        if m and m.group(4) in ("8080", "8081", "8082") and m.group(2) in SERVERS:
            out.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4))))
    return out


def test_four_servers_by_three_ports_all_established(ot, lab):
    for src, sport, dst, dport in SENTINELS:
        _ct(lab, "-I", "-p", "tcp", "-s", src, "-d", dst, "--sport", str(sport), "--dport", str(dport),
            "--state", "ESTABLISHED", "-u", "ASSURED", "-t", "3600")
    try:
        sc = str(SCENARIOS / "lab-servers.yaml")
        rc, out, err, rep = ot("run", "--keep-entries", sc)
        assert rc == 0, out + err
        assert out.startswith("PASS  6000/6000"), out
        assert "servers: 4 addresses 10.2.2.100-10.2.2.103 x 3 ports 8080-8082 (12 endpoints); " \
               "ESTABLISHED+ASSURED per endpoint 500-500" in out
        assert rep["plan"]["server_endpoints"] == 12
        assert [(x["expected"], x["established_assured"]) for x in rep["servers"]] == [(500, 500)] * 12
        # the DUT itself: 500 entries per endpoint, 6000 distinct client pairs from both client IPs
        entries = _test_entries(lab)
        per_endpoint = Counter((dst, dport) for _, dst, _, dport in entries)
        assert len(per_endpoint) == 12 and set(per_endpoint.values()) == {500}
        assert len({(src, sport) for src, _, sport, _ in entries}) == 6000
        assert {src for src, *_ in entries} == {"10.1.1.100", "10.1.1.101"}
        # the sentinel inside the dump's mask is no connection of the test
        assert rep["unexpected_entries"] == 0 and rep["categories"]["missing"] == 0

        rc, out, err, _ = ot("verify", sc)
        assert rc == 0 and out.startswith("PASS  6000/6000"), out + err

        # again: the clear before the run removes the kept 6000 (endpoint by endpoint), the run
        # proves its own, and the clear after leaves the sentinels
        rc, out, err, rep = ot("run", sc)
        assert rc == 0 and out.startswith("PASS  6000/6000"), out + err
        assert rep["entries_after_the_run"]["removed"] == 6000
        assert _test_entries(lab) == []
        text = _ct(lab, "-L", "-p", "tcp")
        assert all(f"src={s} dst={d} sport={sp} dport={dp}" in text for s, sp, d, dp in SENTINELS)
    finally:
        for src, sport, dst, dport in SENTINELS:
            _ct(lab, "-D", "-p", "tcp", "-s", src, "-d", dst, "--sport", str(sport), "--dport", str(dport))
        for d in SERVERS:
            _ct(lab, "-D", "-p", "tcp", "--orig-dst", d)
