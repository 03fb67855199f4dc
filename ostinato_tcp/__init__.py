"""ostinato-tcp: prove how many TCP connections a Linux conntrack/NAT box tracks.

The library behind the ``ostinato-tcp`` command (docs/api.md)::

    from ostinato_tcp import load_scenario, run_scenario, shipped_scenario
    sc = load_scenario(shipped_scenario("lab-1000.yaml"))   # or a path of your own
    result = run_scenario(sc.with_changes({"connections.count": 500}))
    result.outcome                # "pass", "fail", "inconclusive" or "error"
    result.raise_for_error()      # raise the fault that stopped the run, if any

A fault never escapes ``run_scenario``: it is in ``result.error`` / ``result.exception``.
SIGINT and SIGTERM stop a run cleanly (transmit stopped, what it created on Drone
removed, port settings restored) and are raised as :class:`Interrupted`.
"""

from ostinato_tcp.ground.version import __version__  # noqa: F401  (the package version)

from ostinato_tcp.ground.signals import stop_on_signals
from ostinato_tcp.jobs.capacity import CapacityReport, probe_capacity
from ostinato_tcp.domain.verdict import Expected, Verdict
from ostinato_tcp.errors import (CapacityError, DroneError, DutError, InfrastructureError, Interrupted, LabError,
                     OstinatoTcpError, PlanError, ScenarioError, UsageError)
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.domain.plan import Plan, make_plan
from ostinato_tcp.report import result_to_dict
from ostinato_tcp.run.result import RunEvents, RunResult
from ostinato_tcp.run.api import run_scenario
from ostinato_tcp.scenario import Scenario, scenario_from_data, shipped_scenario
from ostinato_tcp.jobs.verify import VerifyOutcome, verify_dump_file, verify_live


def load_scenario(path, *, lab: str | None = None, lab_file=None, sets: list[str] | None = None) -> Scenario:
    """Read and validate a scenario file. ``lab`` (or the file's ``lab:``) takes Drone and DUT
    endpoints from that running built-in lab; ``lab_file`` (or ``lab_file:``) is a lab file the
    scenario is a test profile for; ``sets`` are ``dotted.key=value`` changes."""
    from ostinato_tcp.lab import read_endpoints
    from ostinato_tcp.scenario import load_scenario as _load

    return _load(path, lab=lab, lab_reader=read_endpoints, lab_file=lab_file, sets=sets)


__all__ = ["CapacityError", "CapacityReport", "DroneError", "DutError", "Expected", "InfrastructureError", "Interrupted", "LabError",
           "OstinatoTcpError", "Plan", "PlanError", "RunEvents", "RunOptions", "RunResult", "Scenario",
           "ScenarioError", "UsageError", "Verdict", "VerifyOutcome", "load_scenario", "make_plan",
           "probe_capacity", "result_to_dict", "run_scenario", "scenario_from_data", "shipped_scenario", "stop_on_signals", "verify_dump_file",
           "verify_live"]
