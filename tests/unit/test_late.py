"""Connections a lagging port sent past the DUT's timeouts: which ones they are, from the ports'
transmit intervals and from Drone's captures, and that their failures (in any state, none once
their entries expired) are the traffic's, while the same failures of connections sent in time
stay the DUT's."""

from __future__ import annotations

import math
from array import array

from ostinato_tcp.domain.facts import DutFacts
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import Legs, handshake
from ostinato_tcp.domain.tuples import Batch
from ostinato_tcp.domain.verdict import MISSING, PASS, Expected, Verdict
from ostinato_tcp.ground.measure import IN_ORDER, LATE, NO_LIMIT, Interval, mark_late, mark_late_timed, sent_order
from ostinato_tcp.run.batches import BatchReport, gap_limits, mark_late_by_ports
from ostinato_tcp.run.outcome import decide
from ostinato_tcp.run.result import PortReport, RunResult

from .helpers import scenario

M = 1000


def at(start: float, end: float, bound: float = 0.001) -> Interval:
    return Interval(start - bound, start, end - bound, end)


def test_a_gap_growing_past_the_limit_marks_the_suffix_late():
    marks = bytearray([IN_ORDER]) * M
    # SYNs over 0..1 s, SYN-ACKs over 1..2 s (gap 1 s each), ACKs from 2 s to 6 s: the SYN-ACK -> ACK
    # gap grows from 1 s to 4 s and reaches a 2 s limit a third of the way through
    mark_late(marks, 0, M, (at(0, 1), at(1, 2), at(2, 6)), (math.inf, 2.0))
    first_late = marks.index(LATE)
    assert 320 <= first_late <= 340 and set(marks[first_late:]) == {LATE} and set(marks[:first_late]) == {IN_ORDER}


def test_a_gap_shrinking_below_the_limit_marks_the_prefix_late():
    marks = bytearray([IN_ORDER]) * (2 * M)
    # SYN-ACKs start 3 s after the SYNs and catch up (gap 3 s down to 0.5 s): the first 400 reached 2 s
    mark_late(marks, M, M, (at(0, 4), at(3, 4.5), at(5, 6)), (2.0, math.inf))
    late = [i for i, x in enumerate(marks) if x == LATE]
    assert late[0] == M and set(marks[:M]) == {IN_ORDER}  # another batch's marks are left alone
    assert 395 <= len(late) <= 405 and late == list(range(M, M + len(late)))


def test_gaps_inside_the_limits_mark_nothing_and_gaps_past_them_mark_all():
    inside = bytearray([IN_ORDER]) * M
    mark_late(inside, 0, M, (at(0, 1), at(0.5, 1.5), at(1, 2)), (2.0, 2.0))
    assert set(inside) == {IN_ORDER}
    past = bytearray([IN_ORDER]) * M
    mark_late(past, 0, M, (at(0, 1), at(3, 4), at(4, 5)), (2.0, 2.0))
    assert set(past) == {LATE}
    none = bytearray([IN_ORDER]) * M
    mark_late(none, 0, M, (at(0, 1), at(3, 4), at(9, 10)), NO_LIMIT)
    assert set(none) == {IN_ORDER}


def test_captured_times_mark_late_only_the_connections_whose_gap_reached_the_limit():
    m, rate, delay = 100, 100.0, 0.5
    a = array("d", [k / rate for k in range(m)] + [(m + k) / rate for k in range(m)])
    b = array("d", [delay + k / rate for k in range(m)])
    for k in range(60, 70):  # these ACKs left 2.5 s after their SYN-ACKs
        a[m + k] = b[k] + 2.5
    marks = bytearray(m)
    sent_order(0, a, b, m, same_clock=True, marks=marks, limits=(5.0, 2.0))
    assert [k for k in range(m) if marks[k] == LATE] == list(range(60, 70))
    assert marks.count(IN_ORDER) == m - 10
    plain = bytearray(m)
    sent_order(0, a, b, m, same_clock=True, marks=plain)
    assert LATE not in plain


