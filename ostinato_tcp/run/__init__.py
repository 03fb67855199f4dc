"""A run: its phases, their results, and the outcome (see :mod:`.runner` for the sequence)."""

from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.result import RunEvents, RunResult
from ostinato_tcp.run.api import run_scenario
from ostinato_tcp.run.runner import Runner

__all__ = ["RunEvents", "RunOptions", "RunResult", "Runner", "run_scenario"]
