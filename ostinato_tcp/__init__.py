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
from .run import RunEvents, RunOptions, RunResult, run_scenario
from .scenario import Scenario, load_scenario
from .verify import verify_dump_file, verify_live

__all__ = ["CapacityError", "DroneError", "DutError", "Expected", "InfrastructureError", "LabError",
           "OstinatoTcpError", "Plan", "PlanError", "RunEvents", "RunOptions", "RunResult", "Scenario",
           "ScenarioError", "UsageError", "Verdict", "load_scenario", "make_plan", "run_scenario",
           "verify_dump_file", "verify_live"]
