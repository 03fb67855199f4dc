"""Several port pairs: the model's checks, the connections shared out, and run_pairs on two
in-memory Drones (a fault in one pair stops the other; both are left clean)."""

from __future__ import annotations

import copy

import pytest

from ostinato_tcp.drone.fake import FakeDrone
from ostinato_tcp.errors import ScenarioError
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.pairs import merge_verdicts, run_pairs
from ostinato_tcp.scenario import scenario_from_data

from .fakes import ScriptedDut
from .helpers import data
from .test_ports_runner import FAST, nothing_of_ours


def two_pairs(**changes) -> dict:
    d = data(**{**{k: v for k, v in FAST.items() if not k.startswith("ports.")}, **changes})
    d["drones"]["two"] = {"host": "192.0.2.11"}
    first = {"a": {**d["ports"]["a"], "interface": "porta"}, "b": {**d["ports"]["b"], "interface": "portb"}}
    d["ports"] = [first, {"a": {"drone": "two", "interface": "porta", "device": {"prefix": 24, "gateway": "10.3.3.1"}},
                          "b": {"drone": "two", "interface": "portb", "device": {"prefix": 24, "gateway": "10.4.4.1"}},
                          "client_ip": "10.3.3.100", "server_ip": "10.4.4.100"}]
    return d


def test_connections_are_shared_out_over_the_pairs():
    sc = scenario_from_data(two_pairs(**{"connections.count": 1001}))
    subs = sc.pair_scenarios()
    assert sc.pair_count == 2 and [s.connections.count for s in subs] == [501, 500]
    assert [s.name for s in subs] == ["unit-p1", "unit-p2"]
    assert [str(s.connections.client_ip) for s in subs] == ["10.1.1.100", "10.3.3.100"]
    assert [list(s.drones) for s in subs] == [["main"], ["two"]]


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["ports"][1].pop("client_ip"), "ports.1.client_ip: pair 2 needs its own client_ip"),
    (lambda d: d["ports"][1].update(server_ip="10.2.2.100"), "ports.1.server_ip: 10.2.2.100 is already the "
                                                             "server_ip of pair 1"),
    (lambda d: d["ports"][1]["a"]["device"].update(gateway="10.9.9.1"),
     "ports.1.a.device.gateway: pair 2: 10.9.9.1/24 is not on the subnet of 10.3.3.100"),
    (lambda d: d["ports"][1]["b"].update(drone="main", interface="portb"),
     "ports.1.b.interface: Drone 'main' port 'portb' is already port B of pair 1"),
    (lambda d: d["ports"].pop(1), "ports: list 2 to 16 pairs (got 1)"),
    (lambda d: d["connections"].update(count=1), "connections.count: 1 is fewer than the 2 port pairs"),
])
def test_bad_pairs_name_the_field(mutate, message):
    d = copy.deepcopy(two_pairs())
    mutate(d)
    with pytest.raises(ScenarioError) as e:
        scenario_from_data(d)
    assert message in str(e.value)


def run_two(drones: dict, duts: dict, **changes):
    sc = scenario_from_data(two_pairs(**changes))
    return run_pairs(sc, RunOptions(poll_interval=0), drone_opener=lambda host, port: drones[host].connect(),
                     dut_opener=lambda s, opts: duts[s.name])


def test_two_pairs_pass_with_figures_per_pair():
    drones = {"192.0.2.10": FakeDrone(host="192.0.2.10"), "192.0.2.11": FakeDrone(host="192.0.2.11")}
    duts = {"unit-p1": ScriptedDut(), "unit-p2": ScriptedDut()}
    r = run_two(drones, duts)
    assert r.error is None and r.passed and r.verdict.established_assured == 200 == r.verdict.expected
    assert [p.verdict.established_assured for p in r.pairs] == [100, 100]
    assert sorted(r.ports) == ["a1", "a2", "b1", "b2"]
    assert r.ports["a1"].drone != r.ports["a2"].drone
    assert r.aggregate_rate is not None and r.aggregate_rate.count == 200 and r.aggregate_rate.seconds > 0
    assert all(nothing_of_ours(d) for d in drones.values()) and all(d.closed for d in duts.values())


def test_a_fault_in_one_pair_stops_the_other_and_both_are_left_clean():
    drones = {"192.0.2.10": FakeDrone(host="192.0.2.10"), "192.0.2.11": FakeDrone(host="192.0.2.11")}
    drones["192.0.2.11"].fail("build")  # pair 2's Drone fails to build; pair 1 is waiting to start
    duts = {"unit-p1": ScriptedDut(), "unit-p2": ScriptedDut()}
    r = run_two(drones, duts)
    assert r.outcome == "error" and r.error.startswith("pair 2: ") and "injected fault" in r.error
    assert r.pairs[0].error.startswith("port pair 2 stopped")
    assert r.ports["a1"].sent_packets == 0 and r.ports["b1"].sent_packets == 0  # pair 1 never sent alone
    assert all(nothing_of_ours(d) for d in drones.values())
    assert all(p.user_name == "" for d in drones.values() for p in d.ports.values())


def test_verdicts_are_laid_end_to_end():
    from ostinato_tcp.domain.verdict import MISSING, PASS, Verdict

    a = Verdict(expected=2, codes=bytearray([PASS, MISSING]), states={"ESTABLISHED": 1})
    b = Verdict(expected=3, codes=bytearray([PASS, PASS, PASS]), states={"ESTABLISHED": 3}, unexpected=2)
    m = merge_verdicts([a, b])
    assert m.expected == 5 and m.established_assured == 4 and m.connections_in("missing") == [1]
    assert m.states == {"ESTABLISHED": 4} and m.unexpected == 2 and not m.passed


def test_pairs_that_fit_the_table_alone_but_not_together_are_refused_before_sending():
    drones = {"192.0.2.10": FakeDrone(host="192.0.2.10"), "192.0.2.11": FakeDrone(host="192.0.2.11")}
    duts = {"unit-p1": ScriptedDut(), "unit-p2": ScriptedDut()}  # 262,134 free entries
    r = run_two(drones, duts, **{"connections.count": 300_000, "connections.client_ips": "auto",
                                 "connections.first_client_port": 1024})
    assert r.outcome == "error" and r.exit_code == 2, r.error
    assert "150000 is more than the DUT's conntrack table can take" in r.error
    assert "150000 for the run's other port pairs" in r.error
    assert all("startTransmit" not in d.calls and nothing_of_ours(d) for d in drones.values())


def test_sweeps_rank_a_multi_pair_point_by_its_aggregate_rate():
    from ostinato_tcp.jobs.sweep_results import _offered

    one = {"pairs": [], "rates": {"offered_connection_rate": {"per_second": 7.0}}}
    two = {"pairs": [{}, {}], "rates": {"offered_connection_rate": {"per_second": 0.0},
                                        "aggregate_connection_rate": {"per_second": 5.0}}}
    assert _offered(one)["per_second"] == 7.0 and _offered(two)["per_second"] == 5.0
