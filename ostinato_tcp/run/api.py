"""``run_scenario``: one scenario, over one port pair (:class:`~ostinato_tcp.run.runner.Runner`) or
several side by side (:func:`~ostinato_tcp.run.pairs.run_pairs`)."""

from __future__ import annotations

from ostinato_tcp.run.connect import Openers
from ostinato_tcp.run.events import RunEvents
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.pairs import run_pairs
from ostinato_tcp.run.result import RunResult
from ostinato_tcp.run.runner import Runner
from ostinato_tcp.scenario import Scenario


def run_scenario(sc: Scenario, opts: RunOptions | None = None, events: RunEvents | None = None, *,
                 openers: Openers | None = None) -> RunResult:
    """Run one scenario; a fault is in the result (``result.error``), a signal is raised after
    the clean-up. A scenario over several port pairs runs them side by side. ``openers``: how
    Drones and the DUT are reached (tests put fakes in)."""
    if sc.pair_count > 1:
        return run_pairs(sc, opts, events, openers=openers)
    return Runner(sc, opts, events, openers=openers).run()


__all__ = ["run_scenario"]
