"""``dut.kind: none``: a DUT the tool does not log into. The scenario rules (the traffic proof
alone, what needs the table refused, naming the field), the driver (reads nothing, changes
nothing, opens no SSH), and a run's outcome, summary, JSON and JUnit from the traffic proof alone."""

from __future__ import annotations

import json

import pytest

from ostinato_tcp.domain.carry import A_TO_B, B_TO_A, CarryVerdict
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.verdict import Expected
from ostinato_tcp.dut.none import NoAccessDut
from ostinato_tcp.dut.select import open_driver
from ostinato_tcp.errors import ScenarioError
from ostinato_tcp.report import result_to_dict
from ostinato_tcp.report.junit import junit_tree
from ostinato_tcp.report._summary import summary_lines
from ostinato_tcp.run.carry import diagnose_carry
from ostinato_tcp.run.dut_phases import clear_after, plan_facts, read_after_traffic
from ostinato_tcp.run.reports import CarryReport, Traffic
from ostinato_tcp.run.result import PortReport, RunResult

from .helpers import scenario

N = 200
NONE = {"dut.kind": "none", "dut.host": None, "dut.user": None, "connections.count": N, "traffic.rate": 1000}


def test_kind_none_needs_no_login_and_proves_by_the_traffic_by_default():
    sc = scenario(**NONE)
    assert sc.dut.host is None and sc.expect.proof == ["traffic"]
    assert scenario(**NONE, **{"expect.proof": ["traffic"]}).expect.proof == ["traffic"]


@pytest.mark.parametrize("change, field, words", [
    ({"expect.proof": ["table", "traffic"]}, "expect.proof", "dut.kind none reads no table"),
    ({"nat": {"mode": "learn"}}, "nat.mode", "learn reads each translation from the DUT's table"),
    ({"expect.hold": 30}, "expect.hold", "the hold re-checks the DUT's table"),
    ({"traffic.teardown": "rst"}, "traffic.teardown", "the tear-down is proven from the DUT's table"),
    ({"dut.ovs": {"zone": 1}}, "dut", "dut.ovs is given but dut.kind is none"),
])
def test_what_needs_the_table_is_refused_with_the_field(change, field, words):
    with pytest.raises(ScenarioError) as exc:
        scenario(**NONE, **change)
    text = str(exc.value)
    assert f"{field}:" in text and words in text and "\n" not in text.strip(), text


def test_other_kinds_still_need_a_host_and_the_table():
    with pytest.raises(ScenarioError, match=r"dut.host: required field is missing \(only dut.kind: none"):
        scenario(dut={"kind": "conntrack"}, **{"connections.count": N})
    with pytest.raises(ScenarioError, match="'traffic' alone is for a DUT the tool cannot read"):
        scenario(**{"expect.proof": ["traffic"]})


def test_the_driver_opens_nothing_reads_nothing_and_clears_nothing():
    sc = scenario(**NONE)
    dut = open_driver(sc.dut)  # no SSH: there is no host to reach
    assert isinstance(dut, NoAccessDut) and not dut.reads_table and dut.chosen == "dut.kind: none"
    h = dut.health()
    assert (h.count, h.max, h.syn_sent_timeout, h.counters) == (None, None, None, {})
    facts = plan_facts(dut, h, sc)
    assert (facts.syn_sent_timeout, facts.syn_recv_timeout, facts.free_entries) == (120, 60, None)
    assert "dut.kind none" in facts.source
    fresh = dut.prove_fresh_start(Expected(make_plan(sc).space), "test", timestamps=False)
    assert fresh["driver"] == "none" and fresh["proof"].startswith("by traffic only")
    health, verdict, dump = read_after_traffic(dut, None, fresh, [])
    assert verdict is None and dump == {}
    assert clear_after(dut, sc, keep=False, warnings=[]) == (None, "not read (dut.kind none)", None)
    with pytest.raises(NotImplementedError):
        dut.count()


def by_traffic(crossed: int, sent: int = 3, carried_first: int | None = None) -> RunResult:
    sc = scenario(**NONE)
    plan = make_plan(sc)
    r = RunResult(scenario=sc, plan=plan, expected=Expected(plan.space))
    r.freshness = NoAccessDut().prove_fresh_start(r.expected, "none", timestamps=False)
    r.health_before = r.health_after = NoAccessDut().health()  # as the run takes them: nothing known
    r.traffic.ports = {"a": PortReport("porta", "d", expected_packets=2 * N, sent_packets=2 * N),
                       "b": PortReport("portb", "d", expected_packets=N, sent_packets=N)}
    cross = bytearray([crossed]) * N
    if carried_first:
        cross[:carried_first] = bytes([A_TO_B | B_TO_A]) * carried_first
    r.carry = CarryReport(traffic=Traffic(), verdict=CarryVerdict(expected=N, crossed=cross,
                                                                  sent=bytearray([sent]) * N, changed=bytearray(N)))
    r.carry.diagnosis = diagnose_carry(r.carry, None, r.expected)
    r.diagnosis.extend(f"traffic proof: {x}" for x in r.carry.diagnosis)
    r.decide()
    return r


