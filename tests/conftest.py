"""Shared fixtures. Lab tests run against a real lab of their own (prefix ``otcpt``).

A lab test that cannot get its lab fails; it is never skipped. A session in which
any lab test was skipped ends with a failing exit status.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# every JSON output the tool writes during the tests (the commands the lab tests run too) is
# validated against its shipped schema as it is written: a mismatch is a bug (exit 70)
os.environ["OSTINATO_TCP_CHECK_SCHEMAS"] = "1"
FIXTURES = ROOT / "tests" / "fixtures"
TEST_LAB = dict(prefix="otcpt", mgmt_net="198.18.1.0/24", sudo_user=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/lab/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.lab)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped_lab = [r for r in reporter.stats.get("skipped", []) if "tests/lab/" in str(r.nodeid)]
    if skipped_lab and exitstatus == 0:
        reporter.write_line(f"FAIL: {len(skipped_lab)} lab test(s) were skipped; lab tests must run", red=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def lab_handle():
    """The test lab, built once per session and removed at the end."""
    from ostinato_tcp.lab import Lab, LabConfig

    lab = Lab(LabConfig(**TEST_LAB))
    lab.up()
    yield lab
    lab.down()


@pytest.fixture
def lab(lab_handle):
    """Endpoints of the test lab in its default settings (restored after each test)."""
    from ostinato_tcp.lab import Lab

    base = lab_handle.config
    if Lab.from_state(base.prefix).config != base:
        Lab(base).up()
    yield lab_handle.endpoints()
    if Lab.from_state(base.prefix).config != base:
        Lab(base).up()


@pytest.fixture
def relab(lab_handle):
    """Reconfigure the test lab for one test: ``relab(syn_recv_timeout=10)``; restored afterwards."""
    from ostinato_tcp.lab import Lab

    base = lab_handle.config

    def apply(**changes):
        return Lab(replace(base, **changes)).up()

    yield apply
    Lab(base).up()
