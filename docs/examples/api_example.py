"""Run a test profile against a lab file from Python: python api_example.py LAB_FILE."""

import sys
from pathlib import Path

from ostinato_tcp import RunOptions, load_scenario, result_to_dict, run_scenario

lab_file = sys.argv[1]
profile = Path(__file__).with_name("profile-2000.yaml")

scenario = load_scenario(profile, lab_file=lab_file)
scenario = scenario.with_changes({"connections.count": 1500})  # validated like the file
result = run_scenario(scenario, RunOptions(poll_interval=0))

print(result.outcome, result.verdict.established_assured if result.verdict else 0, "of",
      scenario.connections.count)
if result.error:  # a fault is in the result; raise it if you prefer: result.raise_for_error()
    print("error:", result.error)
else:
    print("offered connection rate:", result.offered_connection_rate.text())
    print("end-to-end rate:", result.end_to_end_rate.text())
    print("report keys:", ", ".join(sorted(result_to_dict(result))[:5]), "...")
sys.exit(result.exit_code)
