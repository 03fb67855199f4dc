"""Scale sweeps: a base scenario run over a grid of any of its fields (connection counts x
packet rates by default), with an optional search for the highest passing value.

Sweep file::

    name: lab-sweep
    base: lab-1000.yaml            # relative to the sweep file; a test profile brings its lab_file
    counts: [1000, 10000]          # shorthand for vary: {connections.count: [...]}
    rates: [1000, 10000, 50000]    # shorthand for vary: {traffic.rate: [...]}
    delays: [auto]                 # shorthand for vary: {traffic.delay: [...]} (optional)
    vary: {connections.client_ips: [1, 4]}   # any field, crossed with the rest (optional)
    search: {field: traffic.rate, max_steps: 4, precision: 0.05}   # optional bisection

Every point runs, is verified, and its entries are cleared on the DUT before the
next. Points are saved one file each under ``OUT/points/``, so an interrupted
sweep resumes where it stopped. Results: ``results.csv``, ``results.json``,
``junit.xml`` and PNG plots.

Terms of RFC 9693 (benchmarking stateful NAT gateways) in the results, from
measured rates only (docs/figures.md): "maximum connection establishment rate" is
the highest measured offered connection rate among the points of a count where
every connection was ESTABLISHED+ASSURED (a point whose port lagged counts at the rate
it measured: "lagged" only says the asked rate was not the one tested); a point that
failed bounds it from above at its measured rate; an inconclusive point (the traffic
broke the order) or one the plan refused (a rate above Drone's ceiling) never does.
"Connection tracking table capacity" is the largest count fully established, shown
beside the DUT's nf_conntrack_max. A search on ``traffic.rate`` steers on measured
rates: to test an offered rate it asks what made Drone offer the nearest rate so far.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ostinato_tcp.ground.signals import stop_on_signals
from ostinato_tcp.errors import OstinatoTcpError, ScenarioError, UsageError
from ostinato_tcp.run.connect import Openers
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.report import result_to_dict, write_json
from ostinato_tcp.run.result import RunEvents
from ostinato_tcp.jobs.sweep_results import measured_rate, point_status, summarize, write_outputs
from ostinato_tcp.run.api import run_scenario
from ostinato_tcp.domain.search import midpoint, narrow_enough, steer
from ostinato_tcp.domain.tuples import Servers
from ostinato_tcp.scenario import LabReader, read_scenario_data, read_yaml_file, scenario_from_data, with_changes
from ostinato_tcp.scenario._base import NumberFloat, NumberInt
from ostinato_tcp.scenario._load import validation_error

SHORTHANDS = {"counts": "connections.count", "rates": "traffic.rate", "delays": "traffic.delay"}
SHORT_NAMES = {"connections.count": "n", "traffic.rate": "r", "traffic.delay": "d"}


class SearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str = Field("traffic.rate", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
    max_steps: NumberInt = Field(4, ge=1, le=20)
    precision: NumberFloat = Field(0.05, gt=0, le=1)


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,63}$")
    base: str
    counts: list[NumberInt] = Field(default_factory=list)  # YAML's yes is not a count of 1
    rates: list[NumberFloat] = Field(default_factory=list)
    delays: list[Any] = Field(default_factory=list)
    vary: dict[str, list[Any]] = Field(default_factory=dict)
    search: Optional[SearchSpec] = None

    def grid(self) -> dict[str, list[Any]]:
        """Field -> values, the shorthands first (in the order counts, rates, delays)."""
        out = {SHORTHANDS[k]: getattr(self, k) for k in SHORTHANDS if getattr(self, k)}
        out.update(self.vary)
        return out


@dataclass
class Point:
    values: dict[str, Any]  # field -> value of this point
    search: bool = False

    @property
    def count(self) -> int | None:
        return self.values.get("connections.count")

    @property
    def rate(self) -> float | None:
        return self.values.get("traffic.rate")

    @property
    def delay(self):
        return self.values.get("traffic.delay", "auto")

    @property
    def name(self) -> str:
        parts = []
        for key, value in self.values.items():
            if key == "traffic.delay" and value == "auto":
                continue
            short = SHORT_NAMES.get(key) or re.sub(r"[^A-Za-z0-9]+", "_", key.split(".")[-1])
            parts.append(f"{short}{value:g}" if isinstance(value, float) else f"{short}{value}")
        return "-".join(parts) or "base"


@dataclass
class Sweep:
    spec: SweepSpec
    base_data: dict
    base_source: str
    lab: str | None = None
    lab_reader: LabReader | None = None
    points: list[Point] = field(default_factory=list)
    base_lines: dict = field(default_factory=dict)  # where each base value came from (file line, --set)


def load_sweep(path: str | Path, *, lab: str | None = None, lab_reader: LabReader | None = None,
               sets: list[str] | None = None) -> Sweep:
    """Read a sweep file; every grid point must make a valid scenario before anything runs.
    ``sets``: ``dotted.key=value`` changes to the base scenario."""
    path = Path(path)
    source = str(path)
    data, lines, _ = read_yaml_file(path)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, lines, source, model=SweepSpec) from None
    for key in (*SHORTHANDS, *(("vary", k) for k in spec.vary)):
        loc = key if isinstance(key, tuple) else (key,)
        if loc in lines and isinstance(data, dict) and not (spec.vary.get(loc[1]) if len(loc) == 2 else data[key]):
            fld = ".".join(loc)
            raise ScenarioError(f"{fld}: List should have at least 1 item (got [])", file=source, line=lines[loc],
                                field=fld)
    if not spec.grid():
        raise ScenarioError("nothing to sweep: give counts, rates, delays or vary", file=source, line=1)
    for key in ("counts", "rates"):
        if any(v <= 0 for v in getattr(spec, key)):
            raise ScenarioError(f"{key}: every value must be > 0", file=source, line=lines.get((key,)), field=key)
    base_path = (path.parent / spec.base).resolve()
    if not base_path.is_file():
        raise ScenarioError(f"base: no scenario file {base_path}", file=source, line=lines.get(("base",)),
                            field="base")
    # a test profile brings its lab file (lab_file:, relative to the profile) like a run does
    base_data, base_lines, _ = read_scenario_data(base_path, sets=list(sets or []))
    # a value the sweep varies is the sweep file's: an error in it names that file and line
    for short, key in SHORTHANDS.items():
        if (short,) in lines:
            base_lines[tuple(key.split("."))] = (source, lines[(short,)])
    for key in spec.vary:
        if ("vary", key) in lines:
            base_lines[tuple(key.split("."))] = (source, lines[("vary", key)])
    sweep = Sweep(spec, base_data, str(base_path), lab=lab, lab_reader=lab_reader, base_lines=base_lines)
    grid = spec.grid()
    for combo in itertools.product(*grid.values()):
        sweep.points.append(Point(dict(zip(grid, combo))))
    for p in sweep.points:
        if scenario_for(sweep, p).dut.kind == "none":
            raise UsageError(f"dut.kind: none (in {base_path.name}): a sweep's figures (success ratio, the knee) are "
                             "counted from the DUT's table, and dut.kind none reads none")
    return sweep


def scenario_for(sweep: Sweep, p: Point):
    data = with_changes(sweep.base_data, {"name": f"{sweep.spec.name}-{p.name}", **p.values})
    return scenario_from_data(data, source=f"{sweep.base_source} ({p.name})", lines=sweep.base_lines, lab=sweep.lab,
                              lab_reader=sweep.lab_reader)


class SweepEvents:
    """Hooks of a sweep; the CLI draws a progress bar over points."""

    def point_started(self, index: int, total: int, point: Point, resumed: bool) -> None:
        pass

    def point_done(self, index: int, total: int, point: Point, row: dict) -> None:
        pass

    def run_events(self) -> RunEvents:
        return RunEvents()


def _row(point: Point, d: dict, sc) -> dict:
    d = dict(d)
    d.update(point_name=point.name, count=sc.connections.count, rate=sc.traffic.rate, delay=sc.traffic.delay,
             search=point.search, varied=dict(point.values))
    d.setdefault("expected", sc.connections.count)
    d.setdefault("established_assured", 0)
    return d


def run_sweep(sweep: Sweep, out_dir: str | Path, *, opts: RunOptions | None = None,
              events: SweepEvents | None = None, restart: bool = False, history=None,
              openers: Openers | None = None) -> dict:
    """Run every point (and the search); SIGINT/SIGTERM stop the sweep after cleaning up the point."""
    with stop_on_signals():
        return _run_sweep(sweep, out_dir, opts=opts, events=events, restart=restart, history=history,
                          openers=openers or Openers())


def _run_sweep(sweep: Sweep, out_dir: str | Path, *, opts: RunOptions | None, events: SweepEvents | None,
               restart: bool, history, openers: Openers) -> dict:
    out = Path(out_dir)
    points_dir = out / "points"
    points_dir.mkdir(parents=True, exist_ok=True)
    events = events or SweepEvents()
    opts = opts or RunOptions()
    rows: dict[str, dict] = {}
    todo = list(sweep.points)

    stale: list[str] = []

    def run_point(i: int, total: int, p: Point) -> dict:
        path = points_dir / f"{p.name}.json"
        sc = scenario_for(sweep, p)
        fingerprint = point_fingerprint(sc)
        if path.exists() and not restart:
            row = json.loads(path.read_text())
            if row.get("point_fingerprint") == fingerprint:
                events.point_started(i, total, p, True)
                events.point_done(i, total, p, row)
                return row
            stale.append(p.name)  # the base scenario, a --set or the tool changed since it ran: run it again
        events.point_started(i, total, p, False)
        result = run_scenario(sc, opts, events.run_events(), openers=openers)
        data = result_to_dict(result)
        row = _row(p, data, sc)
        row["point_fingerprint"] = fingerprint
        if history is not None:
            history.record(data, origin=f"sweep:{sweep.spec.name}")
        if (data.get("entries_after_the_run") or {}).get("removed") is None:  # kept, or stopped before its clear
            clear_point(sc, opts, openers)
        write_json(row, path)
        events.point_done(i, total, p, row)
        return row

    for i, p in enumerate(todo):
        rows[p.name] = run_point(i, len(todo), p)
    if sweep.spec.search:
        _search(sweep, rows, run_point)
    results = list(rows.values())
    summary = summarize(results, sweep)
    summary["notes"] = write_outputs(out, results, summary, sweep.spec.name)
    if stale:
        summary["notes"].insert(0, f"{len(stale)} point(s) in {points_dir} ran with another scenario than this one "
                                   f"(the base, a --set or the tool changed) and were run again: {', '.join(stale)}")
    return summary


def point_fingerprint(sc) -> str:
    """What a point's result depends on: every value of its scenario (defaults filled in) and the
    tool's version; a saved point with another fingerprint is not reused."""
    import hashlib

    from ostinato_tcp.ground.version import __version__

    text = json.dumps({"scenario": sc.resolved(), "tool": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def clear_point(sc, opts: RunOptions, openers: Openers) -> None:
    """Remove the point's entries before the next point (a shared DUT keeps everything else)."""
    try:
        with openers.open_dut(sc, opts) as dut:
            dut.clear(Servers.of(sc.connections), "test")
    except OstinatoTcpError:
        pass  # the next point clears again before it sends; its own errors will say why


def _search(sweep: Sweep, rows: dict, run_point) -> list[Point]:
    """Bisect (geometrically) the search field between its highest passing and lowest failing
    value, for each combination of the other varied fields; ``traffic.rate`` by the rates the
    points measured (:func:`_search_rate`)."""
    spec = sweep.spec.search
    key = spec.field
    added = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows.values():
        if key in r.get("varied", {}) and not r.get("search"):
            others = tuple(sorted((k, str(v)) for k, v in r["varied"].items() if k != key))
            groups.setdefault(others, []).append(r)
    for others, grid in groups.items():
        if key == "traffic.rate":
            added += _search_rate(spec, grid, rows, run_point)
            continue
        passing = [r["varied"][key] for r in grid if point_status(r) == "pass"]
        failing = [r["varied"][key] for r in grid if point_status(r) == "fail"]
        if not passing or not failing:
            continue
        lo = max(passing)
        above = [f for f in failing if f > lo]
        if not above:
            continue
        hi = min(above)
        base = next(r["varied"] for r in grid)
        for _ in range(spec.max_steps):
            if narrow_enough(lo, hi, spec.precision):
                break
            mid = midpoint(lo, hi)
            mid = round(mid) if all(isinstance(v, int) for v in (lo, hi)) else mid
            p = Point({**base, key: mid}, search=True)
            row = run_point(len(rows), len(rows) + 1, p)
            rows[p.name] = row
            added.append(p)
            if point_status(row) == "pass":
                lo = mid
            elif point_status(row) == "fail":
                hi = mid
            else:
                break
    return added


def _search_rate(spec, grid: list[dict], rows: dict, run_point) -> list[Point]:
    """Bisect the offered connection rate the points measured, between the highest that passed
    and the lowest that failed above it; each step asks the rate that made Drone offer the
    target, from the asked/offered ratio of the point that measured nearest it (the benchmark's
    search steers and bisects the same way: :mod:`ostinato_tcp.domain.search`)."""
    seen = [r for r in grid if measured_rate(r) and point_status(r) in ("pass", "fail")]
    passing = [measured_rate(r) for r in seen if point_status(r) == "pass"]
    if not passing:
        return []
    lo = max(passing)
    above = [measured_rate(r) for r in seen if point_status(r) == "fail" and measured_rate(r) > lo]
    if not above:
        return []
    hi = min(above)
    base = next(r["varied"] for r in grid)
    added = []
    for _ in range(spec.max_steps):
        if narrow_enough(lo, hi, spec.precision):
            break
        ask = steer(midpoint(lo, hi), [(float(r["rate"]), measured_rate(r)) for r in seen
                                       if isinstance(r["rate"], (int, float))])  # not a point asked 'max'
        p = Point({**base, "traffic.rate": ask}, search=True)
        if p.name in rows:  # asked before: Drone cannot be steered closer
            break
        row = run_point(len(rows), len(rows) + 1, p)
        rows[p.name] = row
        added.append(p)
        got, status = measured_rate(row), point_status(row)
        if got is None or status not in ("pass", "fail"):
            break  # inconclusive, refused or an error: nothing to steer on
        seen.append(row)
        if status == "pass":
            lo = max(lo, got)
        else:
            hi = min(hi, got)
        if lo >= hi:  # a pass measured above a failure: the DUT's edge is not sharp at this precision
            break
    return added


__all__ = ["Point", "Sweep", "SweepEvents", "load_sweep", "run_sweep", "summarize"]
