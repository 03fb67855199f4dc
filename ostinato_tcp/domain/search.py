"""The searches of a benchmark, pure: which rate to try next, when to stop, what the figure is;
and a figure's spread over repeated trials. The jobs run the steps (:mod:`ostinato_tcp.jobs.benchmark`,
:mod:`ostinato_tcp.jobs.sweep`); nothing here sends a packet.

A rate search works on **measured** rates: Drone seldom offers exactly the rate asked, so a
step is recorded at the offered connection rate its run measured, and the next rate to ask is
steered from the asked/measured ratio of the step measured nearest the target
(:func:`steer`). The sweep's search and the benchmark's share that rule and the bisection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DEFAULT_RESOLUTION = 0.01  # a rate search stops when its bounds are within 1% of each other
PERCENTILE_TRIALS = 20  # the 1st and 99th percentiles are reported from this many trials on


@dataclass(frozen=True)
class Step:
    """One step of a search: the rate asked, the rate its run measured, whether it passed and why."""

    asked: float
    measured: float | None  # the offered connection rate the run measured (None: not measured)
    passed: bool
    why: str = ""  # the reason it did not pass ("" when it passed)
    seconds: float = 0.0  # the step's run, plan to clean-up
    generator: bool = False  # it failed on the generator's side (a port lagged), not on the DUT's
    retried: tuple[str, ...] = ()  # earlier attempts at this rate that failed on the generator's side, and why

    @property
    def rate(self) -> float:
        """Where the step stands in the search: its measured rate, else the one asked."""
        return self.measured if self.measured else self.asked

    def to_dict(self) -> dict:
        return {"asked_rate": self.asked, "measured_rate": self.measured, "passed": self.passed, "why": self.why,
                "seconds": round(self.seconds, 2), "generator_limited": self.generator, "retried": list(self.retried)}


def steer(target: float, seen: list[tuple[float, float]]) -> float:
    """The rate to ask so that Drone offers ``target``: scaled by the asked/measured ratio of the
    step (asked, measured) measured nearest the target; ``target`` itself with nothing seen."""
    usable = [(a, m) for a, m in seen if a > 0 and m and m > 0]
    if not usable:
        return float(round(target))
    asked, measured = min(usable, key=lambda s: abs(math.log(s[1] / target)))
    return float(round(target * asked / measured))


def midpoint(lo: float, hi: float) -> float:
    """The next rate between a passing ``lo`` and a failing ``hi``: their geometric mean, so that
    a resolution relative to the rate takes the same number of steps at any scale."""
    return math.sqrt(lo * hi)


def narrow_enough(lo: float, hi: float, resolution: float) -> bool:
    """Bounds within ``resolution`` of each other, relative to the lower: hi / lo - 1 <= resolution."""
    return hi <= lo * (1 + resolution)


@dataclass
class RateSearch:
    """The maximum connection establishment rate of one trial: the top (Drone's usable ceiling)
    first, then the floor, then bisection between the highest measured rate that passed and the
    lowest that failed above it, until they are within ``resolution``.

    A step that failed on the generator's side (a port lagged, the traffic out of order, the rate
    not measured within 5%: the job runs such a step again first) says nothing of the DUT: it
    bounds the search from above (Drone cannot test beyond it) but is never the DUT's failure.

    Outcomes: ``found`` (bounded within the resolution by a rate the DUT failed), ``limited by
    the generator`` (bounded by a rate Drone could not offer properly: the figure is a lower
    bound of the DUT's), ``passed at the top`` (the top itself passed: the DUT kept up with the
    fastest rate asked, Drone's usable ceiling unless the user set the top), ``below the floor``
    (the DUT failed the floor), ``not narrowed`` (the step budget ran out, Drone could not be
    steered to a new rate, or the steps contradict each other: the figure stands with its
    bounds)."""

    floor: float
    resolution: float = DEFAULT_RESOLUTION
    max_steps: int = 30
    steps: list[Step] = field(default_factory=list)
    lo: float | None = None  # the highest measured rate that passed
    hi: float | None = None  # the lowest measured rate the DUT failed above lo
    generator_hi: float | None = None  # the lowest rate a step failed at on the generator's side, above lo
    outcome: str = ""  # set when the search is over

    def record(self, step: Step) -> None:
        """A pass raises the lower bound, a DUT failure lowers the upper, a generator failure the
        generator's bound. A DUT result that contradicts an earlier one (a pass measured above a
        failure, or the reverse: Drone's offered rate varies between steps) wins, and the other
        bound falls back to the nearest step that agrees; a generator failure at or below a pass
        bounds nothing."""
        self.steps.append(step)
        rate = step.rate
        if step.passed:
            self.lo = rate if self.lo is None else max(self.lo, rate)
            if self.hi is not None and self.hi <= self.lo:
                self.hi = min((s.rate for s in self._dut_failures() if s.rate > self.lo), default=None)
            if self.generator_hi is not None and self.generator_hi <= self.lo:
                self.generator_hi = min((s.rate for s in self.steps if s.generator and not s.passed
                                         and s.rate > self.lo), default=None)
        elif step.generator:
            if self.lo is None or rate > self.lo:
                self.generator_hi = rate if self.generator_hi is None else min(self.generator_hi, rate)
        else:
            self.hi = rate if self.hi is None else min(self.hi, rate)
            if self.lo is not None and self.lo >= self.hi:
                self.lo = max((s.rate for s in self.steps if s.passed and s.rate < self.hi), default=None)

    def _dut_failures(self) -> list[Step]:
        return [s for s in self.steps if not s.passed and not s.generator]

    @property
    def bound(self) -> float | None:
        """The upper bound the bisection narrows to: the lower of the DUT's and the generator's."""
        got = [x for x in (self.hi, self.generator_hi) if x is not None]
        return min(got) if got else None

    def next_ask(self) -> float | None:
        """The rate to ask next (None: the search is over; :attr:`outcome` says how)."""
        if self.outcome:
            return None
        if not self.steps:
            raise ValueError("the first step is the top (traffic.rate max): the job runs it")
        if len(self.steps) >= self.max_steps:
            return self._over("not narrowed")
        if self.lo is None:
            at_floor = [s for s in self.steps if s.asked <= self.floor]
            if not at_floor:
                return float(self.floor)
            if any(not s.passed and not s.generator for s in at_floor):
                return self._over("below the floor")
            return self._over("limited by the generator" if all(s.generator for s in at_floor) else "not narrowed")
        top = self.bound
        if top is None:
            return self._over("passed at the top" if self.steps[0].passed else "not narrowed")
        if narrow_enough(self.lo, top, self.resolution):
            by_dut = self.hi is not None and (self.generator_hi is None or self.hi <= self.generator_hi)
            return self._over("found" if by_dut else "limited by the generator")
        ask = steer(midpoint(self.lo, top), [(s.asked, s.measured) for s in self.steps if s.measured])
        if any(s.asked == ask for s in self.steps):  # asked before: Drone cannot be steered closer
            return self._over("not narrowed")
        return ask

    def _over(self, outcome: str) -> None:
        self.outcome = outcome
        return None

    @property
    def figure(self) -> float | None:
        """The trial's maximum connection establishment rate: the highest measured rate that passed."""
        return self.lo

    def to_dict(self) -> dict:
        return {"figure": self.figure, "lower_bound": self.lo, "upper_bound": self.hi,
                "generator_bound": self.generator_hi, "outcome": self.outcome,
                "floor": self.floor, "resolution": self.resolution, "steps": [s.to_dict() for s in self.steps]}


def nearest_rank(values: list[float], pct: float) -> float:
    """The ``pct`` percentile by nearest rank: the smallest value with at least pct% of the
    values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: list[float]) -> dict:
    """A figure over its trials: median, minimum, maximum, and from :data:`PERCENTILE_TRIALS`
    trials on the 1st and 99th percentiles (nearest rank); the trials that gave no figure are
    counted apart."""
    got = [v for v in values if v is not None]
    out = {"trials": len(values), "trials_with_a_figure": len(got), "median": None, "minimum": None,
           "maximum": None, "percentile_1": None, "percentile_99": None,
           "percentiles_from": PERCENTILE_TRIALS}
    if not got:
        return out
    ordered = sorted(got)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    out.update(median=median, minimum=ordered[0], maximum=ordered[-1])
    if len(got) >= PERCENTILE_TRIALS:
        out.update(percentile_1=nearest_rank(got, 1), percentile_99=nearest_rank(got, 99))
    return out


__all__ = ["DEFAULT_RESOLUTION", "RateSearch", "Step", "midpoint", "narrow_enough", "spread", "steer"]
