"""Drone's send ceiling, measured before the first packet, in the plan; and the delay a lagging
batch feeds the next one. Against the in-memory FakeDrone (tests/lab/test_ceiling_lab.py proves
it against a real Drone and DUT)."""

from __future__ import annotations

import pytest

from ostinato_tcp.run.batches import adapted_delay
from ostinato_tcp.drone.fake import FakeDrone
from ostinato_tcp.errors import PlanError
from ostinato_tcp.ground.measure import Rate
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.ceiling import CEILING_USE, Ceiling
from ostinato_tcp.run.probe import PROBE_FRAMES, PROBE_REPEAT, probe_programs
from ostinato_tcp.domain.streams import TCP_ACK, TCP_SYN, Wire
from ostinato_tcp.run.runner import Runner

from .fakes import ScriptedDut
from .helpers import scenario
from .test_ports_runner import FAST, nothing_of_ours


def ceiling(a: float, b: float) -> Ceiling:
    return Ceiling({"a": Rate(int(a), 1.0, 0.002), "b": Rate(int(b), 1.0, 0.002)}, 1.0)


def run(drone: FakeDrone, dut: ScriptedDut, opts: RunOptions | None = None, **changes):
    sc = scenario(**{**FAST, **changes})
    return Runner(sc, opts or RunOptions(poll_interval=0), drone_opener=lambda host, port: drone.connect(),
                  dut_opener=lambda sc_, opts_: dut).run()


def test_the_plan_refuses_a_rate_above_the_measured_ceiling_and_names_it():
    sc = scenario(**{"traffic.rate": 150_000, "connections.count": 100_000, "connections.client_ips": 4})
    with pytest.raises(PlanError) as e:
        make_plan(sc, ceiling=ceiling(101_000, 98_000))
    msg = str(e.value)
    assert "traffic.rate 150,000/s is more than Drone's ports keep here" in msg
    assert "port A 101,000/s" in msg and "port B 98,000/s" in msg and f"{CEILING_USE:.0%}" in msg
    usable = CEILING_USE * 98_000
    assert f"Fix: traffic.rate {int(usable):,} or less, traffic.rate max, or traffic.above_ceiling lower" in msg
    plan = make_plan(sc.with_changes({"traffic.above_ceiling": "lower"}), ceiling=ceiling(101_000, 98_000))
    assert plan.rate == pytest.approx(usable) and plan.rate_why.startswith("lowered from traffic.rate 150,000/s")
    assert any(f"the run sends at {usable:,.0f}/s (traffic.above_ceiling: lower)" in w for w in plan.warnings)
    plan = make_plan(sc.with_changes({"traffic.rate": "max"}), ceiling=ceiling(101_000, 98_000))
    assert plan.rate == pytest.approx(usable) and plan.to_dict()["ceiling"]["packets_per_second"] == 98_000
    # before anything is measured, 'max' plans with a typical figure and says so
    assert "assumed until then" in make_plan(sc.with_changes({"traffic.rate": "max"})).rate_why
    assert make_plan(sc.with_changes({"traffic.rate": 70_000}), ceiling=ceiling(101_000, 98_000)).rate == 70_000


