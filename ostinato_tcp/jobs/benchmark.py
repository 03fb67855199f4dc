"""``ostinato-tcp benchmark``: RFC 9693's maximum connection establishment rate by its
procedure, a binary search with a validation at every step, repeated over trials.

Each trial is one search (:class:`~ostinato_tcp.domain.search.RateSearch`): its first step
asks ``traffic.rate max`` (the usable share of Drone's send ceiling, measured by that run's
probe) or the user's ``top``, its second the floor, then the rate between the highest that passed and the lowest
that failed, until they are within the resolution. Every step is a run of its own: the test's
entries cleared before its first packet (the freshness proof) and removed after its verdict,
so each step starts from a fresh table. A rate above Drone's usable ceiling runs at the ceiling
(``traffic.above_ceiling: lower``); a step the plan refuses for another reason (the table, a
batch limit) or a fault ends the benchmark (exit 2 or 3): neither says anything of the DUT's
speed. A step passes (:func:`judge_step`) only when

* every connection was ESTABLISHED+ASSURED, by this run (the run's verdict PASS);
* every connection carried a data segment each way (the traffic proof: the RFC's validation,
  added to the scenario's proofs unless ``validate=False``);
* its offered connection rate was measured within 5% and no port lagged behind the asked rate
  (a step that failed on the generator's side, a port lagging, the traffic out of order or the
  rate not measured within 5%, runs again up to twice; if it still fails it bounds the search
  as the generator's limit, never as the DUT's; the trace keeps every attempt);
* the DUT's ``conntrack -S`` counters show no loss over the run (drop, early_drop,
  insert_failed all +0).

The figure of a trial is the highest measured offered connection rate that passed (the
definition the sweep's summary uses: :func:`~ostinato_tcp.jobs.sweep_results.established_rate`);
over the trials it is reported as median, minimum, maximum and, from 20 trials, the 1st and
99th percentiles, with every trial's trace kept.

Exit codes: 0 every trial gave a figure; 1 a trial gave none (the floor failed); 2 bad
input; 3 a fault.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ostinato_tcp.domain.search import DEFAULT_RESOLUTION, RateSearch, Step, spread
from ostinato_tcp.errors import OstinatoTcpError, UsageError
from ostinato_tcp.jobs._outcome import JobOutcome
from ostinato_tcp.jobs.sweep import clear_point
from ostinato_tcp.jobs.sweep_results import (LOSS_COUNTERS, established_rate, measured_rate, point_lagged,
                                             point_status)
from ostinato_tcp.report import result_to_dict
from ostinato_tcp.run.api import run_scenario
from ostinato_tcp.run.connect import Openers
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.result import RunEvents

FIGURES = ("establishment-rate",)
DEFAULT_TRIALS = 10
DEFAULT_FLOOR = 1000.0  # connections per second the search's second step asks
MAX_STEPS = 30
GENERATOR_RETRIES = 2  # a step that failed on the generator's side (a port lagged) runs again, at most this often


@dataclass
class BenchmarkEvents:
    """What a long benchmark reports as it goes (the CLI prints a line per step)."""

    def step_done(self, trial: int, trials: int, step_no: int, step: Step) -> None:
        pass

    def run_events(self) -> RunEvents:
        return RunEvents()


@dataclass
class BenchmarkReport(JobOutcome):
    scenario_name: str
    figure: str
    trials_asked: int
    connections: int
    floor: float
    resolution: float
    validation: bool
    top: float | None = None  # the search's first step; None: traffic.rate max (Drone's usable ceiling)
    searches: list[RateSearch] = field(default_factory=list)
    dut: dict = field(default_factory=dict)  # the DUT's settings as the first step read them
    ceiling: dict | None = None  # Drone's send ceiling as the first step measured it
    seconds: float = 0.0
    error: str | None = None
    exception: BaseException | None = None

    @property
    def passed(self) -> bool:
        """Every trial asked gave a figure."""
        return bool(self.searches) and len(self.searches) == self.trials_asked and \
            all(s.figure is not None for s in self.searches)

    def to_dict(self) -> dict:
        figures = [s.figure for s in self.searches]
        return {"scenario_name": self.scenario_name, "figure": self.figure, "verdict": self.word,
                "connections_per_step": self.connections, "trials_asked": self.trials_asked,
                "floor": self.floor, "top": self.top, "resolution": self.resolution, "validation": self.validation,
                "maximum_connection_establishment_rate": spread(figures),
                "trials_passed_at_the_top": sum(1 for x in self.searches if x.outcome == "passed at the top"),
                "trials": [dict(s.to_dict(), trial=i + 1) for i, s in enumerate(self.searches)],
                "dut": dict(self.dut), "ceiling": self.ceiling, "seconds": round(self.seconds, 2),
                "error": self.error,
                "definition": "per trial, the highest offered connection rate (SYNs sent / SYN-phase time, "
                              "measured) of a step that passed: every connection ESTABLISHED+ASSURED by the run"
                              + (" and carried both ways" if self.validation else "")
                              + ", the rate known within 5%, no port lagged, the DUT's drop, early_drop and "
                                "insert_failed +0"}


def judge_step(row: dict, *, validation: bool) -> tuple[bool, str, bool]:
    """(passed, why not, the generator's side) of one step's run result (a run's JSON; a run the
    plan refused or a fault never gets here: :func:`_run_step` raises them)."""
    reasons = "; ".join((row.get("outcome") or {}).get("reasons") or []) or row.get("error") or ""
    status = point_status(row)
    if status == "inconclusive":
        return False, f"inconclusive (the traffic, not the DUT): {reasons}", True
    if status == "fail":
        cats = {k: n for k, n in (row.get("categories") or {}).items() if n and k != "established_assured"}
        carried = (row.get("proof") or {}).get("traffic")
        why = ", ".join(f"{k} {n:,}" for k, n in cats.items()) or ("not carried" if carried is False else reasons)
        return False, f"fail: {why}", False
    lagged = [side.upper() for side, p in (row.get("ports") or {}).items() if (p or {}).get("lagged")]
    if point_lagged(row):
        return False, f"port {'/'.join(lagged)} lagged behind the asked rate", True
    if established_rate(row) is None:
        return False, "the offered connection rate was not measured within 5%", True
    deltas = ((row.get("dut") or {}).get("counter_deltas") or {})
    lost = {k: deltas[k] for k in LOSS_COUNTERS if deltas.get(k)}
    if lost:
        return False, "the DUT's counters: " + ", ".join(f"{k} +{n:,}" for k, n in lost.items()), False
    if validation and (row.get("proof") or {}).get("traffic") is not True:
        return False, "the traffic proof did not hold", False
    return True, "", False


def step_scenario(sc, rate, *, validation: bool):
    """A step's scenario: the rate asked (one above Drone's usable ceiling runs at the ceiling, and
    the step records the rate it ran at), the traffic proof added for the validation."""
    changes = {"traffic.rate": rate, "traffic.above_ceiling": "lower"}
    if validation and "traffic" not in sc.expect.proof:
        changes["expect.proof"] = [*sc.expect.proof, "traffic"]
    return sc.with_changes(changes)


def check_request(sc, figure: str, trials: int, floor: float, resolution: float, top: float | None = None) -> None:
    """Bad input, refused before anything is sent (the option and value named)."""
    if figure not in FIGURES:
        raise UsageError(f"--figure {figure}: one of {', '.join(FIGURES)}")
    if trials < 1:
        raise UsageError(f"--trials {trials}: must be at least 1")
    if not floor > 0:
        raise UsageError(f"--floor {floor:g}: must be above 0 connections per second")
    if top is not None and not top > floor:
        raise UsageError(f"--top {top:g}: must be above --floor {floor:g}")
    if not 0 < resolution < 1:
        raise UsageError(f"--resolution {resolution:g}: must be between 0 and 1 (0.01 is 1%)")
    if sc.pair_count > 1:
        raise UsageError(f"ports: the benchmark runs over one port pair (this scenario lists {sc.pair_count})")


def run_benchmark(sc, *, figure: str = "establishment-rate", trials: int = DEFAULT_TRIALS,
                  floor: float = DEFAULT_FLOOR, resolution: float = DEFAULT_RESOLUTION, validation: bool = True,
                  top: float | None = None,
                  opts: RunOptions | None = None, events: BenchmarkEvents | None = None,
                  openers: Openers | None = None) -> BenchmarkReport:
    check_request(sc, figure, trials, floor, resolution, top)
    opts, events, openers = opts or RunOptions(), events or BenchmarkEvents(), openers or Openers()
    report = BenchmarkReport(scenario_name=sc.name, figure=figure, trials_asked=trials,
                             connections=sc.connections.count, floor=floor, resolution=resolution,
                             validation=validation, top=top)
    t0 = time.monotonic()
    try:
        for k in range(trials):
            search = RateSearch(floor=floor, resolution=resolution, max_steps=MAX_STEPS)
            report.searches.append(search)
            ask: float | str | None = "max" if top is None else top
            while ask is not None:
                retried: list[str] = []
                while True:
                    row = _run_step(step_scenario(sc, ask, validation=validation), opts, events, openers)
                    if report.ceiling is None:
                        report.ceiling = (row.get("plan") or {}).get("ceiling")
                    if not report.dut:
                        report.dut = _dut_settings(row)
                    passed, why, generator = judge_step(row, validation=validation)
                    if passed or not generator or len(retried) >= GENERATOR_RETRIES:
                        break
                    got = measured_rate(row)
                    retried.append(f"measured {got:,.0f}/s: {why}" if got else why)
                asked = float((row.get("plan") or {}).get("rate") or (0.0 if ask == "max" else ask))
                step = Step(asked=asked, measured=measured_rate(row), passed=passed, why=why,
                            seconds=(row.get("timings") or {}).get("total", 0.0), generator=generator,
                            retried=tuple(retried))
                search.record(step)
                events.step_done(k + 1, trials, len(search.steps), step)
                ask = search.next_ask()
    except OstinatoTcpError as exc:
        report.error, report.exception = str(exc), exc
    finally:
        report.seconds = time.monotonic() - t0
    return report


def _run_step(sc, opts: RunOptions, events: BenchmarkEvents, openers: Openers) -> dict:
    """One step's run; a fault ends the benchmark (it is not a step that failed)."""
    result = run_scenario(sc, opts, events.run_events(), openers=openers)
    row = result_to_dict(result)
    if (row.get("entries_after_the_run") or {}).get("removed") is None:  # stopped before its clear
        clear_point(sc, opts, openers)
    if point_status(row) in ("error", "refused"):  # a refusal (exit 2) does not depend on the DUT's speed
        raise result.exception if isinstance(result.exception, OstinatoTcpError) else \
            OstinatoTcpError(f"a step at traffic.rate {sc.traffic.rate} stopped: {row.get('error')}")
    return row


def _dut_settings(row: dict) -> dict:
    """The DUT's settings a reader of the figures needs (RFC 9693 asks for them with the figures)."""
    plan, before = row.get("plan") or {}, ((row.get("dut") or {}).get("before") or {})
    table = plan.get("dut_table") or {}
    return {"kernel": (row.get("dut") or {}).get("kernel"), "conntrack_max": table.get("conntrack_max"),
            "buckets": table.get("buckets"), "timeouts": plan.get("dut_timeouts"),
            "tcp_loose": before.get("tcp_loose"), "tcp_be_liberal": before.get("tcp_be_liberal")}


__all__ = ["BenchmarkEvents", "BenchmarkReport", "FIGURES", "judge_step", "run_benchmark"]
