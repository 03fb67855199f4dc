"""Drone's send ceiling as a run measures it (:mod:`ostinato_tcp.run.probe`), and what a run may ask
of it: both ports send a probe flat out together, each port's packets per second of its transmit
is its ceiling, and a run may ask :data:`CEILING_USE` of the slower port's (docs/figures.md)."""

from __future__ import annotations

from dataclasses import dataclass

from ostinato_tcp.ground.measure import Rate

CEILING_USE = 0.8  # a run may ask at most this share of the measured ceiling: the probe's repeated frames cost
# the DUT less than a run's new connections, which matters where the DUT shares the Drone host's CPU
TYPICAL_CEILING = 100_000.0  # packets/s per port assumed before a run measures it (plan --offline, rate max)


@dataclass(frozen=True)
class Ceiling:
    """The send ceiling: each port's packets per second when both send flat out together."""

    rates: dict[str, Rate]  # side -> the port's measured rate
    probe_seconds: float  # how long the probe sent (the longer one, when it ran)
    remembered_at: str | None = None  # measured by an earlier run's probe at this time (UTC), not by this run

    @property
    def value(self) -> float:
        """The slower port's measured ceiling (packets/s)."""
        return min(r.value for r in self.rates.values())

    @property
    def usable(self) -> float:
        """The highest rate a run may ask: CEILING_USE of :attr:`value`."""
        return CEILING_USE * self.value

    def text(self) -> str:
        return (", ".join(f"port {side.upper()} {r.text()}" for side, r in sorted(self.rates.items()))
                + (f" (measured by a run at {self.remembered_at})" if self.remembered_at else ""))

    def to_dict(self) -> dict:
        return {"ports": {side: r.to_dict() for side, r in self.rates.items()}, "packets_per_second": self.value,
                "usable_packets_per_second": self.usable, "usable_share": CEILING_USE,
                "probe_seconds": round(self.probe_seconds, 4), "remembered_at": self.remembered_at,
                "definition": "packets a port sent per second of its transmit, both ports sending the probe "
                              "flat out together; a run may ask at most usable_share of the slower port's"}
