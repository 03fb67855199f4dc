"""ostinato-tcp: prove how many TCP connections a Linux conntrack/NAT box tracks.

The library behind the ``ostinato-tcp`` command::

    from ostinato_tcp import load_scenario, make_plan, run_scenario
    sc = load_scenario("scenarios/lab-1000.yaml")
    result = run_scenario(sc)
    result.passed, result.verdict.counts
"""

__version__ = "0.1.0"

from .dut.verdict import Expected, Verdict
from .errors import (CapacityError, DroneError, DutError, InfrastructureError, LabError, OstinatoTcpError, PlanError,
                     ScenarioError, UsageError)
from .plan import Plan, make_plan
from .options import RunOptions
from .result import RunEvents, RunResult
from .run import run_scenario
from .scenario import Scenario
from .verify import verify_dump_file, verify_live



def load_scenario(path, *, lab: str | None = None) -> Scenario:
    """Read and validate a scenario file; ``lab`` (or the file's ``lab:``) takes Drone and DUT
    endpoints from that running built-in lab."""
    from .lab import read_endpoints
    from .scenario import load_scenario as _load

    return _load(path, lab=lab, lab_reader=read_endpoints)


__all__ = ["CapacityError", "DroneError", "DutError", "Expected", "InfrastructureError", "LabError",
           "OstinatoTcpError", "Plan", "PlanError", "RunEvents", "RunOptions", "RunResult", "Scenario",
           "ScenarioError", "UsageError", "Verdict", "load_scenario", "make_plan", "run_scenario",
           "verify_dump_file", "verify_live"]
