"""Fuzzing the two parsers that read what users and DUTs hand us (hypothesis).

Each parser gets 4,000 generated inputs in ``make test`` (two strategies of 2,000;
``OSTINATO_TCP_FUZZ_EXAMPLES=N`` asks N per strategy for a deeper run): the only
exceptions allowed out are the project's own error types; a dump parser must
not raise at all (a line it does not know is counted, not fatal). The seeds
are fixed (``derandomize``), so CI and a developer see the same inputs.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostinato_tcp.dut.ovs_reader import OvsEntryReader
from ostinato_tcp.dut.reader import ConntrackReader
from ostinato_tcp.dut.entries import ParseStats, parse_counted
from ostinato_tcp.domain.verdict import Expected, Judge
from ostinato_tcp.errors import OstinatoTcpError
from ostinato_tcp.scenario import Scenario, scenario_from_text
from ostinato_tcp.domain.tuples import ConnectionSpace

from .test_scenario import GOOD

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conntrack"
EXAMPLES = int(os.environ.get("OSTINATO_TCP_FUZZ_EXAMPLES", "2000"))  # per strategy
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEEN = {"scenario_text": 0, "scenario_tree": 0, "dump_text": 0, "dump_mutated": 0, "ovs_mutated": 0}


def load_or_project_error(text: str) -> None:
    try:
        sc = scenario_from_text(text, source="fuzz.yaml")
    except OstinatoTcpError as exc:
        assert str(exc).startswith("fuzz.yaml"), str(exc)  # every scenario error names the file
        return
    assert isinstance(sc, Scenario)


# ----------------------------------------------------------------------------- scenario loader
YAMLISH = st.text(alphabet=st.sampled_from(list("abcdeklmnoprstuy_.:-[]{},'\"#&*!|>%@`?\t \n0123456789")),
                  max_size=200)


@FUZZ
@given(st.one_of(st.text(max_size=300), YAMLISH))
def test_scenario_loader_on_arbitrary_text(text):
    SEEN["scenario_text"] += 1
    load_or_project_error(text)


BASE = yaml.safe_load(GOOD)
PATHS = []


def _walk(d, prefix=()):
    for k, v in d.items():
        PATHS.append(prefix + (k,))
        if isinstance(v, dict):
            _walk(v, prefix + (k,))


_walk(BASE)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.text(max_size=40),
              st.sampled_from(["auto", "off", "10.1.1.1", "10.1.1.300", "::1", "$(reboot)", "-1", "1e309", "nan",
                               "0x10", "65536", "ESTABLISHED", "preserve-ports", "learn"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), VALUES, st.booleans()), min_size=1, max_size=4))
def test_scenario_loader_on_mutated_scenarios(changes):
    """A valid scenario with values replaced (or keys deleted) at random places."""
    SEEN["scenario_tree"] += 1
    data = copy.deepcopy(BASE)
    for path, value, delete in changes:
        cur = data
        for key in path[:-1]:
            if not isinstance(cur.get(key), dict):
                break
            cur = cur[key]
        else:
            if delete:
                cur.pop(path[-1], None)
            else:
                cur[path[-1]] = value
    try:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return
    load_or_project_error(text)


# ----------------------------------------------------------------------------- conntrack parser
REAL_LINES = [line for f in sorted(FIXTURES.rglob("*.txt")) for line in f.read_text().splitlines() if line.strip()]
SPACE = ConnectionSpace.layout(client_ip="10.1.1.100", client_ips=1, first_port=23420, step=1,
                               server_ip="10.2.2.100", server_port=8080, total=1000, batch_size=1000)


def judge_bytes(blob: bytes, cut: int) -> None:
    j = ConntrackReader(Judge(Expected(SPACE)))
    j.feed(blob[:cut])
    j.feed(blob[cut:])
    v = j.finish()
    assert 0 <= v.established_assured <= SPACE.total
    assert sum(v.counts.values()) == SPACE.total


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
                max_size=5), st.integers(0, 1000))
def test_dump_parser_on_arbitrary_lines(lines, cut):
    SEEN["dump_text"] += 1
    stats = ParseStats()
    for line in lines:
        parse_counted(line, stats)  # must not raise
    judge_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n", cut)


@st.composite
def mutated_line(draw):
    line = draw(st.sampled_from(REAL_LINES))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "swap", "duplicate"]))
        toks = line.split(" ")
        i = draw(st.integers(0, max(0, len(toks) - 1)))
        if op == "delete" and toks:
            del toks[i]
        elif op == "insert":
            toks.insert(i, draw(st.sampled_from(["[UNREPLIED]", "[ASSURED]", "src=", "sport=70000", "dport=-1",
                                                 "dst=999.1.1.1", "tcp", "6", "zone=", "=", "use=x", "[OFFLOAD]",
                                                 "src=10.1.1.100", "sport=23420", "ESTABLISHED"])))
        elif op == "replace" and line:
            j = draw(st.integers(0, len(line) - 1))
            line = line[:j] + draw(st.characters()) + line[j + 1:]
            continue
        elif op == "swap" and len(toks) > 1:
            k = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[k] = toks[k], toks[i]
        elif op == "duplicate" and toks:
            toks.insert(i, toks[i])
        line = " ".join(toks)
    return line


@FUZZ
@given(st.lists(mutated_line(), min_size=1, max_size=6), st.integers(0, 2000))
def test_dump_parser_on_mutated_real_lines(lines, cut):
    SEEN["dump_mutated"] += 1
    stats = ParseStats()
    for line in lines:
        parse_counted(line, stats)
    judge_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"), cut)


OVS_LINES = [line for f in sorted((FIXTURES.parent / "ovs").glob("*.txt")) for line in f.read_text().splitlines()
             if line.startswith(("tcp,", "udp,"))]
OVS_SPACE = ConnectionSpace.layout(client_ip="10.77.0.10", client_ips=1, first_port=42995, step=1,
                                   server_ip="10.77.0.20", server_port=8080, total=10, batch_size=10)


@st.composite
def mutated_ovs_line(draw):
    toks = draw(st.sampled_from(OVS_LINES)).split(",")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(toks) - 1))
        op = draw(st.sampled_from(["delete", "insert", "swap", "chars"]))
        if op == "delete" and len(toks) > 1:
            del toks[i]
        elif op == "insert":
            toks.insert(i, draw(st.sampled_from(["state_orig=ESTABLISHED", "state_reply=ESTABLISHED", "zone=7",
                                                 "zone=x", "sport=99999", "src=10.77.0.10", "protoinfo=(", ")",
                                                 "reply=(src=1.2.3.4", "id=0", "tcp"])))
        elif op == "swap":
            k = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[k] = toks[k], toks[i]
        else:
            toks[i] = draw(st.text(max_size=12))
    return ",".join(toks)


@FUZZ
@given(st.lists(mutated_ovs_line(), min_size=1, max_size=6), st.integers(0, 2000))
def test_ovs_reader_on_mutated_real_lines(lines, cut):
    SEEN["ovs_mutated"] += 1
    judge = Judge(Expected(OVS_SPACE))
    reader = OvsEntryReader(judge.take, zone=7)
    blob = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    reader.feed(blob[:cut])
    reader.feed(blob[cut:])
    v = judge.finish(reader.finish())
    assert 0 <= v.established_assured <= OVS_SPACE.total and sum(v.counts.values()) == OVS_SPACE.total


def test_fuzzers_ran_every_input_asked():
    """Runs after the fuzz tests above (file order): each parser saw 2 x EXAMPLES inputs."""
    if 0 in SEEN.values():
        pytest.skip("run alone (-k): the fuzz tests did not run in this session")
    assert SEEN["scenario_text"] + SEEN["scenario_tree"] >= 2 * EXAMPLES, SEEN
    assert SEEN["dump_text"] + SEEN["dump_mutated"] >= 2 * EXAMPLES, SEEN
    assert SEEN["ovs_mutated"] >= EXAMPLES, SEEN
