"""The run's outcome from the evidence it holds: which failures are the DUT's, which the traffic's
(out of order as sent, or sent while a port fell behind), and the delay a lagging batch feeds the
next one. Results are put together as a run leaves them: verdict codes, batch records, order marks."""

from __future__ import annotations

import itertools

import pytest

from ostinato_tcp.run.batches import BatchReport, adapted_delay
from ostinato_tcp.domain.verdict import MISSING, PASS, REPLY_MISMATCH, SYN_RECV, SYN_SENT, Expected, Verdict
from ostinato_tcp.ground.measure import IN_ORDER, ORDER_UNKNOWN, OUT_OF_ORDER, SentOrder
from ostinato_tcp.run.outcome import decide
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.run.result import PortReport, RunResult

from .helpers import scenario

N = 1000


def recorded(codes: list[int], marks: list[int], *, batches=None, sent_order=None, short_b=False) -> RunResult:
    sc = scenario(**{"connections.count": N, "traffic.rate": 1000})
    plan = make_plan(sc)
    r = RunResult(scenario=sc, plan=plan, expected=Expected(plan.space))
    r.verdict = Verdict(expected=N, codes=bytearray(codes), states={})
    r.traffic.order_marks = bytearray(marks)
    r.traffic.batches = batches or []
    r.traffic.sent_order = sent_order or []
    r.traffic.ports = {"a": PortReport("porta", "d", expected_packets=2 * N, sent_packets=2 * N),
                       "b": PortReport("portb", "d", expected_packets=N, sent_packets=0 if short_b else N)}
    return r


def batch(lagged: bool, late: float = 0.0, margin: float = 0.5, mode: str = "pipelined") -> BatchReport:
    rep = BatchReport(index=0, first=0, count=N, mode=mode, delay=0.5, margin=margin if mode == "pipelined" else None)
    rep.ports = {"a": {"planned_seconds": 2.0, "seconds": 2.0 + late, "bound_seconds": 0.001, "late_seconds": late,
                       "lagged": lagged, "pace": 2 * N / (2.0 + late)},
                 "b": {"planned_seconds": 1.0, "seconds": 1.0, "bound_seconds": 0.001, "late_seconds": 0.0,
                       "lagged": False, "pace": N}}
    return rep


def test_a_passing_run_passes_with_every_connection_in_order():
    d = decide(recorded([PASS] * N, [IN_ORDER] * N))
    assert d.word == "pass" and d.in_order == N and d.failed_in_order == 0


def test_connections_sent_out_of_order_by_drone_are_the_traffics_not_the_duts():
    # Drone's captures: connections 900..999 left with their SYN-ACK before their SYN, and those failed
    codes = [PASS] * 900 + [SYN_SENT] * 100
    marks = [IN_ORDER] * 900 + [OUT_OF_ORDER] * 100
    order = SentOrder(batch=0, connections=N, timed=N, min_syn_to_synack=-0.2, min_synack_to_ack=0.4,
                      synack_first=[(900, 999, -0.2)])
    r = recorded(codes, marks, batches=[batch(lagged=True, late=0.3)], sent_order=[order])
    d = decide(r)
    assert d.word == "inconclusive" and r.exit_code == 4
    assert (d.in_order, d.failed_in_order, d.traffic_failed, d.dut_failed) == (900, 0, 100, 0)
    assert "Drone's captures show packets of 100 connection(s) sent before the one they follow" in d.reasons[0]
    assert "of the 900 connection(s) the traffic delivered in order, the DUT failed 0" in d.reasons[0]


def test_one_in_order_connection_the_dut_failed_makes_it_the_duts_failure():
    codes = [PASS] * 899 + [SYN_SENT] + [SYN_SENT] * 100
    marks = [IN_ORDER] * 900 + [OUT_OF_ORDER] * 100
    d = decide(recorded(codes, marks))
    assert d.word == "fail" and (d.failed_in_order, d.traffic_failed, d.dut_failed) == (1, 100, 1)
    assert "100 other failed connection(s) were sent out of order" in d.reasons[0]