def _report(mode: str, delay: float | None) -> BatchReport:
    return BatchReport(index=0, first=0, count=M, mode=mode, delay=delay)


def test_the_limits_are_the_duts_timeouts_where_the_plan_passed_its_check():
    sc = scenario(**{"connections.count": M, "traffic.rate": 500})
    facts = DutFacts(syn_sent_timeout=120, syn_recv_timeout=3, source="test")
    legs = handshake(sc)
    # phased at 500/s: each gap planned about 2 s (with the RPC between phases and the ACKs' build),
    # within 90% (TIMEOUT_USE) of SYN_SENT (120 s) and SYN_RECV (3 s)
    assert gap_limits(_report("phased", None), legs, make_plan(sc, facts)) == (120.0, 3.0)
    # a plan forced past SYN_RECV (phased at 250/s: 4 s) fails by itself: no limit on that gap
    slow = scenario(**{"connections.count": M, "traffic.rate": 250})
    forced = make_plan(slow, facts, force=True)
    assert gap_limits(_report("phased", None), legs, forced) == (120.0, math.inf)
    # 2.8 s planned passes a 3 s timeout but not its 90% check: no limit either
    tight = scenario(**{"connections.count": 1400, "traffic.rate": 500})
    assert gap_limits(BatchReport(index=0, first=0, count=1400, mode="phased"), legs,
                      make_plan(tight, facts, force=True))[1] == math.inf
    # pipelined: SYN -> SYN-ACK is the delay, SYN-ACK -> ACK the batch's time less the delay
    assert gap_limits(_report("pipelined", 1.0), legs, make_plan(sc, facts)) == (120.0, 3.0)
    # legs without a reply to time have no limits
    assert gap_limits(_report("phased", None), Legs(legs.first), make_plan(sc, facts)) == NO_LIMIT


def test_a_phased_batchs_captured_times_settle_which_connections_were_late():
    m = 100
    a = array("d", [k / 100 for k in range(m)] + [2.0 + k / 100 for k in range(m)])  # SYNs, then ACKs from 2 s
    b = array("d", [1.0 + k / 100 for k in range(m)])  # SYN-ACKs from 1 s: every gap 1 s
    for k in range(80, 90):
        a[m + k] = b[k] + 3.5  # ten ACKs held up past a 3 s SYN_RECV timeout
    a[m + 95] = math.nan  # an ACK the capture missed: that connection keeps its mark
    marks = bytearray([LATE]) * m  # what the ports' intervals gave the batch (a stalled leg)
    mark_late_timed(marks, 0, a, b, m, (120.0, 3.0))
    assert [k for k in range(m) if marks[k] == LATE] == list(range(80, 90)) + [95]
    assert marks.count(IN_ORDER) == m - 11


def test_a_phased_batch_is_marked_by_its_ports_intervals_a_stalled_leg_anywhere_in_its_own():
    batch, limits = Batch(index=0, first=0, count=M), (120.0, 3.0)
    # 1000 per leg at 500/s: 2 s each. The ACKs began 0.8 s after the last SYN-ACK and kept pace:
    # every SYN-ACK -> ACK gap is about 2.8 s, below the 3 s SYN_RECV timeout
    kept = bytearray([IN_ORDER]) * M
    mark_late_by_ports(kept, batch, {"a": [at(0, 2), at(4.8, 6.8)], "b": [at(2, 4)]}, _report("phased", None),
                       limits, rate=500, tolerance=0.05)
    assert set(kept) == {IN_ORDER}
    # the ACK leg stalled (5 s for 2 s): any ACK may have gone at its end, past every SYN-ACK's timeout
    stalled = bytearray([IN_ORDER]) * M
    mark_late_by_ports(stalled, batch, {"a": [at(0, 2), at(4, 9)], "b": [at(2, 4)]}, _report("phased", None),
                       limits, rate=500, tolerance=0.05)
    assert set(stalled) == {LATE}
    # the same stall without a limit (a plan forced past the timeout) marks nothing
    forced = bytearray([IN_ORDER]) * M
    mark_late_by_ports(forced, batch, {"a": [at(0, 2), at(4, 9)], "b": [at(2, 4)]}, _report("phased", None),
                       NO_LIMIT, rate=500, tolerance=0.05)
    assert set(forced) == {IN_ORDER}


