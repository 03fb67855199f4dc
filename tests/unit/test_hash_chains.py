"""The hash-chain forecast: the mean chain, the chance an insert is refused, the expected
refusals over a run, the bucket count that avoids them, and the plan's refusal and warning."""

from __future__ import annotations

import math

import pytest

from ostinato_tcp.domain.facts import DutFacts
from ostinato_tcp.domain.hash_chains import (_tail, buckets_for, expected_refused, forecast, mean_chain,
                                             refuse_probability)
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.errors import PlanError

from .helpers import scenario


def test_the_poisson_tail_and_the_mean_chain():
    assert mean_chain(10_000_000, 262_144) == pytest.approx(76.29, abs=0.01)
    # P(Poisson(2) >= 3) = 1 - e^-2 (1 + 2 + 2) = 0.3233
    assert _tail(2.0, 3) == pytest.approx(1 - math.exp(-2) * 5, rel=1e-9)
    assert _tail(0.0, 1) == 0.0
    # rises with the mean: nothing at 20, most at 80
    probs = [refuse_probability(x) for x in (10.0, 20.0, 40.0, 60.0, 80.0)]
    assert probs == sorted(probs) and probs[0] < 1e-15 and probs[-1] > 0.95


def test_expected_refusals_over_a_run_and_the_buckets_that_avoid_them():
    assert expected_refused(0, 1_000_000, 262_144) < 1e-6  # the kernel's default holds a million
    ten = expected_refused(0, 10_000_000, 262_144)
    assert 1_000_000 < ten < 5_000_000  # most of the growth past a mean of ~30 is refused
    b = buckets_for(0, 10_000_000, at_least=262_144)
    assert b == 1 << (b.bit_length() - 1) and expected_refused(0, 10_000_000, b) < 0.01
    assert expected_refused(0, 10_000_000, b // 2) >= 0.01
    f = forecast(5, 30_000, 1024)
    assert f.mean_at_end == pytest.approx(58.6, abs=0.1) and f.buckets_needed == 4096 and f.expected_refused > 100


def test_the_plan_refuses_a_run_the_limit_would_cut_and_names_the_buckets():
    sc = scenario(**{"connections.count": 30000, "traffic.rate": 10000})
    with pytest.raises(PlanError, match=r"mean chain of 58\.6 .* Fix: set net\.netfilter\.nf_conntrack_buckets "
                                         r"to 4,096 or more"):
        make_plan(sc, DutFacts(conntrack_max=100_000, conntrack_count=5, buckets=1024))
    forced = make_plan(sc, DutFacts(conntrack_max=100_000, conntrack_count=5, buckets=1024), force=True)
    assert forced.to_dict()["dut"]["buckets_needed"] == 4096
    # where it only may cut one: a warning, and the run goes ahead
    ok = make_plan(scenario(**{"connections.count": 17000, "traffic.rate": 10000}),
                   DutFacts(conntrack_max=100_000, conntrack_count=5, buckets=1024))
    assert any("nf_conntrack_buckets to 2,048" in w for w in ok.warnings), ok.warnings
    assert 0.01 <= ok.chains.expected_refused < 1
    clean = make_plan(sc, DutFacts(conntrack_max=100_000, conntrack_count=5, buckets=262_144))
    assert clean.chains.buckets_needed is None and not any("chain" in w for w in clean.warnings)
