"""pytest fixtures for a lab's own test suite (registered as the ``ostinato_tcp`` plugin).

Give the lab file (drones, ports, devices, DUT) with ``--ostinato-tcp-lab FILE`` or the
environment variable ``OSTINATO_TCP_LAB_FILE``; write test profiles (connections, traffic, nat,
expect) and run them::

    def test_nightly_10k(ostinato_tcp_run):
        result = ostinato_tcp_run("profiles/10k.yaml", {"traffic.rate": 20000})
        assert result.passed, result.diagnosis

Each run's figures become JUnit properties of its test (``pytest --junitxml``, whatever the
``junit_family``; recorded as the test's user properties, so ``-W error`` stays quiet): the
outcome, the counts, the rates and the build form; the run's summary lines are printed, so
they are in the captured output (and in ``system-out`` with ``-o junit_logging=system-out``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest

LAB_ENV = "OSTINATO_TCP_LAB_FILE"  # the lab file (the command line's --lab takes a built-in lab's prefix)


def pytest_addoption(parser) -> None:
    group = parser.getgroup("ostinato-tcp")
    group.addoption("--ostinato-tcp-lab", metavar="FILE", default=None,
                    help=f"ostinato-tcp lab file (drones, ports, devices, DUT) for the ostinato_tcp_* fixtures "
                         f"[env {LAB_ENV}].")


@pytest.fixture(scope="session")
def ostinato_tcp_lab(pytestconfig) -> Path:
    """The lab file the session's runs use (``--ostinato-tcp-lab`` or ``$OSTINATO_TCP_LAB_FILE``)."""
    value = pytestconfig.getoption("--ostinato-tcp-lab") or os.environ.get(LAB_ENV)
    if not value:
        pytest.fail(f"no ostinato-tcp lab file: pass --ostinato-tcp-lab FILE or set {LAB_ENV}", pytrace=False)
    path = Path(value)
    if not path.is_file():
        pytest.fail(f"ostinato-tcp lab file {path} does not exist", pytrace=False)
    return path


@pytest.fixture
def ostinato_tcp_run(ostinato_tcp_lab, request) -> Callable[..., Any]:
    """``run(profile, changes=None, **options)``: load the profile against the lab file, apply
    ``changes`` (``{"dotted.key": value}``), run it and return the RunResult. ``options`` go to
    :class:`ostinato_tcp.RunOptions`. The run's figures are recorded as JUnit properties."""
    from ostinato_tcp import RunOptions, load_scenario, run_scenario

    def run(profile, changes: dict | None = None, **options):
        sc = load_scenario(profile, lab_file=ostinato_tcp_lab)
        if changes:
            sc = sc.with_changes(changes)
        result = run_scenario(sc, RunOptions(**options))
        # user properties: what pytest's junitxml writes in every family (record_property warns under xunit2)
        request.node.user_properties.extend(_properties(result).items())
        from ostinato_tcp.report import summary_lines

        print("\n".join(summary_lines(result)))
        return result

    return run


def _properties(result) -> dict:
    out = {"outcome": result.outcome, "expected": result.scenario.connections.count,
           "established_assured": result.verdict.established_assured if result.verdict else
           (None if result.by_traffic_only else 0)}
    if result.carry is not None and result.carry.verdict is not None:
        out["carried_both_ways"] = result.carry.verdict.both
    if result.error:
        out["error"] = result.error
    if result.syn_phase.seconds:
        offered, e2e = result.offered_connection_rate, result.end_to_end_rate
        out["offered_connection_rate"] = round(offered.value, 1)
        out["offered_rate_bound_pct"] = None if offered.estimated else round(offered.bound_pct, 4)
        out["end_to_end_connection_rate"] = round(e2e.value, 1)
    for side, port in result.ports.items():
        out[f"packet_rate_{side}"] = round(port.packet_rate.value, 1)
    out["drone_build"] = ",".join(c["form"] for c in result.build_checks)
    return out
