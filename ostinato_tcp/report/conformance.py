"""The conformance report (``ostinato-tcp conformance``) as text and JUnit, from its JSON dict
(:meth:`ostinato_tcp.jobs.conformance.ConformanceReport.to_dict`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

HEADERS = ("case", "a strict tracker", "the DUT did", "invalid", "forwarded per step", "verdict")


def _did(c: dict) -> str:
    return f"{c['as_expected']:,}/{c['connections']:,} {c['expected']}"


def _invalid(c: dict) -> str:
    return "?" if c["invalid_delta"] is None else f"+{c['invalid_delta']:,}"


def forwarded_text(c: dict) -> str:
    """What the DUT forwarded of each step, N/N/..; "?" where a step was not captured."""
    got = [s.get("forwarded") for s in c["steps"]]
    return "?" if not got or None in got else "/".join(f"{n:,}" for n in got)


def conformance_lines(d: dict) -> list[str]:
    """A table (case, what a strict tracker does, what the DUT did N/N, the ``invalid`` counter's
    delta, what the DUT forwarded of each step, verdict), then each case's notes."""
    rows = [HEADERS] + [(c["case"], c["strict"], _did(c), _invalid(c), forwarded_text(c), c["verdict"].upper())
                        for c in d["cases"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    settings = ", ".join(f"{k}={'?' if v is None else v}" for k, v in {**d["dut_settings"],
                                                                          **d["other_settings"]}.items())
    out = [f"conformance: {d['scenario_name']}, {d['connections_per_case']:,} connections per case; DUT kernel "
           f"{d['kernel'] or '?'}; {settings}"]
    out += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    for c in d["cases"]:
        if c["note"]:
            out.append(f"  {c['case']}: {c['note']}")
        if c["forwarded_note"]:
            out.append(f"  {c['case']}: forwarded {c['forwarded_note']}")
        out += [f"  {c['case']}: {x}" for x in c["forwarding"]]
    n = len(d["cases"])
    counts = {w: sum(1 for c in d["cases"] if c["verdict"] == w) for w in ("pass", "explained", "fail")}
    if d.get("error"):
        out.append(f"ERROR  conformance stopped after {n} case(s): {d['error']}")
    else:
        extra = " (--strict: an explained case fails)" if d["strict"] and counts["explained"] else ""
        out.append(f"{d['verdict'].upper()}  {counts['pass']} of {n} cases as a strict tracker, {counts['explained']} "
                   f"explained by the DUT's settings, {counts['fail']} failed{extra}; {d['seconds']:.1f} s")
    return out


def write_conformance_junit(d: dict, path) -> None:
    """One testcase per case: a failure when it failed (or, with --strict, was only explained)."""
    cases = d["cases"]
    failed = [c for c in cases if c["verdict"] == "fail" or (d["strict"] and c["verdict"] == "explained")]
    errors = 1 if d.get("error") else 0
    suites = ET.Element("testsuites", name="ostinato-tcp conformance", tests=str(len(cases) + errors),
                        failures=str(len(failed)), errors=str(errors), time=f"{d['seconds']:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=f"conformance {d['scenario_name']}", tests=str(len(cases) + errors),
                          failures=str(len(failed)), errors=str(errors), skipped="0", time=f"{d['seconds']:.3f}")
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=f"ostinato-tcp.conformance.{d['scenario_name']}",
                             name=c["case"])
        props = ET.SubElement(case, "properties")
        for key in ("strict", "expected", "setting", "as_expected", "connections", "invalid_delta", "verdict"):
            ET.SubElement(props, "property", name=key, value=str(c[key]))
        if c in failed:
            el = ET.SubElement(case, "failure", message=f"{_did(c)}: {c['note']}"[:2000], type=c["verdict"])
            el.text = c["note"]
        ET.SubElement(case, "system-out").text = (f"{c['verdict'].upper()}  {c['title']}: {_did(c)} (a strict tracker: "
                                                  f"{c['strict']}); outcomes {c['outcomes']}; invalid {_invalid(c)}; forwarded per "
                                                  f"step {forwarded_text(c)}")
    if errors:
        case = ET.SubElement(suite, "testcase", classname=f"ostinato-tcp.conformance.{d['scenario_name']}", name="run")
        ET.SubElement(case, "error", message=str(d["error"]), type="fault").text = str(d["error"])
    ET.indent(suites)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(p, encoding="utf-8", xml_declaration=True)
