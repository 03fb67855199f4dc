"""What each batch of a run did: its record, and the delay that keeps the order at the paces
a lagging batch measured.

Pipelined, port A sends a batch's M SYNs at pace ``pa`` and then its ACKs, port B its M
SYN-ACKs at pace ``pb`` starting ``d`` after A. Connection k's margins are then

    SYN -> SYN-ACK:  d + k/pb - k/pa          SYN-ACK -> ACK:  M/pa + k/pa - d - k/pb

Both are straight lines in k, smallest at k = 0 or k = M, so with wa = M/pa and wb = M/pb
the delay that keeps the smaller of the two largest is ``d = (wa + v - u) / 2`` and the margin
it keeps ``(wa + u + v) / 2``, where ``u = min(0, wb - wa)`` and ``v = min(0, wa - wb)``; with
equal paces that is the plan's own ``d = M / 2r``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
