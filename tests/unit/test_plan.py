"""The plan: delay window, margins, phased fallback, batching, refusals with the fix."""

from __future__ import annotations

import pytest

from ostinato_tcp.errors import CapacityError, PlanError
from ostinato_tcp.domain.plan import TYPICAL_BUILD_COST, DutFacts, make_plan

from .helpers import scenario


def test_article_scenario_auto_delay_is_the_middle():
    p = make_plan(scenario())
    assert p.mode == "pipelined"
    assert p.delay == pytest.approx(5.0)
    assert len(p.timings) == 1
    t = p.timings[0]
    assert t.syn_to_synack == pytest.approx(5.0) and t.synack_to_ack == pytest.approx(5.0)
    # connection 0: SYN at 0, SYN-ACK at 5, ACK at 10; the last one 9.99 s later each
    assert p.connection_times(0) == pytest.approx((0.0, 5.0, 10.0))
    assert p.connection_times(999) == pytest.approx((9.99, 14.99, 19.99))
    assert p.expected_seconds == pytest.approx(20 + 3000 * TYPICAL_BUILD_COST["fast"])


def test_every_connection_is_in_order():
    p = make_plan(scenario(**{"traffic.delay": 2.5}))
    for n in range(0, 1000, 37):
        syn, synack, ack = p.connection_times(n)
        assert syn < synack < ack


def test_delay_longer_than_window_is_refused_with_reason_and_fix():
    with pytest.raises(PlanError) as err:
        make_plan(scenario(**{"traffic.delay": 12}))
    msg = str(err.value)
    assert "traffic.delay 12 s is not below batch size/rate = 10 s" in msg
    assert "would reach the DUT before its SYN-ACK" in msg
    assert "Fix: a delay below 10 s, or 'auto' (5 s)" in msg
    forced = make_plan(scenario(**{"traffic.delay": 12}), force=True)
    assert forced.problems and forced.forced


def test_one_connection_goes_phased():
    p = make_plan(scenario(**{"connections.count": 1}))
    assert p.mode == "phased"
    assert any("phase after another" in w for w in p.warnings)
    syn, synack, ack = p.connection_times(0)
    assert syn < synack < ack


def test_forcing_pipelined_with_tiny_margins_is_refused():
    with pytest.raises(PlanError, match="margins are 0.005 s and 0.005 s, below traffic.min_margin"):
        make_plan(scenario(**{"connections.count": 1, "traffic.mode": "pipelined"}))


def test_batches_when_run_outlasts_syn_recv_timeout():
    facts = DutFacts(syn_recv_timeout=10, syn_sent_timeout=120, source="test")
    sc = scenario(**{"connections.count": 5000, "traffic.rate": 500})  # 10 s window, 5 s gaps: fits 9 s
    assert len(make_plan(sc, facts).timings) == 1
    sc = scenario(**{"connections.count": 12000, "traffic.rate": 500})  # 24 s window, 12 s gaps > 9 s
    p = make_plan(sc, facts)
    assert len(p.timings) == 2 and p.space.batch_size == 6000
    assert all(t.synack_to_ack < 9 for t in p.timings)
    with pytest.raises(PlanError, match="SYN-ACK -> ACK gap 12.0 s reaches the DUT's SYN_RECV timeout 10 s"):
        make_plan(sc.model_copy(update={"traffic": sc.traffic.model_copy(update={"batches": "off"})}), facts)


def test_batches_for_long_builds():
    sc = scenario(**{"connections.count": 60000, "connections.first_client_port": 2000, "traffic.rate": 100000,
                     "traffic.max_build_seconds": 12, "traffic.build_seconds_per_packet": 0.0002})
    p = make_plan(sc)
    assert p.mode == "phased"  # 20,000 at 100,000/s leaves 0.1 s margins
    assert len(p.timings) == 3  # 3 x 20,000 connections = 60,000 packets of build each (~12 s)
    assert all(t.build_seconds <= 12 for t in p.timings)


def test_capacity_refusal_has_the_numbers():
    facts = DutFacts(conntrack_max=5000, conntrack_count=4500, source="test")
    with pytest.raises(CapacityError, match=r"connections.count 1000 is more than the DUT's conntrack table can take: "
                                            r"nf_conntrack_max 5000 - nf_conntrack_count 4500 = 500 free"):
        make_plan(scenario(), facts)


def test_too_many_connections_for_one_ip():
    with pytest.raises(PlanError, match="set connections.client_ips to 2 or more"):
        make_plan(scenario(**{"connections.count": 60000, "traffic.rate": 10000}))
    p = make_plan(scenario(**{"connections.count": 60000, "traffic.rate": 10000, "connections.client_ips": "auto"}))
    assert p.space.ip_count == 2


