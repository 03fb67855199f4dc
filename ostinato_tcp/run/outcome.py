"""The run's outcome: ``pass``, ``fail`` (the DUT), ``inconclusive`` (the traffic, not the DUT)
or ``error`` (a fault stopped the run).

Only a connection whose packets the traffic delivered in order can fail the DUT. Each
connection carries an order mark (:data:`~ostinato_tcp.ground.measure.IN_ORDER`,
``ORDER_UNKNOWN``, ``OUT_OF_ORDER``, ``LATE``) from the best evidence its batch has:

* phased batches: in order by construction (each phase starts when the one before was sent);
* pipelined batches timed by Drone's captures (both ports on one host's clock): each
  connection's SYN, SYN-ACK and ACK as they left, in order when each followed the one before by
  at least ``ORDER_GUARD``;
* other pipelined batches: in order when no port lagged and none fell behind its plan by the
  batch's smallest ordering margin; unknown otherwise;
* any batch: ``LATE`` where a gap of the connection may have reached the DUT's SYN_SENT or
  SYN_RECV timeout though the plan's passed its check (the captures' times where they timed it,
  else the ports' transmit intervals: :func:`~ostinato_tcp.run.batches.mark_late_by_ports`).

The rules, in order:

1. a fault stopped the run: ``error``;
2. every connection ESTABLISHED+ASSURED (and held, and closed, when asked) and every port sent
   its plan: ``pass``;
3. a port sent fewer TCP packets than the plan said (for the handshake, or for a tear-down
   that failed): ``inconclusive`` (the connections that lack them cannot be named);
   the table proof held but the traffic proof did not: ``inconclusive`` when every connection
   that did not carry lacks a data segment its own port's capture never saw leave, or when a
   port's counters show its capture incomplete (and no hold or tear-down failed), else ``fail``;
4. a failed connection in a state the order explains (SYN_SENT, SYN_RECV) whose order is not
   known good is the traffic's, and so is a failed connection in any state (none, once its entry
   expired) that was sent ``LATE``: a gap of its may have reached the DUT's SYN_SENT or SYN_RECV timeout
   though the plan's did not (a port fell behind); every other failed connection is the DUT's.
   Any DUT failure: ``fail``; else ``inconclusive``.

Exit codes: 0 pass, 1 fail, 4 inconclusive, 2 and 3 as every error (:mod:`.errors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ostinato_tcp.domain.verdict import PASS, SYN_RECV, SYN_SENT
from ostinato_tcp.ground.measure import IN_ORDER, LATE

ORDER_STATES = (SYN_SENT, SYN_RECV)  # categories a broken SYN / SYN-ACK / ACK order leaves


def _ones(data: bytes | bytearray, values) -> int:
    """An integer whose byte i is 1 where data[i] is one of ``values`` (to count with &)."""
    table = bytes(1 if i in values else 0 for i in range(256))
    return int.from_bytes(bytes(data).translate(table), "little")


@dataclass
class Outcome:
    word: str  # pass | fail | inconclusive | error
    in_order: int | None = None  # connections the traffic is known to have delivered in order
    failed_in_order: int | None = None  # of those, how many the DUT did not establish
    traffic_failed: int = 0  # failed connections the traffic explains (out of order, order unknown, or late)
    dut_failed: int = 0  # failed connections that are the DUT's (in order, or a failure no order explains)
    late: int = 0  # connections sent with a gap that may have reached the DUT's timeout, though the plan's did not
    reasons: list[str] = field(default_factory=list)
    rule: str = ("only a connection the traffic delivered in order can fail the DUT; a failure in SYN_SENT or "
                 "SYN_RECV of a connection sent out of order (or while a port fell behind its plan), and any failure "
                 "of a connection sent past the DUT's timeouts, is the traffic's")

    def to_dict(self) -> dict:
        return {"outcome": self.word, "delivered_in_order": self.in_order, "failed_in_order": self.failed_in_order,
                "failed_by_the_traffic": self.traffic_failed, "failed_by_the_dut": self.dut_failed,
                "sent_past_dut_timeouts": self.late,
                "reasons": list(self.reasons), "rule": self.rule}


def decide(r) -> Outcome:
    """The outcome of a :class:`~ostinato_tcp.run.result.RunResult` (one pair, or several)."""
    if r.pairs:
        return _combine([decide(p) for p in r.pairs])
    if r.error:
        return Outcome("error", reasons=[r.error])
    if r.by_traffic_only:
        return _by_traffic(r)
    v = r.verdict
    if v is None:
        return Outcome("error", reasons=["no verdict"])
    n = v.expected
    marks = r.order_marks if r.order_marks is not None and len(r.order_marks) == n else bytearray(n)
    known = _ones(marks, (IN_ORDER,))
    in_order = known.bit_count()
    failed = _ones(v.codes, set(range(256)) - {PASS})
    order_kind = _ones(v.codes, ORDER_STATES)
    late = _ones(marks, (LATE,))
    failed_in_order = (failed & known).bit_count()
    traffic = (failed & ((order_kind & ~known) | late)).bit_count()
    dut = failed.bit_count() - traffic
    out = Outcome("pass", in_order, failed_in_order, traffic, dut, late.bit_count())
    if r.passed:  # every handshake reached the DUT in order: its table proves it
        out.in_order = n
        return out
    short = [(r, side, "") for side in r.ports_short]
    td = r.teardown
    if td is not None and not td.skipped and not td.passed and td.traffic is not None:
        short += [(td.traffic, side, " for the tear-down") for side in td.traffic.ports_short]
    if short:
        out.word = "inconclusive"
        out.reasons += [f"port {side.upper()} ({res.ports[side].name}) sent {res.ports[side].sent_packets} of the "
                        f"{res.ports[side].expected_packets} TCP packets the plan said{what}: the traffic, not the DUT"
                        for res, side, what in short]
        return out
    c = r.carry
    if v.passed and c is not None and c.verdict is not None and not c.passed:
        lacking = c.verdict.expected - c.verdict.both
        later = [x for x in (r.hold, r.teardown) if x is not None and not x.skipped and not x.passed]
        if not later and (c.lossy or c.unsent >= lacking):  # the proof's evidence, not the DUT, is short
            out.word = "inconclusive"
            out.reasons.append(f"the traffic proof: the captures are incomplete ({c.lossy}): the traffic, not the DUT"
                               if c.lossy else
                               f"the traffic proof: {c.unsent} connection(s) lack a data segment that never left its "
                               "port: the traffic, not the DUT")
            return out
        out.word = "fail"
        out.reasons.append(f"the traffic proof: the DUT did not carry {lacking - c.unsent} connection(s) both ways "
                           "whose segments left their ports")
        return out
    if dut or v.passed:  # the DUT's failures (or a failed hold or tear-down of established connections)
        out.word = "fail"
        if traffic:
            out.reasons.append(f"{traffic} other failed connection(s) were sent out of order, while a port fell "
                               "behind its plan, or past the DUT's timeouts: those are the traffic's")
        return out
    out.word = "inconclusive"
    out.reasons.append(_why_traffic(r, traffic, in_order, failed_in_order, (failed & late).bit_count()))
    return out


def _by_traffic(r) -> Outcome:
    """The outcome of a run proven by the traffic alone (no table read): pass when every
    connection carried both ways; inconclusive when a port sent short or the proof's evidence is
    (a segment never left its port, or the captures are incomplete); else fail."""
    c = r.carry
    rule = ("by traffic only (no table read): a connection passes when both its data segments crossed the DUT; one "
            "lacking a segment that never left its port is the traffic's")
    if c is None or c.verdict is None:
        return Outcome("error", reasons=[f"no traffic proof: {c.skipped}" if c is not None and c.skipped else
                                         "no traffic proof"], rule=rule)
    if r.passed:
        return Outcome("pass", rule=rule)
    out = Outcome("fail", rule=rule)
    lacking = c.verdict.expected - c.verdict.both
    if r.ports_short:
        out.word = "inconclusive"
        out.reasons += [f"port {side.upper()} ({r.ports[side].name}) sent {r.ports[side].sent_packets} of the "
                        f"{r.ports[side].expected_packets} TCP packets the plan said: the traffic, not the DUT"
                        for side in r.ports_short]
    elif c.lossy or c.unsent >= lacking:
        out.word = "inconclusive"
        out.reasons.append(f"the traffic proof: the captures are incomplete ({c.lossy}): the traffic, not the DUT"
                           if c.lossy else
                           f"the traffic proof: {c.unsent} connection(s) lack a data segment that never left its "
                           "port: the traffic, not the DUT")
    else:
        out.reasons.append(f"the traffic proof: the DUT did not carry {lacking - c.unsent} connection(s) both ways "
                           "whose segments left their ports")
    out.dut_failed, out.traffic_failed = (lacking - c.unsent, c.unsent) if out.word == "fail" else (0, lacking)
    return out


def _why_traffic(r, traffic: int, in_order: int, failed_in_order: int, failed_late: int) -> str:
    captured = [o for o in r.sent_order if o.timed and o.same_clock]
    late = [b for b in r.batches if b.suspect or b.lagged]
    how = []
    if captured:
        out = sum(last - first + 1 for o in captured for first, last, _ in o.synack_first + o.ack_first)
        if out:
            how.append(f"Drone's captures show packets of {out} connection(s) sent before the one they follow")
    for b in late:
        worst = max(b.ports.items(), key=lambda kv: kv[1]["late_seconds"])
        side, p = worst
        how.append(f"in batch {b.index + 1} port {side.upper()} took {p['seconds']:.3f} s (±{p['bound_seconds']:.3f}) for "
                   f"{p['planned_seconds']:.3f} s planned (at least {p['late_seconds']:.3f} s late"
                   + (f" against an ordering margin of {b.margin:.3f} s)" if b.margin is not None else ")"))
    if failed_late:
        limits = f"SYN_SENT {r.plan.dut.syn_sent_timeout} s, SYN_RECV {r.plan.dut.syn_recv_timeout} s"
        rest = traffic - failed_late
        head = (f"the traffic, not the DUT: {traffic} connection(s) failed, {failed_late} of them sent with a gap "
                f"that may have reached the DUT's timeouts ({limits}) though the plan's did not"
                + (f", {rest} in SYN_SENT or SYN_RECV, the states a broken SYN / SYN-ACK / ACK order leaves"
                   if rest else "") + " (")
    else:
        head = (f"the traffic, not the DUT: {traffic} connection(s) failed in SYN_SENT or SYN_RECV, the states a "
                "broken SYN / SYN-ACK / ACK order leaves, and their packets did not leave Drone in order (")
    return (head + ("; ".join(how) or "order not known") + f"); of the {in_order} connection(s) the traffic "
            f"delivered in order, the DUT failed {failed_in_order}")


def _combine(parts: list[Outcome]) -> Outcome:
    words = [p.word for p in parts]
    word = next((w for w in ("error", "fail", "inconclusive") if w in words), "pass")

    def total(key):
        values = [getattr(p, key) for p in parts]
        return None if any(x is None for x in values) else sum(values)

    return Outcome(word, total("in_order"), total("failed_in_order"), sum(p.traffic_failed for p in parts),
                   sum(p.dut_failed for p in parts), sum(p.late for p in parts),
                   [f"pair {i + 1}: {line}" for i, p in enumerate(parts) for line in p.reasons])


def traffic_notes(r) -> list[str]:
    """What the ports did that explains a verdict: a forced plan, a port short of its plan, a lag."""
    notes = []
    plan = r.plan
    if plan.forced and plan.problems:
        notes.append("the plan was forced past its checks: " + " | ".join(plan.problems))
    for side, rep in r.ports.items():
        if rep.shortfall:
            notes.append(f"port {side.upper()} ({rep.name}) sent {rep.sent_packets} of the {rep.expected_packets} "
                         "TCP packets the plan said: the run cannot pass whatever the DUT's table holds")
        if rep.lagged:
            notes.append(f"port {side.upper()} ({rep.name}) took {rep.send_seconds:.3f} s for what was planned "
                         f"in {rep.planned_seconds:.3f} s ({rep.packet_rate.text()} against {plan.rate:g}/s "
                         "planned): a lagging port breaks the SYN / SYN-ACK / ACK order")
    if plan.mode == "pipelined" and r.delays:
        worst = max(abs(d - plan.delay) for d in r.delays)
        if worst > max(0.05, plan.delay * 0.2):
            notes.append(f"port B started up to {worst:.3f} s off the planned delay {plan.delay:.3f} s")
    return notes
