"""JUnit XML for CI systems: one testcase per scenario run or sweep point."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def _is_error(d: dict) -> bool:
    """A fault, or an inconclusive run (the traffic broke the order): errors, not the DUT's failures."""
    return bool(d.get("error")) or d.get("verdict") == "inconclusive"


def _case_name(d: dict) -> str:
    return d.get("point_name") or d.get("scenario_name") or "run"


def _figures(d: dict) -> dict:
    """The run's measured figures, named as in its JSON (docs/figures.md)."""
    rates = d.get("rates") or {}
    out = {}
    for key in ("offered_connection_rate", "end_to_end_connection_rate", "aggregate_connection_rate"):
        r = rates.get(key) or {}
        if r.get("per_second") is not None:
            out[key] = r["per_second"]
            out[f"{key}_bound_pct"] = r.get("bound_pct")
    for side, p in sorted((d.get("ports") or {}).items()):
        rate = ((p or {}).get("packet_rate") or {}).get("per_second")
        if rate is not None:
            out[f"packet_rate_{side}"] = rate
            out[f"sent_packets_{side}"] = f"{p.get('sent_packets')}/{p.get('expected_packets')}"
    tp = d.get("traffic_proof") or {}
    for key in ("carried_both_ways", "a_to_b", "b_to_a"):
        if tp.get(key) is not None:
            out[f"traffic_proof_{key}"] = tp[key]
    return out


def _system_out(d: dict, headline: str) -> str:
    states = ", ".join(f"{k} {v}" for k, v in (d.get("states") or {}).items())
    lines = [f"{(d.get('verdict') or 'error').upper()}  {headline}; states: {states or 'none'}"]
    lines += [f"{k}: {v}" for k, v in _figures(d).items()]
    lines += [f"diagnosis: {x}" for x in d.get("diagnosis") or []]
    lines += [f"warning: {x}" for x in d.get("warnings") or []]
    return "\n".join(lines)


def junit_tree(results: list[dict], suite_name: str = "ostinato-tcp") -> ET.ElementTree:
    """``results``: dicts as made by :func:`ostinato_tcp.report.result_to_dict` (or a sweep point);
    an entry with ``error`` set is an error (infrastructure), a failed verdict a failure."""
    failures = sum(1 for d in results if not _is_error(d) and d.get("verdict") != "pass")
    errors = sum(1 for d in results if _is_error(d))
    total_time = sum(float((d.get("timings") or {}).get("total", 0.0)) for d in results)
    suites = ET.Element("testsuites", name=suite_name, tests=str(len(results)), failures=str(failures),
                        errors=str(errors), time=f"{total_time:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=suite_name, tests=str(len(results)), failures=str(failures),
                          errors=str(errors), skipped="0", time=f"{total_time:.3f}",
                          timestamp=(results[0].get("started_at") if results else "") or "")
    for d in results:
        case = ET.SubElement(suite, "testcase", classname=f"ostinato-tcp.{d.get('scenario_name', 'scenario')}",
                             name=_case_name(d), time=f"{float((d.get('timings') or {}).get('total', 0.0)):.3f}")
        props = ET.SubElement(case, "properties")
        for key in ("expected", "established_assured", "verdict", "scenario_hash"):
            if d.get(key) is not None:
                ET.SubElement(props, "property", name=key, value=str(d[key]))
        for key, value in _figures(d).items():
            if value is not None:
                ET.SubElement(props, "property", name=key, value=str(value))
        headline = (f"{d.get('established_assured', 0)}/{d.get('expected', 0)} ESTABLISHED+ASSURED"
                    if d.get("established_assured") is not None else "by traffic only")
        if (d.get("traffic_proof") or {}).get("carried_both_ways") is not None:
            headline += f", {d['traffic_proof']['carried_both_ways']}/{d.get('expected', 0)} carried both ways"
        if d.get("error"):
            el = ET.SubElement(case, "error", message=str(d["error"]), type=d.get("error_type", "fault"))
            el.text = str(d["error"])
        elif d.get("verdict") == "inconclusive":  # the traffic, not the DUT: an error of the test, not a failure
            reasons = (d.get("outcome") or {}).get("reasons") or []
            el = ET.SubElement(case, "error", message=f"INCONCLUSIVE {headline}: " + "; ".join(reasons)[:2000],
                               type="inconclusive")
            el.text = "\n".join(reasons + (d.get("diagnosis") or []))
        elif d.get("verdict") != "pass":
            el = ET.SubElement(case, "failure", message=f"{headline}: " + "; ".join(d.get("diagnosis") or [])[:2000],
                               type="verdict")
            el.text = "\n".join(d.get("diagnosis") or ["verdict failed"])
        ET.SubElement(case, "system-out").text = _system_out(d, headline)
    ET.indent(suites)
    return ET.ElementTree(suites)


def write_junit(results: list[dict], path, suite_name: str = "ostinato-tcp") -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(results, suite_name).write(p, encoding="utf-8", xml_declaration=True)
