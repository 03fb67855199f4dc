"""A DUT left as it was found: after the verdict the run deletes the test's entries, and
nothing outside the test's address space; ``--keep-entries`` keeps them for inspection."""

from __future__ import annotations

import subprocess

from .conftest import SCENARIOS, entries_in_test_space

# Outside the test's space (server 10.2.2.100, port 8080): another port, another server.
SENTINELS = [("10.1.1.100", 40000, "10.2.2.100", 9090), ("10.1.1.100", 23420, "10.2.2.101", 8080)]


def _ct(lab, *args) -> str:
    return subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", *args], capture_output=True,
                          text=True).stdout


def _put_sentinels(lab):
    for src, sport, dst, dport in SENTINELS:
        _ct(lab, "-D", "-p", "tcp", "-s", src, "-d", dst, "--sport", str(sport), "--dport", str(dport))
        _ct(lab, "-I", "-p", "tcp", "-s", src, "-d", dst, "--sport", str(sport), "--dport", str(dport),
            "--state", "ESTABLISHED", "-u", "ASSURED", "-t", "3600")


def _sentinels_there(lab) -> list[bool]:
    text = _ct(lab, "-L", "-p", "tcp")
    return [f"src={s} dst={d} sport={sp} dport={dp}" in text for s, sp, d, dp in SENTINELS]


def test_entries_removed_after_the_run_sentinels_stay(ot, lab, scenario_file):
    _put_sentinels(lab)
    try:
        sc = scenario_file("lab-1000.yaml", **{"connections.count": 600, "traffic.rate": 600})
        rc, out, err, rep = ot("run", str(sc))
        assert rc == 0, out + err
        assert rep["established_assured"] == 600
        # the test's 600 entries were removed, and the report says how many
        assert entries_in_test_space(lab) == 0
        assert rep["entries_after_the_run"]["removed"] == 600
        # conntrack -D of 600 entries takes about as long as its empty twin: no delete rate is given
        # for it rather than a number the timing cannot resolve (unit test: tests/unit/test_dut_unit.py)
        delete = rep["entries_after_the_run"]["dut_delete_rate"]
        assert delete is None or (delete["count"] == 600 and delete["seconds"] > delete["bound_seconds"])
        assert "the test's entries: 600 removed (dut.clear_after: test" in out
        assert _sentinels_there(lab) == [True, True]

        # --keep-entries: they stay, for inspection (and 'verify' reads them)
        rc, out, err, rep = ot("run", "--keep-entries", str(sc))
        assert rc == 0, out + err
        assert entries_in_test_space(lab) == 600
        assert rep["entries_after_the_run"] == {"removed": None, "note": "kept (--keep-entries)",
                                                "dut_delete_rate": None}
        rc, out, err, _ = ot("verify", str(sc))
        assert rc == 0 and out.startswith("PASS  600/600"), out + err

        # dut.clear_after: none in the scenario does the same
        sc2 = scenario_file("lab-1000.yaml", **{"connections.count": 600, "traffic.rate": 600,
                                                "dut.clear_after": "none"})
        rc, out, err, rep = ot("run", str(sc2))
        assert rc == 0 and entries_in_test_space(lab) == 600
        assert rep["entries_after_the_run"]["note"] == "kept (dut.clear_after: none)"
        assert _sentinels_there(lab) == [True, True]
    finally:
        for src, sport, dst, dport in SENTINELS:
            _ct(lab, "-D", "-p", "tcp", "-s", src, "-d", dst, "--sport", str(sport), "--dport", str(dport))
        _ct(lab, "-D", "-p", "tcp", "--orig-dst", "10.2.2.100", "--orig-port-dst", "8080")


def test_the_article_scenario_leaves_no_entries(ot, lab):
    rc, out, err, rep = ot("run", str(SCENARIOS / "lab-1.yaml"))
    assert rc == 0, out + err
    assert entries_in_test_space(lab) == 0 and rep["entries_after_the_run"]["removed"] == 1
