"""expect.hold and traffic.keepalive: the model, the plan's checks, and the run's sequence
against the FakeDrone and a scripted DUT (the lab test tests/lab/test_hold_lab.py proves the
DUT side: a real established timeout expiring, and keep-alives refreshing it)."""

from __future__ import annotations

import time

import pytest

from ostinato_tcp.domain.facts import DutFacts
from ostinato_tcp.drone.fake import FakeDrone
from ostinato_tcp.errors import PlanError, ScenarioError
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.domain.plan import make_plan

from .fakes import ScriptedDut
from .helpers import scenario
from .test_ports_runner import nothing_of_ours, run_on_fakes


@pytest.mark.parametrize("given, seconds", [(30, 30.0), ("30s", 30.0), ("1.5m", 90.0), ("1h", 3600.0), (0, 0.0)])
def test_hold_takes_seconds_or_a_duration(given, seconds):
    assert scenario(**{"expect.hold": given}).expect.hold == seconds


@pytest.mark.parametrize("given", ["soon", "-5s", True, "8d"])
def test_a_bad_hold_names_the_field(given):
    with pytest.raises(ScenarioError) as exc:
        scenario(**{"expect.hold": given})
    assert "expect.hold" in str(exc.value)


def test_keepalive_needs_a_hold():
    with pytest.raises(ScenarioError) as exc:
        scenario(**{"traffic.keepalive": 5})
    assert "traffic.keepalive" in str(exc.value) and "needs expect.hold" in str(exc.value)


def test_a_keepalive_round_must_fit_in_its_interval():
    sc = scenario(**{"connections.count": 10000, "traffic.rate": 1000, "expect.hold": 60, "traffic.keepalive": 5})
    with pytest.raises(PlanError) as exc:
        make_plan(sc, DutFacts(established_timeout=432000))
    assert "traffic.keepalive 5 s is not longer than sending the 10000 ACKs at 1000/s (10.0 s, +10% +0.1 s)" in str(exc.value)


def test_the_plan_says_when_the_hold_outlasts_the_established_timeout():
    sc = scenario(**{"expect.hold": 30})
    plan = make_plan(sc, DutFacts(established_timeout=10))
    assert any("stay idle 30 s, not less than the DUT's established timeout 10 s" in w for w in plan.warnings)
    assert any("hold: 30 s after the verdict" in line and "established timeout is 10 s" in line
               for line in plan.describe())
    kept = make_plan(scenario(**{"expect.hold": 30, "traffic.keepalive": 4, "traffic.rate": 1000}),
                     DutFacts(established_timeout=10))
    assert not any("stay idle" in w for w in kept.warnings)


def test_an_idle_hold_rechecks_every_connection():
    drone, dut = FakeDrone(), ScriptedDut()
    r = run_on_fakes(drone, dut, **{"expect.hold": 0.3})
    assert r.passed and r.hold.passed and r.hold.verdict.established_assured == 200
    assert r.hold.held >= 0.3 and r.hold.keepalive_rounds == 0
    assert dut.calls == ["health", "clear", "health", "prove_fresh_start", "health", "verify", "health", "verify", "clear",
                         "clear"]
    assert nothing_of_ours(drone)


def test_connections_gone_after_the_hold_fail_the_run_with_the_timeout_named():
    drone, dut = FakeDrone(), ScriptedDut(established_later=150, established_timeout=0)
    r = run_on_fakes(drone, dut, **{"expect.hold": 0.2})
    assert r.verdict.passed and not r.passed and r.exit_code == 1
    assert r.hold.verdict.established_assured == 150
    assert any(d.startswith("after the hold: 50 connection(s) lost their entry") and
               "established timeout is 0 s" in d for d in r.diagnosis)


def test_keepalive_rounds_resend_every_ack():
    drone, dut = FakeDrone(), ScriptedDut()
    r = run_on_fakes(drone, dut, **{"expect.hold": 1.0, "traffic.keepalive": 0.3})
    assert r.passed, (r.error, r.diagnosis)
    # due 0.3 s after the ACKs began (before the hold began), then every 0.3 s: 3 or 4 rounds in 1 s
    rounds = r.hold.keepalive_rounds
    assert rounds in (3, 4) and r.hold.keepalive_packets == rounds * 200
    assert r.hold.longest_idle < 0.3 + 0.25, r.hold.longest_idle
    assert nothing_of_ours(drone)


class SlowVerifyDut(ScriptedDut):
    """A DUT whose first verdict dump takes 0.5 s, longer than the keep-alive interval."""

    def verify(self, expected, **kw):
        if self._verifies == 0:
            time.sleep(0.5)
        return super().verify(expected, **kw)


def test_the_first_keepalive_round_counts_from_the_acks_not_from_the_verdict():
    drone, dut = FakeDrone(), SlowVerifyDut()
    r = run_on_fakes(drone, dut, **{"expect.hold": 1.0, "traffic.keepalive": 0.3})
    assert r.passed, (r.error, r.diagnosis)
    # the round was overdue when the hold began, so it went at once: the longest idle stretch is the
    # 0.5 s dump (plus the run's own steps), not the dump and a further 0.3 s
    assert 0.5 <= r.hold.longest_idle < 0.5 + 0.25, r.hold.longest_idle
    assert r.hold.keepalive_rounds >= 4


def test_a_failed_verdict_is_not_held():
    drone, dut = FakeDrone(), ScriptedDut(established=100)
    r = run_on_fakes(drone, dut, RunOptions(poll_interval=0), **{"expect.hold": 30})
    assert not r.passed and r.hold.skipped and dut.calls.count("verify") == 1
