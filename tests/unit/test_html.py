"""The HTML reports as files: self-contained (no script, nothing fetched), escaped, the
verdict and every figure of the run with its definition from docs/figures.md. (Rendering
them in Chromium is tests/lab/test_html_lab.py.)"""

from __future__ import annotations

import re

from ostinato_tcp.drone.fake import FakeDrone
from ostinato_tcp.report import result_to_dict
from ostinato_tcp.report.definitions import figure_definitions, parse_figures
from ostinato_tcp.report.html import history_html, run_html, sweep_html
from ostinato_tcp.run.options import RunOptions

from .fakes import ScriptedDut
from .test_ports_runner import run_on_fakes


def _self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    # nothing loaded from anywhere: no src/href but data: URIs and the page's own anchors
    for link in re.findall(r"""(?:src|href)=["']([^"']+)""", page):
        assert link.startswith(("data:", "#")), link
    assert "@import" not in page and not re.search(r"url\((?!#)", page)  # (an SVG's own clip paths: url(#id))


def test_a_run_report_has_the_verdict_and_each_figure_with_its_definition():
    d = result_to_dict(run_on_fakes(FakeDrone(), ScriptedDut()))
    page = run_html(dict(d, scenario_name="unit<&>"))
    _self_contained(page)
    assert 'class="verdict pass">PASS  <span id="established">200/200</span>' in page
    assert "unit&lt;&amp;&gt;" in page and "unit<&>" not in page  # escaped
    offered = next(x for x in figure_definitions() if "rates.offered_connection_rate" in x.keys)
    assert f'data-figure="rates.offered_connection_rate">{d["rates"]["offered_connection_rate"]["per_second"]:,.1f}/s' \
           in page and offered.text[:60] in page.replace("&#x27;", "'")
    assert 'data-figure="ports.a.sent_packets, ports.b.sent_packets">A: 400; B: 200' in page


def test_a_failed_run_shows_its_diagnosis_and_an_error_its_error():
    d = result_to_dict(run_on_fakes(FakeDrone(), ScriptedDut(), RunOptions(poll_interval=0, disable_stream="synack")))
    page = run_html(d)
    assert 'class="verdict inconclusive"' in page
    assert all(x.replace("'", "&#x27;") in page for x in d["diagnosis"][:3])
    page = run_html(dict(d, verdict="error", error="Drone 192.0.2.10:7878: connect refused", error_type="DroneError"))
    assert "Drone 192.0.2.10:7878: connect refused" in page and 'class="verdict error"' in page


def test_sweep_and_history_reports():
    point = {"point_name": "n100-r10", "count": 100, "rate": 10.0, "status": "pass", "verdict": "pass",
             "expected": 100, "established_assured": 100, "rates": {"offered_connection_rate": {"per_second": 9.9,
                                                                                               "bound_pct": 0.1,
                                                                                               "seconds": 10}}}
    summary = {"sweep": "s", "points": 1, "grid_points": 1, "grid_passed": 1, "grid_failed": 0, "errors": 0,
               "maximum_connection_establishment_rate": {"100": {"connections_per_second": 9.9, "bound_pct": 0.1,
                                                                 "point": "n100-r10", "asked_rate": 10.0,
                                                                 "first_failing_above": None}},
               "connection_tracking_table_capacity": {"largest_count_fully_established": 100}}
    page = sweep_html({"summary": summary, "points": [point]})
    _self_contained(page)
    assert 'id="verdict" class="verdict pass">PASS  <span id="grid">1/1</span>' in page and "9.9/s" in page
    runs = [{"id": 2, "started_at": "t2", "scenario_name": "s", "verdict": "fail", "expected": 10,
             "established_assured": 5}, {"id": 1, "started_at": "t1", "scenario_name": "s", "verdict": "pass",
                                         "expected": 10, "established_assured": 10}]
    page = history_html({"runs": runs, "comparison": {"run": 2, "baseline": 1, "basis": "hash",
                                                      "regressions": ["established 5 < 10"]}}, "s")
    _self_contained(page)
    assert "1 REGRESSION(S)" in page and "established 5 &lt; 10" in page


def test_the_definitions_parser_reads_the_docs_tables():
    defs = parse_figures("# A\n\n| figure | definition |\n| --- | --- |\n| **rate** (`rates.x`) | per `s` |\n\ntext\n")
    assert [(d.section, d.label, d.keys, d.text) for d in defs] == [("A", "rate (rates.x)", ("rates.x",), "per s")]
    assert len(figure_definitions()) > 40
