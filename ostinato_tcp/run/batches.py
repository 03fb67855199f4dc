"""What each batch of a run did: its record, the delay that keeps the order at the paces a
lagging batch measured, and which of its connections a lagging port sent past the DUT's
timeouts.

Pipelined, port A sends a batch's M SYNs at pace ``pa`` and then its ACKs, port B its M
SYN-ACKs at pace ``pb`` starting ``d`` after A. Connection k's margins are then

    SYN -> SYN-ACK:  d + k/pb - k/pa          SYN-ACK -> ACK:  M/pa + k/pa - d - k/pb

Both are straight lines in k, smallest at k = 0 or k = M, so with wa = M/pa and wb = M/pb
the delay that keeps the smaller of the two largest is ``d = (wa + v - u) / 2`` and the margin
it keeps ``(wa + u + v) / 2``, where ``u = min(0, wb - wa)`` and ``v = min(0, wa - wb)``; with
equal paces that is the plan's own ``d = M / 2r``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ostinato_tcp.domain.plan import TIMEOUT_USE, planned_gaps
from ostinato_tcp.ground.measure import NO_LIMIT, Interval, mark_late

if TYPE_CHECKING:
    from ostinato_tcp.domain.plan import Plan
    from ostinato_tcp.domain.streams import Legs
    from ostinato_tcp.domain.tuples import Batch


def adapted_delay(m: int, pa: float, pb: float) -> tuple[float, float]:
    """(delay, the ordering margin it keeps) for a batch of ``m`` when port A sends ``pa`` and
    port B ``pb`` packets per second."""
    wa, wb = m / pa, m / pb
    u, v = min(0.0, wb - wa), min(0.0, wa - wb)
    return (wa + v - u) / 2, (wa + u + v) / 2


@dataclass
class BatchReport:
    """One batch as sent: its mode and delay, each port against its plan, and how the order of
    its connections' packets is known."""

    index: int
    first: int  # its first connection
    count: int
    mode: str  # pipelined | phased, as sent
    delay: float | None = None  # B's start after A's (pipelined)
    why: str = ""  # why the mode or the delay is not the plan's (a batch before lagged)
    margin: float | None = None  # the smallest planned ordering margin (pipelined), seconds
    ports: dict[str, dict] = field(default_factory=dict)  # side -> planned_seconds, seconds, late_seconds, lagged, pace
    order: str = ""  # how the order is known: phased, Drone's captures, or port timing

    @property
    def lagged(self) -> bool:
        return any(p["lagged"] for p in self.ports.values())

    @property
    def suspect(self) -> bool:
        """A pipelined batch in which the generator may have broken the order: a port lagged, or
        fell behind its plan by the batch's ordering margin."""
        if self.mode != "pipelined" or self.margin is None:
            return False
        return self.lagged or any(p["late_seconds"] >= self.margin for p in self.ports.values())

    def to_dict(self) -> dict:
        return {"batch": self.index + 1, "first": self.first, "count": self.count, "mode": self.mode,
                "delay": self.delay, "why": self.why, "margin": self.margin, "suspect": self.suspect,
                "order_known_by": self.order,
                "ports": {side: {k: (round(v, 6) if isinstance(v, float) else v) for k, v in p.items()}
                          for side, p in self.ports.items()}}


def account_ports(rep: BatchReport, ports: dict, intervals: dict[str, list[Interval]], planned: dict[str, float], *,
                  packets: dict[str, int], tolerance: float) -> None:
    """Each port's plan against its transmit state in the batch ``rep`` records (and in the run's
    ``ports`` reports): lagged (slower than the plan by more than ``tolerance``), how late, its pace."""
    for side, ivs in intervals.items():
        port = ports[side]
        port.planned_seconds += planned[side]
        seconds, bound = sum(iv.seconds for iv in ivs), sum(iv.bound for iv in ivs)
        took = seconds - bound
        lagged = _lagged(took, planned[side], tolerance)
        port.lagged = port.lagged or lagged
        rep.ports[side] = {"planned_seconds": planned[side], "seconds": seconds, "bound_seconds": bound,
                           "late_seconds": max(0.0, took - planned[side]), "lagged": lagged,
                           "pace": packets[side] / seconds if seconds > 0 else 0.0}


def gap_limits(rep: BatchReport, legs: "Legs", plan: "Plan") -> tuple[float, float]:
    """The DUT's SYN_SENT and SYN_RECV timeouts the gaps of a handshake batch must stay below,
    each where the plan's own gap passed its check (at most TIMEOUT_USE of the timeout); a plan
    forced past that check (``--ignore-plan-checks``) gets no limit: its failures are the DUT's."""
    if legs.reply is None or legs.last is None or legs.first.role != "syn" or (
            rep.mode == "pipelined" and rep.delay is None):
        return NO_LIMIT
    planned = planned_gaps(rep.mode, rep.count, plan.rate, rep.delay, plan.build_per_packet)
    dut = plan.dut
    return tuple(float(t) if p <= TIMEOUT_USE * t else math.inf  # type: ignore[return-value]
                 for p, t in zip(planned, (dut.syn_sent_timeout, dut.syn_recv_timeout)))


def mark_late_by_ports(marks: bytearray, batch: "Batch", times: dict, rep: BatchReport,
                       limits: tuple[float, float], *, rate: float, tolerance: float) -> None:
    """Mark LATE the connections of ``batch`` whose gaps may have reached ``limits`` as the ports'
    transmit intervals (``times``: side -> Intervals) place their packets; a leg that took longer
    than its plan (``m / rate``) by more than ``tolerance`` (as :func:`account_ports` calls a port
    lagged) places its packets anywhere in its interval."""
    if limits == NO_LIMIT or len(times.get("b", [])) != 1:
        return
    if rep.mode == "pipelined":  # A's one program: the SYNs, then the ACKs, at one pace
        whole = times["a"][0]
        mid_lo, mid_hi = (whole.start_lo + whole.end_lo) / 2, (whole.start_hi + whole.end_hi) / 2
        first, last = (Interval(whole.start_lo, whole.start_hi, mid_lo, mid_hi),
                       Interval(mid_lo, mid_hi, whole.end_lo, whole.end_hi))
        paced_a = _kept_pace(whole, 2 * batch.count / rate, tolerance)
        paced = (paced_a, _kept_pace(times["b"][0], batch.count / rate, tolerance), paced_a)
    elif len(times["a"]) == 2:
        first, last = times["a"]
        paced = tuple(_kept_pace(iv, batch.count / rate, tolerance)  # type: ignore[assignment]
                      for iv in (first, times["b"][0], last))
    else:
        return
    mark_late(marks, batch.first, batch.count, (first, times["b"][0], last), limits, paced)  # type: ignore[arg-type]


def _lagged(took: float, planned: float, tolerance: float) -> bool:
    """A port (or one leg) that took longer than its plan by more than ``tolerance`` (5 ms of slack)."""
    return took > planned * (1 + tolerance) + 0.005


def _kept_pace(iv: Interval, planned: float, tolerance: float) -> bool:
    return not _lagged(iv.seconds - iv.bound, planned, tolerance)
