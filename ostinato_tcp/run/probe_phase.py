"""The run's probe phase around :func:`~ostinato_tcp.run.probe.probe_drones`: whether an earlier
run's probe of the same ports stands in for this run's, the probe with the run's options, and
the plan made again with what was measured."""

from __future__ import annotations

from ostinato_tcp.domain.ceiling import CEILING_USE
from ostinato_tcp.domain.plan import Plan, make_plan
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.probe import LONG_PROBE_BELOW, DroneProbe, probe_drones
from ostinato_tcp.run.probe_cache import REMEMBERED_SHARE, BuildCheckCache, ProbeMemory
from ostinato_tcp.scenario import Scenario


def _fresh_only(opts: RunOptions) -> bool:
    return bool(opts.recheck_build or opts.fault_fast_build)


def probe_stands_in(ports, sc: Scenario, opts: RunOptions) -> bool:
    """Whether an earlier run's probe of these ports will stand in for this run's (no probe
    sent): one remembered within the hour, and a rate asked at most REMEMBERED_SHARE of its
    usable ceiling."""
    asked = sc.traffic.rate
    if _fresh_only(opts) or asked == "max":
        return False
    entry = ProbeMemory().recall(ports, sc)
    try:
        rates = [int(r["count"]) / float(r["seconds"]) for r in entry["ceiling"].values()] if entry else []
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return False
    return bool(rates) and float(asked) <= REMEMBERED_SHARE * CEILING_USE * min(rates)


def measure_drone(sc: Scenario, ports, opts: RunOptions, free_entries: int | None) -> DroneProbe:
    """Drone's build cost, the fast build's frames and each port's send ceiling, for a run."""
    asked = sc.traffic.rate
    fresh = _fresh_only(opts)
    return probe_drones(sc, ports, fault_checksum_bias=opts.fault_fast_build,
                        rate_needs_precision=lambda c: asked == "max" or float(asked) >= LONG_PROBE_BELOW * c.value,
                        cache=None if fresh else BuildCheckCache(), memory=None if fresh else ProbeMemory(),
                        free_entries=free_entries)


def replan(sc: Scenario, facts, opts: RunOptions, probe: DroneProbe, *, overfill: bool) -> Plan:
    """The plan again, with the measured build and ceiling: batches and phase gaps depend on the
    build, the rate on the ceiling (a rate above it is refused here, before the DUT is touched)."""
    return make_plan(sc, facts, force=opts.force, measured_build=probe.per_packet, fast=probe.fast,
                     overfill=overfill, ceiling=probe.ceiling)
