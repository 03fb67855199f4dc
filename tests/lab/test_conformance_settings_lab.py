"""``ostinato-tcp conformance`` with the DUT's settings changed, on a lab of its own (prefix
``otcpl``, 198.18.13.0/24, started apart as a user's would be): with
``nf_conntrack_tcp_be_liberal=1``, and apart with ``nf_conntrack_tcp_loose=1`` (each set in the
DUT's namespace for the test and restored, even when it fails), the cases the setting changes are
reported with the setting named and the rest still pass."""

from __future__ import annotations

import pytest

from ostinato_tcp.domain.conformance import BY_NAME, LIBERAL, LOOSE

from .conftest import lab_started_apart
from .test_conformance_lab import by_case, catalogue, dut_sysctl, profile
from .test_procfs_lab import tool

PREFIX, NET = "otcpl", "198.18.13.0/24"


@pytest.fixture(scope="module")
def conf_lab():
    with lab_started_apart(PREFIX, NET) as eps:
        yield eps


def test_be_liberal_is_named_for_the_cases_it_changes(conf_lab, tmp_path):
    with dut_sysctl(conf_lab, LIBERAL, 1):
        p, d, _ = catalogue(conf_lab, tmp_path)
        strict_run = tool(tmp_path, "conformance", profile(conf_lab, tmp_path), "--strict", "--case",
                          "final-ack-wrong-ack", "-q")
    assert p.returncode == 0, p.stdout + p.stderr
    changed = {name for name, c in BY_NAME.items() if LIBERAL in c.changed_by}
    assert len(changed) == 7
    for name, got in by_case(d).items():
        if name in changed:
            assert got["verdict"] == "explained" and got["setting"] == f"{LIBERAL}=1", got
            assert got["outcomes"] == {BY_NAME[name].changed_by[LIBERAL]: 1000}, got
            assert f"{LIBERAL}=1 explains it" in got["note"]
            assert [s["forwarded"] for s in got["steps"]] == [1000] * len(BY_NAME[name].steps), got  # nothing refused
        else:
            assert got["verdict"] == "pass", got
    assert "final-ack-wrong-ack: the DUT takes what a strict tracker refuses (ESTABLISHED+ASSURED where it leaves " \
           "SYN_RECV): nf_conntrack_tcp_be_liberal=1 explains it" in p.stdout
    assert strict_run.returncode == 1 and "--strict: an explained case fails" in strict_run.stdout, strict_run.stdout


def test_tcp_loose_is_named_for_the_case_it_changes(conf_lab, tmp_path):
    with dut_sysctl(conf_lab, LOOSE, 1):
        p, d, _ = catalogue(conf_lab, tmp_path, "--no-capture")
    assert p.returncode == 0, p.stdout + p.stderr
    cases = by_case(d)
    assert all(c["forwarded_note"] == "not captured (--no-capture)" and {s["forwarded"] for s in c["steps"]} == {None}
               for c in cases.values())
    got = cases.pop("ack-without-syn")
    assert got["verdict"] == "explained" and got["setting"] == f"{LOOSE}=1"
    assert got["outcomes"] == {"ESTABLISHED (not ASSURED)": 1000}
    assert all(c["verdict"] == "pass" for c in cases.values()), cases