def test_a_stalled_leg_with_a_paced_one_before_it_marks_by_the_paced_ones_times():
    marks = bytearray([IN_ORDER]) * M
    # SYN-ACKs paced over 0..2 s, the ACK leg stalled and ended at 4 s: the latest SYN-ACK -> ACK gap
    # is 4 s for the first connection and 2 s for the last, reaching 3 s halfway
    mark_late(marks, 0, M, (at(-2, 0), at(0, 2), at(2, 4)), (math.inf, 3.0), (True, True, False))
    assert 495 <= marks.count(LATE) <= 505 and marks[0] == LATE and marks[-1] == IN_ORDER


def _recorded(codes: list[int], marks: list[int]) -> RunResult:
    sc = scenario(**{"connections.count": M, "traffic.rate": 500})
    plan = make_plan(sc, DutFacts(syn_sent_timeout=120, syn_recv_timeout=2, source="test"), force=True)
    r = RunResult(scenario=sc, plan=plan, expected=Expected(plan.space))
    r.verdict = Verdict(expected=M, codes=bytearray(codes), states={})
    r.traffic.order_marks = bytearray(marks)
    r.traffic.ports = {"a": PortReport("porta", "d", expected_packets=2 * M, sent_packets=2 * M),
                       "b": PortReport("portb", "d", expected_packets=M, sent_packets=M)}
    rep = BatchReport(index=0, first=0, count=M, mode="phased")
    rep.ports = {"a": {"planned_seconds": 4.0, "seconds": 7.0, "bound_seconds": 0.001, "late_seconds": 3.0,
                       "lagged": True, "pace": 2 * M / 7.0}}
    r.traffic.batches = [rep]
    return r


def test_entries_that_expired_after_a_late_ack_are_the_traffics_not_the_duts():
    # 716 connections with no entry: their ACKs left after the 2 s SYN_RECV timeout had expired them
    codes = [PASS] * 284 + [MISSING] * 716
    r = _recorded(codes, [IN_ORDER] * 284 + [LATE] * 716)
    d = decide(r)
    assert d.word == "inconclusive" and r.exit_code == 4
    assert (d.in_order, d.failed_in_order, d.traffic_failed, d.dut_failed, d.late) == (284, 0, 716, 0, 716)
    assert "716 of them sent with a gap that may have reached the DUT's timeouts" in d.reasons[0]
    assert "SYN_RECV 2 s" in d.reasons[0] and "port A took 7.000 s (±0.001) for 4.000 s planned (at least 3.000 s late)" in d.reasons[0]
    assert d.to_dict()["sent_past_dut_timeouts"] == 716


def test_the_same_missing_entries_of_connections_sent_in_time_fail_the_dut():
    codes = [PASS] * 284 + [MISSING] * 716
    r = _recorded(codes, [IN_ORDER] * M)
    d = decide(r)
    assert d.word == "fail" and r.exit_code == 1 and (d.traffic_failed, d.dut_failed, d.late) == (0, 716, 0)


def test_one_failure_sent_in_time_makes_it_the_duts_whatever_the_late_ones_did():
    codes = [MISSING] + [PASS] * 283 + [MISSING] * 716
    d = decide(_recorded(codes, [IN_ORDER] * 284 + [LATE] * 716))
    assert d.word == "fail" and (d.failed_in_order, d.traffic_failed, d.dut_failed) == (1, 716, 1)
    assert "past the DUT's timeouts: those are the traffic's" in d.reasons[0]
