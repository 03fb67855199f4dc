"""A run over several port pairs: the connection space sharded, one Runner per pair, side by side.

``ports:`` as a list gives each pair its own client and server addresses, so the pairs'
tuples are disjoint (:meth:`~ostinato_tcp.scenario.Scenario.pair_scenarios` shares the
connections out). Each pair is a whole run of its own (:class:`~ostinato_tcp.run.Runner`
in a thread, with its own Drone connections and DUT session): it plans, claims, builds
(pairs on different Drones build at the same time), proves its space fresh, sends,
verifies and cleans up. Every SYN -> SYN-ACK -> ACK order holds on its own pair, as in a
one-pair run. The pairs wait for each other before their first transmit, so they send
together.

The combined result holds each pair's result (``result.pairs``), the verdict over the
whole space (pair ``i``'s connection ``n`` is connection ``offset_i + n``), every port
(``a1``, ``b1``, ``a2``, ...) and the aggregate connection rate: all connections over the
union of the pairs' send windows (the first start of any pair to the last end of any
pair, on this host's clock, builds between batches included).

A fault in one pair stops the others (each stops its own ports and cleans up), and so
does SIGINT/SIGTERM: signals reach the main thread only, which sets every pair's
cancellation (:func:`ostinato_tcp.ground.signals.checkpoint`).
"""

from __future__ import annotations

import threading

from ostinato_tcp.ground import signals as _signals
from ostinato_tcp.domain.verdict import Verdict
from ostinato_tcp.errors import Interrupted, RunFault
from ostinato_tcp.ground.measure import Interval, Rate
from ostinato_tcp.run.connect import Openers
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.events import RunEvents
from ostinato_tcp.run.result import RunResult
from ostinato_tcp.run.runner import Runner
from ostinato_tcp.scenario import Scenario

GATE_TIMEOUT = 3600.0  # a pair waits this long at most for the others to be ready to send


class _PairEvents(RunEvents):
    """One pair's events into the run's: phases named by pair, progress summed over pairs."""

    def __init__(self, parent: RunEvents, index: int, shared: dict, lock: threading.Lock):
        self.parent, self.index, self.shared, self.lock = parent, index, shared, lock

    def phase(self, name: str, detail: str = "") -> None:
        with self.lock:
            self.parent.phase(name, f"pair {self.index + 1}: {detail}" if detail else f"pair {self.index + 1}")

    def planned(self, plan) -> None:
        with self.lock:
            self.shared.setdefault("planned", {})[self.index] = plan

    def progress(self, sent_a, sent_b, expected_a, expected_b, ct_count) -> None:
        with self.lock:
            self.shared.setdefault("progress", {})[self.index] = (sent_a, sent_b, expected_a, expected_b)
            rows = self.shared["progress"].values()
            self.parent.progress(*(sum(r[i] for r in rows) for i in range(4)), ct_count)

    def finished(self, sent_a, sent_b, expected_a, expected_b) -> None:
        with self.lock:
            self.shared.setdefault("finished", {})[self.index] = (sent_a, sent_b, expected_a, expected_b)
            if len(self.shared["finished"]) == self.shared["pairs"]:
                rows = self.shared["finished"].values()
                self.parent.finished(*(sum(r[i] for r in rows) for i in range(4)))

    def holding(self, elapsed, total, keepalive_rounds) -> None:
        if self.index == 0:
            with self.lock:
                self.parent.holding(elapsed, total, keepalive_rounds)


def run_pairs(sc: Scenario, opts: RunOptions | None = None, events: RunEvents | None = None, *,
              openers: Openers | None = None, drone_opener=None, dut_opener=None) -> RunResult:
    """Run every port pair of ``sc`` side by side and combine their results."""
    opts, events = opts or RunOptions(), events or RunEvents()
    subs = sc.pair_scenarios()
    cancel = threading.Event()
    gate = threading.Barrier(len(subs))
    lock, shared = threading.Lock(), {"pairs": len(subs)}

    def wait_for_all() -> None:
        try:
            gate.wait(timeout=GATE_TIMEOUT)
        except threading.BrokenBarrierError:
            raise getattr(cancel, "error", None) or RunFault("another port pair stopped before sending") from None

    total = sc.connections.count
    # each pair's plan counts the entries the other pairs will add: together they must fit the table
    openers = openers or Openers(drone=drone_opener, dut=dut_opener)
    runners = [Runner(s, opts, _PairEvents(events, i, shared, lock), openers=openers, start_gate=wait_for_all,
                      reserved=total - s.connections.count)
               for i, s in enumerate(subs)]
    results: list[RunResult | None] = [None] * len(runners)
    crashes: list[BaseException | None] = [None] * len(runners)

    def work(i: int) -> None:
        _signals.cancel_on(cancel)
        try:
            results[i] = runners[i].run()
        except Interrupted as exc:
            results[i] = exc.result if exc.result is not None else runners[i].result
        except BaseException as exc:  # a bug in one pair: the others stop, the run reports it
            crashes[i] = exc
            results[i] = runners[i].result
        finally:
            r = results[i]
            if (r is not None and r.error) or crashes[i] is not None:
                _stop_others(cancel, gate, RunFault(f"port pair {i + 1} stopped: "
                                                    f"{r.error if r and r.error else crashes[i]}"), origin=i)

    threads = [threading.Thread(target=work, args=(i,), name=f"pair-{i + 1}", daemon=True)
               for i in range(len(runners))]
    interrupted: Interrupted | None = None
    with _signals.stop_on_signals():
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                try:
                    t.join(0.2)
                except Interrupted as exc:  # every pair stops and cleans up; then it is raised
                    interrupted = interrupted or exc
                    _stop_others(cancel, gate, exc)
    for crash in crashes:
        if crash is not None:
            raise crash
    combined = combine(sc, [r if r is not None else RunResult(scenario=s) for r, s in zip(results, subs)],
                       origin=getattr(cancel, "origin", None))
    if interrupted is not None:
        combined.error = combined.error or f"stopped by {interrupted}"
        combined.exception = interrupted
        interrupted.result = combined
        raise interrupted
    return combined


