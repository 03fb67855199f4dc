"""The traffic proof without a lab: the data segments' legs and stream specs, their encoding
for Drone, the capture reader, and the per-connection judgement from captured frames
(crossed, one way only, changed by the DUT, never sent), as the run's outcome takes it."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from ostinato_tcp.domain.carry import A_TO_B, B_TO_A, Arrivals, CarryJudge, places, port_tags
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import (DATA_BYTES, TCP_ACK, TCP_PSH, Wire, client_program, isns_after, legs_for,
                                         server_program, server_runs)
from ostinato_tcp.domain.tuples import StreamFields
from ostinato_tcp.domain.verdict import PASS, Expected, Verdict
from ostinato_tcp.drone import _encode
from ostinato_tcp.drone._pb import ostproto_pb2 as pb
from ostinato_tcp.errors import ScenarioError
from ostinato_tcp.ground.pcap import tcp_segments
from ostinato_tcp.run.outcome import decide
from ostinato_tcp.run.reports import CarryReport
from ostinato_tcp.run.result import PortReport, RunResult

from .helpers import scenario

N = 300
TRAFFIC = {"connections.count": N, "traffic.rate": 1000, "expect.proof": ["table", "traffic"]}


def test_the_data_legs_carry_on_from_the_handshake_and_later_legs_count_their_bytes():
    legs = legs_for("data", 1000, 5000)
    assert (legs.first.role, legs.first.flags, legs.first.seq, legs.first.ack) == ("cdata", TCP_PSH | TCP_ACK, 1001, 5001)
    assert (legs.reply.role, legs.reply.seq, legs.reply.ack) == ("sdata", 5001, 1001)
    assert legs.last is None and legs.first.payload == legs.reply.payload == DATA_BYTES
    sc = scenario(**TRAFFIC, **{"traffic.client_isn": 1000, "traffic.server_isn": 5000})
    assert isns_after(sc) == (1000 + DATA_BYTES, 5000 + DATA_BYTES)
    fin = legs_for("fin", *isns_after(sc))
    assert (fin.first.seq, fin.first.ack) == (1001 + DATA_BYTES, 5001 + DATA_BYTES)
    assert isns_after(scenario(**{"traffic.client_isn": 1000, "traffic.server_isn": 5000})) == (1000, 5000)


def test_data_streams_hold_their_places_and_exact_frames():
    sc = scenario(**{**TRAFFIC, "connections.count": 6000, "connections.first_client_port": 64000,
                     "connections.client_ips": "auto", "traffic.rate": 3000})
    plan = make_plan(sc)
    runs = [f for b in plan.batches for f in plan.space.stream_runs(b)]
    assert len(runs) > 1
    legs = legs_for("data", 1, 2)
    prog = client_program(sc, runs, syn=True, ack=False, legs=legs, rate=plan.rate, tag=0x1234)
    assert [s.payload_first for s in prog] == [sum(r.packets for r in runs[:i]) for i in range(len(runs))]
    assert sum(s.count for s in prog) == 6000
    assert {s.frame_length for s in prog} == {14 + 20 + 20 + DATA_BYTES + 4}
    assert all(s.payload_tag == 0x1234 and s.flags == TCP_PSH | TCP_ACK for s in prog)
    # every place is one connection, each connection once
    found = places(prog, plan.space.indexer())
    assert sorted(found) == list(range(6000))
    back = server_program(sc, server_runs(runs), legs=legs, rate=plan.rate, tag=0x99)
    assert list(places(back, plan.space.indexer())) == list(found)
    with pytest.raises(ValueError, match="needs the run's tag"):
        client_program(sc, runs, legs=legs, rate=plan.rate)


def test_a_data_stream_encodes_its_payload_for_drone():
    sc = scenario(**TRAFFIC)
    plan = make_plan(sc)
    wire = Wire(gateway_mac=0x0200_0A01_0101, device_macs={int(sc.connections.client_ip): 0x0200_0A01_0164})
    prog = client_program(sc, plan.space.stream_runs(plan.batches[0]), syn=True, ack=False,
                          legs=legs_for("data", 1, 2), rate=plan.rate, tag=0xCAFE_00A1, wire=wire)
    assert prog[0].src_mac == 0x0200_0A01_0164 and prog[0].checksums  # the fast build: sums given
    cfg = _encode.stream_config(pb, 1, [7], prog)
    s = cfg.stream[0]
    ids = [p.protocol_id.id for p in s.protocol]
    assert ids == [_encode.PROTO_MAC, _encode.PROTO_ETH2, _encode.PROTO_IP4, _encode.PROTO_TCP, _encode.PROTO_PAYLOAD]
    ip4 = s.protocol[2].Extensions[pb.ip4]
    tcp = s.protocol[3].Extensions[pb.tcp]
    pay = s.protocol[4]
    assert ip4.totlen == 40 + DATA_BYTES and ip4.is_override_cksum and tcp.is_override_cksum
    assert pay.Extensions[pb.payload].pattern == 0xCAFE_00A1
    vf = pay.variable_field[0]
    assert (vf.offset, vf.value, vf.count, vf.step, vf.mask) == (4, 0, N, 1, 0xFFFFFFFF)
    assert s.core.frame_len == 66


def frame(src: int, dst: int, sport: int, dport: int, seq: int, ack: int, data: bytes = b"", pad_to: int = 0) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, TCP_PSH | TCP_ACK, 1024, 0, 0) + data
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
    f = b"\x02" * 12 + b"\x08\x00" + ip + tcp
    return f + b"\0" * max(0, pad_to - len(f))


def pcap(frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", 10, i, len(f), len(f)) + f
    return out


def test_the_capture_reader_takes_the_data_and_leaves_the_padding():
    segs = list(tcp_segments(pcap([frame(1, 2, 3, 4, 5, 6, b"", pad_to=60), frame(1, 2, 3, 4, 5, 6, b"abcdefgh"),
                                   b"\xff" * 12 + b"\x08\x06" + b"\0" * 28])))
    assert [(s.seq, s.ack, s.data) for s in segs] == [(5, 6, b""), (5, 6, b"abcdefgh")]


def judge_of(sc, captured_a: list[bytes], captured_b: list[bytes]):
    plan = make_plan(sc)
    exp = plan.expected()
    runs = plan.space.stream_runs(plan.batches[0])
    legs = legs_for("data", sc.traffic.client_isn, sc.traffic.server_isn)
    tags = port_tags(0x51525300)
    pa = places(client_program(sc, runs, syn=True, ack=False, legs=legs, rate=plan.rate, tag=tags[0]),
                plan.space.indexer())
    judge = CarryJudge(exp, Arrivals(exp, sc.traffic.client_isn, sc.traffic.server_isn), tags, pa, pa)
    judge.read("a", tcp_segments(pcap(captured_a)))
    judge.read("b", tcp_segments(pcap(captured_b)))
    return judge.finish(), exp, tags


def segments(sc, n: int, tags, *, towards_server: bool, sport_change: int = 0, nat: int | None = None) -> bytes:
    c = sc.connections
    cip, cport = int(c.client_ip), c.first_client_port + n
    sip, sport = int(c.server_ip), c.server_port
    c1, s1 = sc.traffic.client_isn + 1, sc.traffic.server_isn + 1
    if towards_server:
        data = tags[0].to_bytes(4, "big") + n.to_bytes(4, "big")
        return frame(nat or cip, sip, cport + sport_change, sport, c1, s1, data)
    data = tags[1].to_bytes(4, "big") + n.to_bytes(4, "big")
    return frame(sip, cip, sport + sport_change, cport, s1, c1, data)


def test_each_connection_is_judged_both_ways_from_both_captures():
    sc = scenario(**TRAFFIC)
    tags = port_tags(0x51525300)
    a_sent = [segments(sc, n, tags, towards_server=True) for n in range(N)]
    b_sent = [segments(sc, n, tags, towards_server=False) for n in range(N)]
    # through the DUT: 0..199 both ways; 200..249 towards the server only; 250..269 towards the client with
    # the source port changed; 270..299 nothing; and one segment of connection 0 twice, one unknown place
    at_b = [segments(sc, n, tags, towards_server=True) for n in range(250)] + [a_sent[0]]
    at_a = [segments(sc, n, tags, towards_server=False) for n in range(200)]
    at_a += [segments(sc, n, tags, towards_server=False, sport_change=1) for n in range(250, 270)]
    at_a.append(frame(1, 2, 3, 4, 5, 6, tags[1].to_bytes(4, "big") + (10 ** 6).to_bytes(4, "big")))
    v, _, _ = judge_of(sc, a_sent + at_a, b_sent + at_b)
    assert (v.both, v.a_to_b, v.b_to_a) == (200, 250, 200)
    assert v.crossed.count(A_TO_B) == 50 and v.crossed.count(0) == 20 + 30
    assert (v.sent_a, v.sent_b) == (N, N) and v.duplicates == 1 and v.unknown == 1
    assert v.mistranslated == {"source port": 20} and v.changed.count(B_TO_A) == 20
    assert "connection 250 towards the client" in v.samples[0] and "source port expected 8080" in v.samples[0]
    assert not v.passed and v.to_dict()["neither"] == 50


def test_under_nat_the_segment_towards_the_server_leaves_from_the_translated_address():
    sc = scenario(**TRAFFIC, **{"nat.mode": "preserve-ports", "nat.address": "10.2.2.1"})
    tags = port_tags(0x51525300)
    nat = int.from_bytes(bytes([10, 2, 2, 1]), "big")
    sent_a = [segments(sc, n, tags, towards_server=True) for n in range(N)]
    sent_b = [segments(sc, n, tags, towards_server=False) for n in range(N)]
    good = [segments(sc, n, tags, towards_server=True, nat=nat) for n in range(N)]
    v, _, _ = judge_of(sc, sent_a + sent_b, sent_b + good)
    assert v.a_to_b == N
    untranslated = [segments(sc, n, tags, towards_server=True) for n in range(N)]
    v, _, _ = judge_of(sc, sent_a, sent_b + untranslated)
    assert v.a_to_b == 0 and v.mistranslated == {"source address": N}


def carried(sc, crossed: int, sent: int) -> RunResult:
    plan = make_plan(sc)
    r = RunResult(scenario=sc, plan=plan, expected=Expected(plan.space))
    r.verdict = Verdict(expected=N, codes=bytearray([PASS]) * N, states={})
    r.traffic.order_marks = bytearray([1]) * N
    r.traffic.ports = {"a": PortReport("porta", "d", expected_packets=2 * N, sent_packets=2 * N),
                       "b": PortReport("portb", "d", expected_packets=N, sent_packets=N)}
    from ostinato_tcp.domain.carry import CarryVerdict

    r.carry = CarryReport(verdict=CarryVerdict(expected=N, crossed=bytearray([crossed]) * N,
                                               sent=bytearray([sent]) * N, changed=bytearray(N)))
    return r


def test_a_table_that_holds_every_connection_fails_when_the_box_does_not_carry_them():
    sc = scenario(**TRAFFIC)
    assert decide(carried(sc, 3, 3)).word == "pass"
    r = carried(sc, A_TO_B, 3)  # both segments left; the one towards the client never crossed
    d = decide(r)
    assert d.word == "fail" and r.exit_code == 1 and "did not carry 300" in d.reasons[0]
    r = carried(sc, A_TO_B, A_TO_B)  # port B never sent its segments: the traffic's
    d = decide(r)
    assert d.word == "inconclusive" and r.exit_code == 4 and r.carry.unsent == N


@pytest.mark.parametrize("proof, message", [
    ([], "needs at least one proof"),
    (["traffic"], "'traffic' alone is for a DUT the tool cannot read"),
    (["table", "table"], "names a proof twice"),
    (["table", "trafic"], "trafic"),
])
def test_bad_proofs_are_refused_with_the_field(proof, message):
    with pytest.raises(ScenarioError) as exc:
        scenario(**{"expect.proof": proof})
    assert "expect.proof" in str(exc.value) and message in str(exc.value)


def test_the_plan_says_the_proof_comes_and_refuses_what_it_cannot_capture():
    plan = make_plan(scenario(**TRAFFIC))
    (line,) = [x for x in plan.describe() if "traffic proof" in x]
    assert "one data segment of 8 bytes each way" in line and "1,000/s per port" in line
    big = make_plan(scenario(**{**TRAFFIC, "connections.count": 500_000, "connections.client_ips": "auto",
                                "traffic.rate": 100_000, "traffic.batches": 500_000}), force=True)
    assert any("batches of 500,000 connections would put 1,000,000 frames" in p for p in big.problems)
    small = make_plan(scenario(**{**TRAFFIC, "traffic.window": 4}), force=True)
    assert any("traffic.window 4 is smaller than the 8-byte data segments" in p for p in small.problems)
    assert not [x for x in make_plan(scenario(**{"connections.count": N})).describe() if "traffic proof" in x]


@pytest.mark.parametrize("first_port, place, step, count", [(23420, 0, 1, 3000), (1024, 65_530, 1, 60_000),
                                                       (40000, 100_000, 3, 8000)])
def test_the_fast_build_gives_every_data_segment_its_true_checksum(first_port, place, step, count):
    # the pieces' given checksum, stepped down by the port step + 1 per packet, against the sum of
    # every packet's real header and data; across the sum's wraps and the place's carries
    from ostinato_tcp.ground.checksum import ipv4_checksum, tcp_checksum

    sc = scenario(**{**TRAFFIC, "connections.first_client_port": first_port, "connections.step": step,
                     "connections.count": count})
    c = sc.connections
    wire = Wire(gateway_mac=1, device_macs={int(c.client_ip): 2, int(c.server_ip): 3})
    spec = client_program(sc, [StreamFields(count, int(c.client_ip), 1, first_port, count, step)], syn=True,
                          ack=False, legs=legs_for("data", 7, 9), rate=1000, tag=0xA1B2C3A1)[0]
    spec = replace(spec, payload_first=place)
    pieces = wire.fast(spec)
    assert sum(p.count for p in pieces) == count
    assert count * (step + 1) < 0xFFFF or len(pieces) >= 2  # split where the sum wraps
    k = 0
    for p in pieces:
        cfg = _encode.stream_config(pb, 1, [1], [p]).stream[0]
        ip4, tcp = cfg.protocol[2].Extensions[pb.ip4], cfg.protocol[3].Extensions[pb.tcp]
        assert ip4.cksum == ipv4_checksum(int(c.client_ip), int(c.server_ip), 48)
        vf = cfg.protocol[3].variable_field[1]
        assert (vf.offset, vf.step, vf.mode) == (16, step + 1, vf.kDecrement)
        for j in range(p.count):
            sport, n = first_port + k * step, (place + k) & 0xFFFFFFFF
            real = tcp_checksum(int(c.client_ip), int(c.server_ip), sport, c.server_port, 8, 10, TCP_PSH | TCP_ACK,
                                sc.traffic.window, (0xA1B2C3A1).to_bytes(4, "big") + n.to_bytes(4, "big"))
            assert (tcp.cksum - j * vf.step) & 0xFFFF == real, (k, j)
            assert p.payload_first + j == place + k
            k += 1
