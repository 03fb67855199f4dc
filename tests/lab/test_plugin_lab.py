"""The pytest plugin as a lab's own suite uses it: a test profile run through the
``ostinato_tcp_run`` fixture under pytest's default JUnit family (xunit2) with ``-W error``
passes without a warning, and the run's figures are in the JUnit XML."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "ostinato_tcp" / "templates" / "profile.yaml"


def test_the_fixture_runs_a_profile_quietly_under_xunit2(lab, tmp_path):
    profile = yaml.safe_load(TEMPLATE.read_text())
    profile.update(lab_file=str(lab.lab_file), name="plugin-300")
    profile["connections"].update(count=300, client_ip=lab.pairs[0]["client_ip"], server_ip=lab.pairs[0]["server_ip"])
    (tmp_path / "p300.yaml").write_text(yaml.safe_dump(profile))
    (tmp_path / "test_nightly.py").write_text(textwrap.dedent("""
        def test_nightly(ostinato_tcp_run):
            result = ostinato_tcp_run("p300.yaml", {"traffic.rate": 1000})
            assert result.passed, result.diagnosis
    """))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["OSTINATO_TCP_LAB_FILE"] = str(lab.lab_file)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider",
                        "--junitxml", "j.xml", "-o", "junit_logging=system-out", "test_nightly.py"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "warning" not in p.stdout.lower(), p.stdout
    (case,) = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    props = {x.get("name"): x.get("value") for x in case.iter("property")}
    assert props["outcome"] == "pass" and props["established_assured"] == "300" and props["expected"] == "300"
    assert float(props["offered_connection_rate"]) > 0 and props["drone_build"] in ("fast", "resolve")
    assert "PASS  300/300 ESTABLISHED+ASSURED  (plugin-300)" in (case.find("system-out").text or "")
