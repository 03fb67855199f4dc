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


def test_a_run_case_carries_its_rates_and_diagnosis(tmp_path):
    rate = {"per_second": 998.2, "bound_pct": 0.02}
    d = {"scenario_name": "s", "verdict": "fail", "expected": 100, "established_assured": 90,
         "states": {"ESTABLISHED": 90, "SYN_RECV": 10}, "timings": {"total": 1.0},
         "rates": {"offered_connection_rate": rate, "end_to_end_connection_rate": {"per_second": 480.0,
                                                                                   "bound_pct": 0.4}},
         "ports": {"a": {"packet_rate": {"per_second": 999.0}, "sent_packets": 200, "expected_packets": 200}},
         "diagnosis": ["10 in SYN_RECV: the DUT dropped their ACKs"], "warnings": ["batch 2: phased"]}
    write_junit([d], tmp_path / "j.xml")
    (case,) = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    props = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert props["offered_connection_rate"] == "998.2" and props["offered_connection_rate_bound_pct"] == "0.02"
    assert props["end_to_end_connection_rate"] == "480.0" and props["packet_rate_a"] == "999.0"
    out = case.find("system-out").text.splitlines()
    assert out[0] == "FAIL  90/100 ESTABLISHED+ASSURED; states: ESTABLISHED 90, SYN_RECV 10"
    assert "offered_connection_rate: 998.2" in out and "sent_packets_a: 200/200" in out
    assert "diagnosis: 10 in SYN_RECV: the DUT dropped their ACKs" in out and "warning: batch 2: phased" in out
