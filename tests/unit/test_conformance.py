"""The conformance catalogue: each case's stream specs are what the case says (written out
here by hand from the case's title, not from the catalogue), the outcome expected per DUT
setting, the judgement, the per-connection outcomes from a dump, and the report's forms."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from ostinato_tcp.domain.conformance import (ASSURED, BY_NAME, CATALOGUE, ESTABLISHED, LIBERAL, LOOSE, NO_ENTRY,
                                             SYN_RECV, SYN_SENT, expected_outcome, judge_case, select)
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import TCP_ACK as A, TCP_FIN as F, TCP_PSH as P, TCP_RST as R, TCP_SYN as S
from ostinato_tcp.domain.verdict import Expected
from ostinato_tcp.dut.reader import judge_text
from ostinato_tcp.jobs.conformance import ConformanceReport, case_scenario, check_scenario
from ostinato_tcp.report.conformance import conformance_lines, write_conformance_junit
from ostinato_tcp.report.contract import stamp, validate
from ostinato_tcp.run.conformance import outcomes_of, step_program

from .helpers import data, scenario

C, SV, BIG, M = 5000, 7_000_000, 1 << 28, 0xFFFFFFFF
# case -> each step's (port, flags, seq, ack, payload bytes), numbers absolute for client ISN C, server ISN SV
WIRE = {
    "final-ack-wrong-ack": [("a", S, C, 0, 0), ("b", S | A, SV, C + 1, 0), ("a", A, C + 1, SV + 1 + BIG, 0)],
    "final-ack-out-of-window": [("a", S, C, 0, 0), ("b", S | A, SV, C + 1, 0), ("a", A, C + 1 + BIG, SV + 1, 0)],
    "synack-wrong-ack": [("a", S, C, 0, 0), ("b", S | A, SV, C + 1 + BIG, 0), ("a", A, C + 1, SV + 1, 0)],
    "synack-without-syn": [("b", S | A, SV, C + 1, 0)],
    "synack-twice": [("a", S, C, 0, 0), ("b", S | A, SV, C + 1, 0), ("b", S | A, SV + BIG, C + 1, 0),
                     ("a", A, C + 1, SV + BIG + 1, 0)],
    "ack-before-synack": [("a", S, C, 0, 0), ("a", A, C + 1, SV + 1, 0), ("b", S | A, SV, C + 1, 0)],
    "rst-in-syn-sent": [("a", S, C, 0, 0), ("b", R | A, SV, C + 1, 0)],
    "rst-in-syn-sent-out-of-window": [("a", S, C, 0, 0), ("b", R | A, SV, C + 1 + BIG, 0)],
    "rst-in-syn-recv": [("a", S, C, 0, 0), ("b", S | A, SV, C + 1, 0), ("a", R, C + 1, 0, 0)],
    "rst-in-syn-recv-out-of-window": [("a", S, C, 0, 0), ("b", S | A, SV, C + 1, 0), ("a", R, C + 1 + BIG, 0, 0)],
    "syn-fin": [("a", S | F, C, 0, 0)],
    "syn-rst": [("a", S | R, C, 0, 0)],
    "no-flags": [("a", 0, C, 0, 0)],
    "second-syn-new-isn": [("a", S, C, 0, 0), ("a", S, C + BIG, 0, 0), ("b", S | A, SV, C + 1, 0),
                           ("a", A, C + 1, SV + 1, 0)],
    "data-before-synack": [("a", S, C, 0, 0), ("a", P | A, C + 1, SV + 1, 8), ("b", S | A, SV, C + 1, 0)],
    "ack-without-syn": [("a", A, C + 1, SV + 1, 0)],
}


def conformance_scenario(count=300, **changes):
    return case_scenario(scenario(**{"traffic.client_isn": C, "traffic.server_isn": SV, **changes}), count)


def test_the_catalogue_covers_what_the_issue_lists_and_nothing_is_unchecked():
    assert set(WIRE) == set(BY_NAME) and len(CATALOGUE) == 16


@pytest.mark.parametrize("name", sorted(WIRE))
def test_each_case_sends_exactly_its_steps(name):
    sc = conformance_scenario()
    plan = make_plan(sc)
    runs = [f for b in plan.batches for f in plan.space.stream_runs(b)]
    steps = BY_NAME[name].steps
    assert len(steps) == len(WIRE[name])
    for step, (side, flags, seq, ack, payload) in zip(steps, WIRE[name]):
        program = [s for s in step_program(sc, step, runs, 1000.0) if s.enabled]
        assert program, f"{name}: step {step.role} sends nothing"
        assert sum(s.count for s in program) == 300  # every connection, once
        for s in program:
            assert s.to_server == (side == "a"), f"{name} {step.role}: wrong port"
            assert (s.flags, s.seq, s.ack) == (flags, seq & M, ack & M), f"{name} {step.role}"
            assert (s.payload_tag is not None) == bool(payload)
            assert (s.client_ip, s.client_port, s.server_ip, s.server_port) == (
                int(sc.connections.client_ip), 23420, int(sc.connections.server_ip), 8080)


def test_the_outcome_expected_follows_the_dut_settings():
    strict = {LOOSE: 0, LIBERAL: 0}
    assert expected_outcome(BY_NAME["final-ack-wrong-ack"], strict) == (SYN_RECV, None)
    assert expected_outcome(BY_NAME["final-ack-wrong-ack"], {LOOSE: 0, LIBERAL: 1}) == (
        ASSURED, "nf_conntrack_tcp_be_liberal=1")
    assert expected_outcome(BY_NAME["ack-without-syn"], {LOOSE: 1, LIBERAL: 0}) == (
        ESTABLISHED, "nf_conntrack_tcp_loose=1")
    # a setting a case does not depend on changes nothing; a setting not read is taken as strict
    assert expected_outcome(BY_NAME["ack-before-synack"], {LOOSE: 1, LIBERAL: 1}) == (SYN_RECV, None)
    assert expected_outcome(BY_NAME["synack-wrong-ack"], {LOOSE: None, LIBERAL: None}) == (SYN_SENT, None)


def test_judging_a_case():
    case, n = BY_NAME["final-ack-wrong-ack"], 100
    strict, liberal = {LOOSE: 0, LIBERAL: 0}, {LOOSE: 0, LIBERAL: 1}
    assert judge_case(case, strict, {SYN_RECV: n}, n, n).word == "pass"
    v = judge_case(case, liberal, {ASSURED: n}, n, 0)
    assert v.word == "explained" and "nf_conntrack_tcp_be_liberal=1 explains it" in v.note
    # the DUT says it is strict but takes the ACK: named, with the setting that would have explained it
    v = judge_case(case, strict, {SYN_RECV: 97, ASSURED: 3}, n, 97)
    assert v.word == "fail" and v.note.startswith("97/100 SYN_RECV; instead 3 ESTABLISHED+ASSURED")
    assert "nf_conntrack_tcp_be_liberal=1 leads to ESTABLISHED+ASSURED, but the DUT reads 0" in v.note
    # no setting explains an ESTABLISHED entry after a SYN-ACK nobody asked for
    v = judge_case(BY_NAME["synack-without-syn"], liberal, {NO_ENTRY: 90, ESTABLISHED: 10}, n, 90)
    assert v.word == "fail" and "no setting it has explains it" in v.note
    # a liberal DUT that still refuses is not what its settings say either
    assert judge_case(case, liberal, {SYN_RECV: n}, n, n).word == "fail"


def _line(port, state, flags="", unreplied=False):
    u = "[UNREPLIED] " if unreplied else ""
    return (f"tcp      6 50 {state} src=10.1.1.100 dst=10.2.2.100 sport={port} dport=8080 {u}src=10.2.2.100 "
            f"dst=10.1.1.100 sport=8080 dport={port} {flags + ' ' if flags else ''}mark=0 use=1\n")


def test_each_connection_outcome_from_a_dump():
    sc = conformance_scenario(6)
    exp = make_plan(sc).expected()
    text = (_line(23420, "SYN_RECV") + _line(23421, "SYN_SENT", unreplied=True) + _line(23422, "ESTABLISHED", "[ASSURED]")
            + _line(23423, "ESTABLISHED") + _line(23424, "CLOSE"))
    out = outcomes_of(judge_text(Expected(exp.space), text, track_states=True))
    assert out == {SYN_RECV: 1, SYN_SENT: 1, ASSURED: 1, ESTABLISHED: 1, "CLOSE": 1, NO_ENTRY: 1}


def test_what_the_catalogue_refuses_to_run_on():
    from ostinato_tcp.errors import UsageError

    with pytest.raises(UsageError, match="nat.mode: learn"):
        check_scenario(scenario(**{"nat.mode": "learn"}))
    with pytest.raises(UsageError, match="dut.kind: none"):
        check_scenario(scenario(**{"dut.kind": "none", "dut.host": None, "dut.user": None}))
    with pytest.raises(ValueError, match="--case 'nope'"):
        select(["nope"])
    assert [c.name for c in select(["syn-rst", "syn-fin"])] == ["syn-fin", "syn-rst"]  # the catalogue's order


def _report(strict=False, words=("pass", "explained", "fail")):
    r = ConformanceReport(scenario_name="unit", count=100, settings={LOOSE: 0, LIBERAL: 1}, kernel="6.1",
                          other_settings={"nf_conntrack_tcp_max_retrans": 3}, strict=strict, seconds=12.5)
    outcomes = {"pass": {SYN_RECV: 100}, "explained": {ASSURED: 100}, "fail": {SYN_RECV: 60, ASSURED: 40}}
    for word, name in zip(words, ("ack-before-synack", "final-ack-wrong-ack", "synack-without-syn")):
        case = BY_NAME[name]
        r.cases.append(judge_case(case, r.settings, outcomes[word] if name != "synack-without-syn" else
                                  {NO_ENTRY: 60, ASSURED: 40}, 100, 100))
    return r


def test_report_text_json_and_junit(tmp_path):
    r = _report()
    assert [v.word for v in r.cases] == ["pass", "explained", "fail"] and r.exit_code == 1
    d = r.to_dict()
    assert validate(stamp("conformance", d)) == []
    text = "\n".join(conformance_lines(d))
    assert "final-ack-wrong-ack" in text and "EXPLAINED" in text
    assert text.splitlines()[-1].startswith("FAIL  1 of 3 cases as a strict tracker, 1 explained")
    write_conformance_junit(d, tmp_path / "j.xml")
    root = ET.parse(tmp_path / "j.xml").getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["ack-before-synack", "final-ack-wrong-ack", "synack-without-syn"]
    assert [c.find("failure") is not None for c in cases] == [False, False, True]
    # --strict: an explained case fails too
    r = _report(strict=True, words=("pass", "explained"))
    assert r.exit_code == 1
    write_conformance_junit(r.to_dict(), tmp_path / "s.xml")
    assert ET.parse(tmp_path / "s.xml").getroot().get("failures") == "1"
    assert _report(words=("pass", "explained")).exit_code == 0


@pytest.mark.parametrize("args, field", [
    (["--case", "nope"], "--case 'nope'"),
    (["--count", "0"], "--count 0"),
    (["--set", "nat.mode=preserve-ports", "--set", "nat.address=10.2.2.1"], "nat.mode: preserve-ports"),
])
def test_bad_input_is_one_line_exit_2_before_any_connection(tmp_path, args, field):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data()))  # its Drone and DUT (192.0.2.x) are never reached: refused before
    p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "conformance", str(path), *args], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ostinato-tcp: error: ") and field in lines[0], p.stderr
    assert json.dumps(p.stdout) == '""'


def test_the_docs_page_lists_every_case_with_its_strict_outcome_and_settings():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "conformance.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in page.splitlines() if line.startswith("| `")}
    for case in CATALOGUE:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[case.name])[1:-1]]  # a rule's "\|" is text
        assert cells[2] == case.strict, case.name
        assert cells[3] == ("; ".join(f"`{k}=1`: {v}" for k, v in case.changed_by.items()) or "none"), case.name
        assert cells[5] == (", ".join(case.steps[i].role for i in case.invalid_steps) or "none"), case.name


def _frame(src, dst, sport, dport, flags, seq, ack) -> bytes:
    import struct

    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & M, ack & M, 0x50, flags, 1024, 0, 0)
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
    return b"\x02" * 12 + b"\x08\x00" + ip + tcp


def _pcap(frames) -> bytes:
    import struct

    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", 10, i, len(f), len(f)) + f
    return out


def test_what_the_dut_forwarded_of_each_step_from_both_captures():
    from ostinato_tcp.domain.conformance import forwarding_notes
    from ostinato_tcp.run.conformance import forwarded_counts

    sc = conformance_scenario(3)
    cl, sv = int(sc.connections.client_ip), int(sc.connections.server_ip)
    case = BY_NAME["final-ack-wrong-ack"]
    syn = [_frame(cl, sv, 23420 + k, 8080, S, C, 0) for k in range(3)]
    synack = [_frame(sv, cl, 8080, 23420 + k, S | A, SV, C + 1) for k in range(3)]
    ack = [_frame(cl, sv, 23420 + k, 8080, A, C + 1, SV + 1 + BIG) for k in range(3)]
    other = [_frame(cl, sv, 23420, 8081, S, C, 0)]  # another server port: not the test's
    # port A sent the SYNs and ACKs and received the SYN-ACKs; port B sent the SYN-ACKs and received
    # the SYNs and one ACK (the DUT dropped two)
    pcaps = {"a": _pcap(syn + synack + ack), "b": _pcap(syn + synack + ack[:1] + other)}
    got, note = forwarded_counts(case, sc, pcaps, 3)
    assert (got, note) == ([3, 3, 1], "")
    steps = [{"role": s.role, "forwarded": n} for s, n in zip(case.steps, got)]
    assert forwarding_notes(case, steps, 3, None) == [
        "the DUT forwarded 1 of the 3 ack packets its tracker marks invalid (its ruleset does not drop ct state invalid)"]
    steps[1]["forwarded"] = 2
    assert "the DUT forwarded 2 of the 3 synack packets its tracker takes: 1 lost" in forwarding_notes(case, steps, 3,
                                                                                                      None)[0]
    assert forwarding_notes(case, steps, 3, "nf_conntrack_tcp_be_liberal=1") == []  # other settings: not known
    # a capture short of its own port's packets cannot say what was not forwarded
    got, note = forwarded_counts(case, sc, {"a": _pcap(syn[:2] + synack + ack), "b": pcaps["b"]}, 3)
    assert got is None and note == "not measured: port A's capture holds 2 of the 3 syn packets it sent"


@pytest.mark.parametrize("name", sorted(WIRE))
def test_every_step_of_a_case_is_told_apart_on_the_wire(name):
    from ostinato_tcp.run.conformance import forwarded_counts

    case = BY_NAME[name]
    assert forwarded_counts(case, conformance_scenario(1), {}, 0) == ([0] * len(case.steps), "")
    assert all(0 <= i < len(case.steps) for i in case.invalid_steps)