def test_client_ips_must_fit_the_subnet():
    with pytest.raises(PlanError, match=r"client IPs 10\.1\.1\.100\.\.10\.1\.2\.43 do not fit in port A's subnet"):
        make_plan(scenario(**{"connections.client_ips": 200}))


def test_nat_preserve_ports_checks():
    sc = scenario(**{"nat.mode": "preserve-ports", "nat.address": "10.2.2.1", "connections.first_client_port": 2000})
    p = make_plan(sc)
    assert any("below 16384" in w for w in p.warnings)
    sc = scenario(**{"nat.mode": "preserve-ports", "nat.address": "10.2.2.1", "connections.client_ips": 2})
    with pytest.raises(PlanError, match="client ports repeat across IPs"):
        make_plan(sc)


def test_nat_learn_is_phased():
    p = make_plan(scenario(**{"nat.mode": "learn"}))
    assert p.mode == "phased"
    with pytest.raises(PlanError, match="needs traffic.mode 'phased'"):
        make_plan(scenario(**{"nat.mode": "learn", "traffic.mode": "pipelined"}))


def test_describe_shows_the_dry_run():
    text = "\n".join(make_plan(scenario()).describe())
    for words in ("1000 connections at 100 packets/s", "pipelined", "delay: 5.000 s", "SYN_RECV 60 s",
                  "SYN-ACK->ACK 5.000 s (< 60 s)", "expected duration"):
        assert words in text
    refused = "\n".join(make_plan(scenario(**{"traffic.delay": 11}), force=True).describe())
    assert "forced past: traffic.delay 11 s" in refused


def test_capacity_counts_the_entries_the_runs_own_clear_removes():
    sc = scenario(**{"connections.count": 200_000, "connections.client_ips": "auto", "traffic.rate": 100_000,
                     "connections.first_client_port": 1024})
    full = dict(conntrack_max=1_200_000, conntrack_count=1_000_004)
    with pytest.raises(CapacityError, match="1200000 - nf_conntrack_count 1000004 = 199996 free"):
        make_plan(sc, DutFacts(**full))
    # the same table, but 1,000,000 of those entries are the test's own, which dut.clear removes first
    p = make_plan(sc, DutFacts(**full, own_entries=1_000_000))
    assert p.dut.free_entries == 1_199_996
    assert any("1000000 of them the test's own, removed by dut.clear first" in line for line in p.describe())
    # dut.clear: all empties the table; dut.clear: none keeps everything
    assert make_plan(sc, DutFacts(**full, clear="all")).dut.free_entries == 1_200_000
    with pytest.raises(CapacityError):
        make_plan(sc, DutFacts(**full, own_entries=1_000_000, clear="none"))


def test_auto_takes_phased_when_it_costs_little():
    cheap = make_plan(scenario(**{"connections.count": 500, "traffic.rate": 1000}))  # 0.5 s more sending
    assert cheap.mode == "phased" and "phased costs 0.6 s more than pipelined" in cheap.mode_why  # + 2 RPCs, rebuild
    dear = make_plan(scenario())  # 1000 at 100/s: 10 s more on a 20 s send
    assert dear.mode == "pipelined" and "phased would cost 10.1 s more" in dear.mode_why
    assert any(line.startswith("  mode: pipelined: phased would cost") for line in dear.describe())
    # an explicit mode or delay is kept
    assert make_plan(scenario(**{"connections.count": 500, "traffic.rate": 1000,
                                 "traffic.mode": "pipelined"})).mode == "pipelined"


def test_a_loaded_hash_table_widens_the_margins_and_warns():
    sc = scenario(**{"connections.count": 1_000_000, "connections.client_ips": 16, "traffic.rate": 200_000,
                     "connections.first_client_port": 1024, "traffic.batches": 200_000, "traffic.mode": "pipelined"})
    loaded = make_plan(sc, DutFacts(conntrack_max=1_200_000, conntrack_count=0, buckets=131_072))
    assert loaded.hash_load == pytest.approx(1_000_000 / 131_072)
    assert loaded.min_margin == pytest.approx(0.2 * loaded.hash_load / 4)
    assert "for the DUT's hash load of 7.6 entries per bucket" in loaded.margin_why
    assert any("7.6 entries per bucket" in w and "nf_conntrack_buckets" in w for w in loaded.warnings)
    roomy = make_plan(sc, DutFacts(conntrack_max=1_200_000, conntrack_count=0, buckets=1_048_576))
    assert roomy.min_margin == 0.2 and not any("per bucket" in w for w in roomy.warnings)