def test_the_outcome_rests_on_the_traffic_proof_alone():
    ok = by_traffic(A_TO_B | B_TO_A)
    assert ok.outcome == "pass" and ok.exit_code == 0 and ok.verdict is None
    none = by_traffic(0, carried_first=150)
    assert none.outcome == "fail" and none.exit_code == 1 and none.decision.dut_failed == 50
    assert any("50 connection(s) carried nothing" in x and "not known" in x for x in none.diagnosis), none.diagnosis
    one_way = by_traffic(B_TO_A)
    assert one_way.outcome == "fail" and any("one way only, towards the client" in x for x in one_way.diagnosis)
    unsent = by_traffic(A_TO_B, sent=A_TO_B)  # port B's segments never left: the traffic's
    assert unsent.outcome == "inconclusive" and unsent.exit_code == 4
    short = by_traffic(A_TO_B | B_TO_A)
    short.traffic.ports["b"].sent_packets = N - 1
    short.decide()
    assert short.outcome == "inconclusive" and "the traffic, not the DUT" in short.decision.reasons[0]


def test_summary_json_and_junit_say_by_traffic_only(tmp_path):
    ok, bad = by_traffic(A_TO_B | B_TO_A), by_traffic(0, carried_first=150)
    lines = summary_lines(ok)
    assert lines[0].startswith(f"PASS  {N}/{N} carried both ways, by traffic only"), lines[0]
    assert any(x.startswith("  proof by traffic only: the DUT's table is not read (dut.kind: none)") for x in lines)
    assert not [x for x in lines if "ESTABLISHED" in x or "states of the expected" in x], lines
    assert summary_lines(bad)[0].startswith(f"FAIL  150/{N} carried both ways, by traffic only")
    d = result_to_dict(ok)  # validated against the shipped schema ($OSTINATO_TCP_CHECK_SCHEMAS, tests/conftest.py)
    assert d["established_assured"] is None and d["proof"]["asked"] == ["traffic"] and d["proof"]["traffic"] is True
    assert d["proof"]["table"] is None and d["dut"]["driver"] == "none" and d["verdict"] == "pass"
    assert d["pairs"][0]["established_assured"] is None and d["dut"]["before"] is None
    json.dumps(d)
    root = junit_tree([d, result_to_dict(bad)]).getroot()
    cases = root.iter("testcase")
    passed, failed = next(cases), next(cases)
    assert passed.find("failure") is None and "PASS  by traffic only, 200/200 carried both ways" in passed.find(
        "system-out").text
    assert failed.find("failure").get("message").startswith("by traffic only, 150/200 carried both ways")


def test_jobs_that_count_from_the_table_refuse_kind_none(tmp_path):
    import yaml

    from ostinato_tcp.errors import UsageError
    from ostinato_tcp.jobs.capacity import probe_capacity
    from ostinato_tcp.jobs.sweep import load_sweep
    from ostinato_tcp.jobs.verify import verify_live

    from .helpers import data

    sc = scenario(**NONE)
    with pytest.raises(UsageError, match="^dut.kind: none: the capacity probe counts"):
        probe_capacity(sc)
    with pytest.raises(UsageError, match="^dut.kind: none: verify judges the DUT's table"):
        verify_live(sc)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(data(**NONE)))
    (tmp_path / "sw.yaml").write_text("name: sw\nbase: base.yaml\nrates: [1000, 2000]\n")
    with pytest.raises(UsageError, match=r"^dut.kind: none \(in base.yaml\): a sweep's figures"):
        load_sweep(tmp_path / "sw.yaml")
    pairs = data(**NONE)
    pair = {"a": pairs["ports"]["a"], "b": pairs["ports"]["b"]}
    pairs["ports"] = [pair, pair]
    from ostinato_tcp.scenario import scenario_from_data
    with pytest.raises(ScenarioError, match="ports: 2 port pairs with dut.kind none are not supported"):
        scenario_from_data(pairs)



def test_a_run_on_a_dut_not_read_draws_its_own_isns_unless_the_scenario_sets_them():
    from ostinato_tcp.run.runner import Runner

    drawn = [Runner(scenario(**NONE)).sc.traffic for _ in range(3)]
    assert len({(t.client_isn, t.server_isn) for t in drawn}) == 3  # 1 in 2**62 to fail by chance
    assert all(0 <= t.client_isn < 1 << 31 and (t.client_isn, t.server_isn) != (100, 200) for t in drawn)
    r = Runner(scenario(**NONE))
    assert r.result.scenario is r.sc  # the report shows the ISNs the run used
    kept = Runner(scenario(**NONE, **{"traffic.client_isn": 7})).sc.traffic
    assert kept.client_isn == 7 and kept.server_isn != 200
    read = Runner(scenario(**{"connections.count": N})).sc.traffic  # a DUT that is read keeps the defaults
    assert (read.client_isn, read.server_isn) == (100, 200)
