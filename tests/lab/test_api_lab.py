"""The library as a lab's code uses it, against the built-in lab's lab file: the docs example,
the pytest plugin's example suite, and Ctrl-C in a Python process that runs run_scenario."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from .conftest import ROOT, port_view
from .test_faults_lab import wait_until

EXAMPLES = ROOT / "docs" / "examples"


def test_the_api_example_runs(lab):
    p = subprocess.run([sys.executable, str(EXAMPLES / "api_example.py"), lab.lab_file], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith("pass 1500 of 1500") and "offered connection rate:" in p.stdout


def test_the_plugin_example_suite_runs_with_junit_properties(lab, tmp_path):
    junit = tmp_path / "junit.xml"
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES),
                        "--ostinato-tcp-lab", lab.lab_file, f"--junitxml={junit}", "-o", "junit_family=xunit1",
                        "--rootdir", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 passed" in p.stdout
    cases = {c.get("name"): {pr.get("name"): pr.get("value") for pr in c.iter("property")}
             for c in ET.parse(junit).getroot().iter("testcase")}
    props = cases["test_the_dut_tracks_2000_connections"]
    assert props["outcome"] == "pass" and props["established_assured"] == "2000"
    assert float(props["offered_connection_rate"]) > 0 and props["drone_build"] == "fast"
    assert cases["test_synacks_drone_never_sent_are_not_blamed_on_the_dut"]["outcome"] == "inconclusive"
    # without a lab file the fixtures fail the test, they do not skip it
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES), "--rootdir",
                        str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={k: v for k, v in os.environ.items() if k != "OSTINATO_TCP_LAB_FILE"})
    assert p.returncode == 1 and "no ostinato-tcp lab file" in p.stdout


CTRL_C = """
import sys
from ostinato_tcp import load_scenario, run_scenario, Interrupted
sc = load_scenario(sys.argv[1], lab_file=sys.argv[2])
try:
    run_scenario(sc)
except Interrupted as exc:
    print("interrupted:", exc.result.outcome, exc.result.error)
    sys.exit(exc.exit_code)
"""


def test_ctrl_c_in_a_python_process_running_run_scenario_leaves_both_ports_clean(lab, tmp_path):
    (tmp_path / "ctrl_c.py").write_text(CTRL_C)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "ctrl_c.py"), str(EXAMPLES / "profile-2000.yaml"),
                             lab.lab_file, "--", ], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    wait_until(lambda: port_view(lab)["porta"]["transmitting"], proc, 60, "port A transmitted")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted: error stopped by SIGINT" in out
    time.sleep(1.5)
    view = port_view(lab)
    for name in ("porta", "portb"):
        v = view[name]
        assert not v["transmitting"] and not v["streams"] and v["groups"] == [] and v["user_name"] == "", (name, v)
