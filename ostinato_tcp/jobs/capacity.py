"""The capacity probe (``ostinato-tcp capacity``): more connections than the DUT's conntrack
table can take, on purpose, to measure how many it holds and what it does with the rest.

A normal run refuses a count above the table's free entries; the probe asks for one. It
runs the scenario as usual (the same plan, ports, verdict), keeps the entries, and reports:

* the connection tracking table capacity (RFC 9693's term): the connections that were
  ESTABLISHED+ASSURED at once at the verdict;
* what the DUT did with the rest, from its ``conntrack -S`` counters over the run:
  ``early_drop`` (a non-ASSURED entry evicted to make room for a new one), ``drop`` (a new
  connection's packet dropped: table full and nothing evictable), ``insert_failed``;
* whether ASSURED entries survived: the table is read again a moment later; the kernel's
  early drop takes only entries that are not ASSURED, so every connection
  ESTABLISHED+ASSURED at the verdict must still be so.

The test's entries are removed afterwards (unless kept), as after any run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ostinato_tcp.run.dut_phases import clear_after
from ostinato_tcp.errors import UsageError
from ostinato_tcp.run.connect import Openers
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.result import RunEvents, RunResult
from ostinato_tcp.run.runner import Runner

SURVIVOR_WAIT = 2.0  # seconds between the verdict and the survivors' recheck


@dataclass
class CapacityReport:
    result: RunResult
    survivors: int | None = None  # of the verdict's ESTABLISHED+ASSURED, still so at the recheck
    recheck_after: float = 0.0  # seconds from the end of the run to the start of the recheck's dump
    entries_after: str = ""

    @property
    def capacity(self) -> int:
        v = self.result.verdict
        return v.established_assured if v else 0

    @property
    def evicted_assured(self) -> int | None:
        return None if self.survivors is None else self.capacity - self.survivors

    @property
    def exit_code(self) -> int:
        if self.result.error:
            return self.result.exit_code
        return 0 if self.survivors is not None and self.evicted_assured == 0 else 1

    def to_dict(self) -> dict:
        r = self.result
        hb, ha, plan = r.health_before, r.health_after, r.plan
        d = r.counter_deltas
        return {"scenario_name": r.scenario.name, "connection_tracking_table_capacity": self.capacity,
                "attempted": r.scenario.connections.count,
                "conntrack_max": hb.max if hb else None,
                "entries_before": hb.count if hb else None,
                "free_before": plan.dut.free_entries if plan else None,
                "entries_at_the_verdict": ha.count if ha else None,
                "peak_count_polled": r.peak_count,
                "counter_deltas": {k: d.get(k, 0) for k in ("early_drop", "drop", "insert_failed", "invalid")},
                "survivors": self.survivors, "evicted_assured": self.evicted_assured,
                "recheck_after_seconds": round(self.recheck_after, 3), "states": r.verdict.states if r.verdict else {},
                "entries_after_the_run": self.entries_after, "error": r.error}

    def lines(self) -> list[str]:
        r = self.result
        if r.error:
            return [f"ERROR  capacity probe stopped: {r.error}"]
        hb, ha = r.health_before, r.health_after
        d = r.counter_deltas
        n = r.scenario.connections.count
        out = [f"capacity: {self.capacity:,} connections ESTABLISHED+ASSURED at once (connection tracking table "
               f"capacity) of {n:,} sent  ({r.scenario.name})",
               f"  table: nf_conntrack_max {hb.max:,}; {hb.count:,} entries before the run; "
               + (f"up to {r.peak_count:,} polled during the send (polls are samples); "
                  if r.peak_count is not None else "")
               + f"{ha.count:,} at the verdict" + ("; the table was full (drop > 0)" if d.get("drop", 0) > 0 else ""),
               f"  the rest: early_drop +{d.get('early_drop', 0):,} (non-ASSURED entries evicted for new ones), "
               f"drop +{d.get('drop', 0):,} (packets dropped: table full, nothing to evict), insert_failed "
               f"+{d.get('insert_failed', 0):,}"]
        states = ", ".join(f"{k} {v:,}" for k, v in r.verdict.states.items()) or "none"
        out.append(f"  states of the sent connections' entries: {states}; no entry: {r.verdict.counts['missing']:,}")
        if self.survivors is not None:
            word = "no ASSURED entry was evicted" if self.evicted_assured == 0 else \
                f"{self.evicted_assured:,} ASSURED entries were evicted"
            out.append(f"  survivors: {self.survivors:,}/{self.capacity:,} still ESTABLISHED+ASSURED "
                       f"{self.recheck_after:.1f} s later: {word}")
        out.append(f"  the test's entries: {self.entries_after}")
        return out


def probe_capacity(sc, opts: RunOptions | None = None, events: RunEvents | None = None, *,
                   openers: Openers | None = None) -> CapacityReport:
    """Run ``sc`` past the DUT's table on purpose and report what it holds (see module doc)."""
    opts, openers = opts or RunOptions(), openers or Openers()
    if sc.dut.kind == "none":
        raise UsageError("dut.kind: none: the capacity probe counts what the DUT's table holds, and dut.kind none "
                         "reads none")
    if sc.pair_count > 1:
        raise UsageError(f"ports: the capacity probe runs over one port pair (this scenario lists {sc.pair_count}); "
                         "the table's capacity does not depend on the ports")
    # a count that fits in the table is refused by the plan (UsageError in the result), before any packet
    result = Runner(sc, replace(opts, keep_entries=True), events, openers=openers, overfill=True).run()
    report = CapacityReport(result=result)
    if result.error or result.verdict is None:
        return report
    warnings = result.warnings
    ended = time.monotonic()
    with openers.open_dut(sc, opts) as dut:
        time.sleep(max(0.0, SURVIVOR_WAIT - (time.monotonic() - ended)))
        report.recheck_after = time.monotonic() - ended
        verdict, _ = dut.verify(result.expected, fresh=result.freshness)
        report.survivors = min(verdict.established_assured, report.capacity)
        _, report.entries_after, _ = clear_after(dut, sc, keep=opts.keep_entries, warnings=warnings)
    return report