def _stop_others(cancel: threading.Event, gate: threading.Barrier, error: BaseException,
                 origin: int | None = None) -> None:
    if not cancel.is_set():
        cancel.error = error  # type: ignore[attr-defined]
        cancel.origin = origin  # type: ignore[attr-defined]  # the pair whose fault stopped the run
        cancel.set()
    gate.abort()


def merge_verdicts(verdicts: list[Verdict]) -> Verdict:
    """One verdict over the pairs' spaces laid end to end."""
    def add(dicts):
        out: dict = {}
        for d in dicts:
            for k, v in d.items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    first = verdicts[0]
    return Verdict(expected=sum(v.expected for v in verdicts), codes=bytearray().join(v.codes for v in verdicts),
                   states=add(v.states for v in verdicts), unexpected=sum(v.unexpected for v in verdicts),
                   unexpected_samples=[s for v in verdicts for s in v.unexpected_samples][:10],
                   duplicates=sum(v.duplicates for v in verdicts),
                   mismatch_samples=[s for v in verdicts for s in v.mismatch_samples][:10],
                   other_states=add(v.other_states for v in verdicts), parse=first.parse,
                   reply_dsts=add(v.reply_dsts for v in verdicts),
                   reply_samples=[s for v in verdicts for s in v.reply_samples][:3],
                   max_age=max((v.max_age for v in verdicts if v.max_age is not None), default=None),
                   untimed=sum(v.untimed for v in verdicts))


def aggregate_rate(results: list[RunResult]) -> Rate | None:
    """All connections over the union of the pairs' send windows (None until every pair sent)."""
    windows = [r.send_window for r in results]
    if not windows or any(w is None for w in windows):
        return None
    first = min(windows, key=lambda w: w.start_lo)
    last = max(windows, key=lambda w: w.end_hi)
    span = Interval(first.start_lo, first.start_hi, last.end_lo, last.end_hi)
    return Rate(sum(r.scenario.connections.count for r in results), span.seconds, span.bound)


def combine(sc: Scenario, results: list[RunResult], origin: int | None = None) -> RunResult:
    """The run's result from its pairs' results; ``origin``: the pair whose fault stopped the
    others (its error is the run's)."""
    out = RunResult(scenario=sc, started_at=min(r.started_at for r in results))
    out.pairs = results
    if origin is not None and results[origin].error:
        out.error, out.exception = f"pair {origin + 1}: {results[origin].error}", results[origin].exception
    for i, r in enumerate(results):
        if r.error and out.error is None:
            out.error, out.exception = f"pair {i + 1}: {r.error}", r.exception
        for side, rep in r.ports.items():
            out.traffic.ports[f"{side}{i + 1}"] = rep
        out.diagnosis += [f"pair {i + 1}: {d}" for d in r.diagnosis]
        out.warnings += [f"pair {i + 1}: {w}" for w in r.warnings]
        out.build_checks += r.build_checks
        out.gateway_changes += [f"pair {i + 1}: {g}" for g in r.gateway_changes]
        out.drone_versions.update(r.drone_versions)
        for k, v in r.timings.items():  # the pairs ran side by side: the longest of each
            out.timings[k] = max(out.timings.get(k, 0.0), v)
    if all(r.verdict is not None for r in results):
        out.verdict = merge_verdicts([r.verdict for r in results])
    out.health_before, out.health_after = results[0].health_before, results[0].health_after
    fresh = [r.freshness for r in results if r.freshness]
    if fresh:
        out.freshness = dict(fresh[0], proof=f"{fresh[0]['proof']} (each of the {len(results)} pairs)")
    removed = [r.entries_removed for r in results]
    out.entries_removed = sum(removed) if all(n is not None for n in removed) else None
    out.entries_after = "; ".join(f"pair {i + 1}: {r.entries_after}" for i, r in enumerate(results) if r.entries_after)
    peaks = [r.peak_count for r in results if r.peak_count is not None]
    out.peak_count = max(peaks) if peaks else None
    out.traffic.timed_by_capture = all(r.timed_by_capture for r in results)
    out.aggregate_rate = aggregate_rate(results)
    return out


__all__ = ["aggregate_rate", "combine", "merge_verdicts", "run_pairs"]