def test_without_captures_a_lagging_batch_leaves_its_order_unknown():
    r = recorded([SYN_SENT] * N, [ORDER_UNKNOWN] * N, batches=[batch(lagged=True, late=1.2)])
    d = decide(r)
    assert d.word == "inconclusive" and d.in_order == 0 and d.traffic_failed == N
    assert "in batch 1 port A took 3.200 s (±0.001) for 2.000 s planned (at least 1.200 s late against an ordering margin" \
           in d.reasons[0]


def test_without_captures_a_batch_that_kept_its_plan_puts_the_failure_on_the_dut():
    assert decide(recorded([SYN_SENT] * N, [IN_ORDER] * N, batches=[batch(lagged=False)])).word == "fail"


@pytest.mark.parametrize("code", [MISSING, REPLY_MISMATCH])
def test_a_failure_no_broken_order_leaves_is_the_duts_even_when_the_order_is_unknown(code):
    codes = [PASS] * 990 + [code] * 10
    d = decide(recorded(codes, [ORDER_UNKNOWN] * N, batches=[batch(lagged=True, late=2.0)]))
    assert d.word == "fail" and d.dut_failed == 10 and d.traffic_failed == 0


def test_syn_recv_failures_count_like_syn_sent_ones():
    d = decide(recorded([PASS] * 500 + [SYN_RECV] * 500, [IN_ORDER] * 500 + [OUT_OF_ORDER] * 500))
    assert d.word == "inconclusive" and d.traffic_failed == 500


def test_a_port_short_of_its_plan_is_inconclusive_whatever_the_table_shows():
    r = recorded([PASS] * N, [IN_ORDER] * N, short_b=True)
    assert not r.passed and decide(r).word == "inconclusive"
    assert "port B (portb) sent 0 of the 1000 TCP packets the plan said" in decide(r).reasons[0]


def test_a_fault_is_an_error_and_pairs_combine_their_outcomes():
    r = recorded([PASS] * N, [IN_ORDER] * N)
    r.error = "Drone x: lost"
    assert decide(r).word == "error" and r.exit_code == 3
    ok, bad, odd = (recorded([PASS] * N, [IN_ORDER] * N), recorded([SYN_SENT] * N, [IN_ORDER] * N),
                    recorded([SYN_SENT] * N, [OUT_OF_ORDER] * N))
    both = RunResult(scenario=ok.scenario, pairs=[ok, odd])
    assert decide(both).word == "inconclusive" and decide(both).in_order == N
    assert decide(RunResult(scenario=ok.scenario, pairs=[ok, odd, bad])).word == "fail"
    assert decide(both).reasons[0].startswith("pair 2: the traffic, not the DUT")


def test_the_adapted_delay_keeps_the_largest_margin_at_the_measured_paces():
    m = 1000
    for pa, pb in [(1000, 1000), (800, 1000), (1000, 700), (500, 2000)]:
        d, kept = adapted_delay(m, pa, pb)

        def margin(delay):
            return min(min(delay + k / pb - k / pa, m / pa + k / pa - delay - k / pb) for k in (0, m))

        assert abs(margin(d) - kept) < 1e-9
        best = max(margin(x / 1000 * m / pa) for x in range(1, 1000))  # a brute-force search of the delay
        assert kept >= best - 1e-6
    assert adapted_delay(m, 1000, 1000) == (0.5, 0.5)


def test_batch_records_say_when_the_order_was_at_risk():
    assert batch(lagged=True).suspect and not batch(lagged=False).suspect
    assert batch(lagged=False, late=0.6, margin=0.5).suspect  # late by its margin without crossing the tolerance
    assert not batch(lagged=True, mode="phased").suspect  # phases keep the order whatever the pace
    assert list(itertools.islice(batch(True).to_dict()["ports"]["a"], 2)) == ["planned_seconds", "seconds"]
