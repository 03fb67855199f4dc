"""JUnit XML in the shape CI systems read: testsuites/testsuite/testcase/failure|error."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ostinato_tcp.report.junit import write_junit


def test_junit_shape(tmp_path):
    results = [
        {"scenario_name": "s", "point_name": "n1000-r1000", "verdict": "pass", "expected": 1000,
         "established_assured": 1000, "timings": {"total": 3.5}, "states": {"ESTABLISHED": 1000},
         "started_at": "2026-11-25T10:00:00Z"},
        {"scenario_name": "s", "point_name": "n1000-r90000", "verdict": "fail", "expected": 1000,
         "established_assured": 10, "timings": {"total": 2.0}, "states": {"SYN_RECV": 990},
         "diagnosis": ["990 in SYN_RECV: the ACKs reached the DUT before the SYN-ACKs"]},
        {"scenario_name": "s", "point_name": "n5-r1", "verdict": "error", "error": "Drone 1.2.3.4:7878, connect: refused",
         "error_type": "DroneConnectError"},
    ]
    path = tmp_path / "junit.xml"
    write_junit(results, path, suite_name="ostinato-tcp sweep s")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("errors") == "1"
    assert float(suite.get("time")) == 5.5
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["n1000-r1000", "n1000-r90000", "n5-r1"]
    assert all(c.get("classname") == "ostinato-tcp.s" for c in cases)
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure.get("type") == "verdict"
    assert failure.get("message").startswith("10/1000 ESTABLISHED+ASSURED: 990 in SYN_RECV")
    assert "ACKs reached the DUT before the SYN-ACKs" in failure.text
    error = cases[2].find("error")
    assert error.get("type") == "DroneConnectError" and "refused" in error.get("message")
    props = {p.get("name"): p.get("value") for p in cases[0].find("properties")}
    assert props["established_assured"] == "1000"