def test_the_probe_is_half_a_handshake_per_tuple_built_once_and_sent_repeatedly():
    sc = scenario()
    wire = {"a": Wire(0x02AA, {int(sc.connections.client_ip): 0x02BB}),
            "b": Wire(0x02CC, {int(sc.connections.server_ip): 0x02DD})}
    for wires in (wire, {}):  # the fast form and the resolve form
        progs = probe_programs(sc, "p", 8081, wires)
        for side, prog in progs.items():
            assert sum(s.count for s in prog) == PROBE_FRAMES * PROBE_REPEAT
            assert all(s.client_port_count * PROBE_REPEAT == s.count for s in prog)  # the variable field repeats
            assert all(s.rate >= 1e9 for s in prog)  # asked more than any port sends: flat out
        a, b = progs["a"], progs["b"]
        assert {(s.flags, s.to_server) for s in a} == {(TCP_SYN, True)}
        assert {(s.flags, s.to_server) for s in b} == {(TCP_SYN | TCP_ACK, False)}
        assert a[0].client_port == b[0].client_port and b[0].ack == a[0].seq + 1  # B answers A's SYNs
        assert {s.server_port for s in a + b} == {8081}
        if wires:  # each side's checksum sum wraps in the middle: both split in two, checked on both sides
            assert [s.count for s in a] == [s.count for s in b] == [PROBE_FRAMES // 2 * PROBE_REPEAT] * 2


def test_a_run_above_the_ceiling_is_refused_before_the_dut_is_touched():
    drone, dut = FakeDrone(pps=200_000), ScriptedDut()
    r = run(drone, dut, **{"traffic.rate": 500_000})
    assert r.exit_code == 2 and r.outcome == "error"
    assert "traffic.rate 500,000/s is more than Drone's ports keep here" in r.error
    assert dut.calls == ["health"]  # no clear, no read-back, nothing judged
    assert "startTransmit" in drone.calls  # only the probe went out (to the ports' own MACs)
    assert nothing_of_ours(drone)


def test_lowered_to_the_ceiling_or_max_the_run_sends_at_the_measured_ceiling():
    drone, dut = FakeDrone(pps=200_000), ScriptedDut()
    r = run(drone, dut, **{"traffic.rate": 500_000, "traffic.above_ceiling": "lower"})
    assert r.passed, (r.error, r.diagnosis)
    assert r.plan.ceiling is not None and 150_000 < r.plan.ceiling.value <= 200_000 * 1.01  # within its bound
    assert r.plan.rate == pytest.approx(CEILING_USE * r.plan.ceiling.value)
    r = run(FakeDrone(pps=200_000), ScriptedDut(), **{"traffic.rate": "max"})
    assert r.passed and r.plan.rate == pytest.approx(CEILING_USE * r.plan.ceiling.value)
    assert r.plan.ceiling.probe_seconds > 0.2  # 'max' needs the longer probe


def test_a_lagging_batch_feeds_the_next_batch_its_delay():
    # port A keeps 80% of the asked rate in every batch; the second batch's delay follows its pace
    drone = FakeDrone(paced=True, keeps={"porta": 0.8}, capture_limit=0)  # (making captured frames takes time)
    r = run(drone, ScriptedDut(), **{"connections.count": 4000, "traffic.rate": 10_000, "traffic.batches": 2000,
                                     "traffic.mode": "pipelined", "traffic.min_margin": 0.05})
    assert r.passed, (r.error, r.diagnosis)
    first, second = r.batches
    assert first.lagged and first.delay == pytest.approx(0.1) and first.why == ""
    pa, pb = first.ports["a"]["pace"], first.ports["b"]["pace"]
    assert pa == pytest.approx(8000, rel=0.05) and pb == pytest.approx(10_000, rel=0.05)
    # at 8,000/s and 10,000/s: A's SYNs take 0.25 s, B's SYN-ACKs 0.2 s: delay (0.25 + 0.05) / 2 = 0.15 s
    assert second.delay == pytest.approx(adapted_delay(2000, pa, pb)[0]) and 0.13 < second.delay < 0.18
    assert second.why.startswith(f"port A {pa:,.0f}/s, port B {pb:,.0f}/s in batch 1 (planned 10,000/s): delay "
                                 f"{second.delay:.3f} s keeps both ordering margins at")
    assert any(w.startswith("batch 2: port A") for w in r.warnings)
    # port B at half its rate: its SYN-ACKs outlast A's SYNs and no delay keeps a margin: phases
    r = run(FakeDrone(paced=True, keeps={"portb": 0.5}, capture_limit=0), ScriptedDut(),
            **{"connections.count": 4000, "traffic.rate": 10_000, "traffic.batches": 2000,
               "traffic.mode": "pipelined", "traffic.min_margin": 0.05})
    assert r.passed and [b.mode for b in r.batches] == ["pipelined", "phased"]
    assert "this batch is sent in phases" in r.batches[1].why


def test_the_docs_state_the_share_of_the_ceiling_a_run_may_ask():
    import re
    from pathlib import Path

    from ostinato_tcp.domain.ceiling import CEILING_USE

    root = Path(__file__).resolve().parents[2]
    said = {}
    for doc in ("README.md", "docs/figures.md", "docs/how-it-works.md"):
        text = " ".join((root / doc).read_text().split())
        said[doc] = re.findall(r"(?:at most|above) (\d+)% of (?:the slower port|that)", text)
    assert all(said.values()), said
    assert {p for found in said.values() for p in found} == {f"{CEILING_USE * 100:.0f}"}, said


def test_a_rate_far_below_a_remembered_ceiling_needs_no_new_probe():
    from ostinato_tcp.run.probe_cache import REMEMBERED_SHARE

    first = run(FakeDrone(pps=200_000), ScriptedDut(), **{"traffic.rate": 1000})
    assert first.passed and first.plan.ceiling.remembered_at is None and first.timings["probe"] > 0
    usable = first.plan.ceiling.usable
    drone = FakeDrone(pps=200_000)
    again = run(drone, ScriptedDut(), **{"traffic.rate": 1000})  # same ports, same Drone, far below the ceiling
    assert again.passed and again.plan.ceiling.remembered_at is not None
    assert again.plan.ceiling.value == pytest.approx(first.plan.ceiling.value)
    assert drone.calls.count("startTransmit") == 3  # the run's SYNs, SYN-ACKs and ACKs: no probe went out
    assert "no new probe" in again.build_checks[0]["note"]
    # a rate near the ceiling is probed again, and so is every run after --recheck-build
    near = run(FakeDrone(pps=200_000), ScriptedDut(), **{"traffic.rate": int(REMEMBERED_SHARE * usable) + 100})
    assert near.passed and near.plan.ceiling.remembered_at is None
    fresh = run(FakeDrone(pps=200_000), ScriptedDut(), RunOptions(poll_interval=0, recheck_build=True),
                **{"traffic.rate": 1000})
    assert fresh.plan.ceiling.remembered_at is None
