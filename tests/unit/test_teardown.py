"""Tear-down legs and their verdict: the legs' sequence numbers, the retire rate from polls,
and the run's sequence against the FakeDrone and a scripted DUT (tests/lab/test_teardown_lab.py
proves the DUT side on a real conntrack)."""

from __future__ import annotations

import pytest

from ostinato_tcp.drone.fake import FakeDrone
from ostinato_tcp.errors import ScenarioError
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.domain.streams import TCP_ACK, TCP_FIN, TCP_RST, client_program, legs_for, server_program
from ostinato_tcp.run.reports import Poll, retire_rate
from ostinato_tcp.domain.tuples import StreamFields

from .fakes import ScriptedDut
from .helpers import scenario
from .test_ports_runner import nothing_of_ours, run_on_fakes


def test_fin_legs_carry_on_from_the_handshake():
    legs = legs_for("fin", 100, 200)
    assert (legs.first.flags, legs.first.seq, legs.first.ack) == (TCP_FIN | TCP_ACK, 101, 201)
    assert (legs.reply.flags, legs.reply.seq, legs.reply.ack) == (TCP_FIN | TCP_ACK, 201, 102)
    assert (legs.last.flags, legs.last.seq, legs.last.ack) == (TCP_ACK, 102, 202)
    rst = legs_for("rst", 0xFFFFFFFF, 5)
    assert (rst.first.flags, rst.first.seq) == (TCP_RST, 0) and rst.reply is None and rst.last is None


def test_programs_take_the_tear_down_legs():
    sc = scenario()
    f = [StreamFields(packets=10, ip_base=0x0A010164, ip_count=1, port_base=23420, port_count=10, port_step=1)]
    fin = legs_for("fin", 100, 200)
    a = client_program(sc, f, legs=fin)
    assert [s.name.rsplit(":", 1)[1] for s in a] == ["fin", "lastack"] and a[0].next == "next"
    b = server_program(sc, f, legs=fin)
    assert b[0].flags == TCP_FIN | TCP_ACK and (b[0].seq, b[0].ack) == (201, 102) and not b[0].to_server
    rst = client_program(sc, f, legs=legs_for("rst", 100, 200))
    assert len(rst) == 1 and rst[0].flags == TCP_RST and rst[0].next == "stop"
    with pytest.raises(ValueError):
        server_program(sc, f, legs=legs_for("rst", 100, 200))


def test_retire_rate_is_bounded_by_the_polls():
    polls = [Poll(0.0, 0.1, 1000), Poll(0.2, 0.3, 1000), Poll(0.4, 0.5, 600), Poll(0.6, 0.7, 100),
             Poll(0.8, 0.9, 0), Poll(1.0, 1.1, 0)]
    r = retire_rate(polls)
    # the first entry left after 0.2 (last poll that saw 1000 began) and before 0.5; the last after
    # 0.6 (the poll before the final count began) and before 0.9
    assert r.count == 1000 and r.seconds == pytest.approx((0.9 - 0.2 + 0.6 - 0.5) / 2)
    assert r.bound == pytest.approx((0.9 - 0.2 - (0.6 - 0.5)) / 2)
    assert retire_rate([Poll(0, 0.1, 5), Poll(0.2, 0.3, 5)]) is None


def test_fin_with_nat_learn_is_refused():
    with pytest.raises(ScenarioError) as exc:
        scenario(**{"traffic.teardown": "fin", "nat.mode": "learn"})
    assert "traffic.teardown" in str(exc.value)


@pytest.mark.parametrize("mode, end", [("rst", "CLOSE"), ("fin", "TIME_WAIT")])
def test_a_tear_down_closes_every_connection_and_leaves_nothing_on_drone(mode, end):
    drone, dut = FakeDrone(), ScriptedDut(states=["ESTABLISHED", end])
    r = run_on_fakes(drone, dut, **{"traffic.teardown": mode})
    assert r.passed, (r.error, r.diagnosis)
    td = r.teardown
    assert td.passed and td.closed == 200 and td.verdict.states == {end: 200}
    assert td.traffic.ports["a"].sent_packets == (400 if mode == "fin" else 200)
    assert td.traffic.ports["b"].sent_packets == (200 if mode == "fin" else 0)
    assert r.ports["a"].sent_packets == 400  # the handshake's figures are its own
    assert td.retire_rate is not None and td.retire_rate.count == 200
    assert nothing_of_ours(drone)


def test_connections_left_established_fail_the_tear_down_with_the_leg_named():
    drone, dut = FakeDrone(), ScriptedDut(states=["ESTABLISHED", "FIN_WAIT"])
    r = run_on_fakes(drone, dut, RunOptions(poll_interval=0, disable_stream="finack"),
                     **{"traffic.teardown": "fin"})
    assert r.verdict.passed and not r.passed
    assert r.teardown.traffic.ports["b"].sent_packets == 0
    # port B never sent its FIN-ACKs: the traffic, not the DUT
    assert r.outcome == "inconclusive" and r.exit_code == 4
    assert "port B (portb) sent 0 of the 200 TCP packets the plan said for the tear-down: the traffic, not the DUT" \
        in r.decision.reasons
    assert any(d.startswith("tear-down: 200 in FIN_WAIT after the tear-down (e.g. 10.1.1.100:") and
               "B's FIN-ACK never reached the DUT" in d for d in r.diagnosis), r.diagnosis
