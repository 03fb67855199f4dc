"""Streams as plain specs built from the plan, and their encoding into Drone's messages:
each checked against golden text and the handshake arithmetic; the request size does not
grow with N."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from google.protobuf import text_format

from ostinato_tcp.drone._encode import device_group_config, stream_config
from ostinato_tcp.drone._pb import ostemul_pb2 as emul
from ostinato_tcp.drone._pb import ostproto_pb2 as pb
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import (DeviceSpec, client_program, default_mac, runs_from_learned, server_program,
                                  server_runs)

from .helpers import scenario

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "streams"


def programs(sc):
    """The resolve form (Drone resolves MACs, computes checksums): the form of the golden encodings."""
    plan = make_plan(sc)
    runs = plan.space.stream_runs(plan.batches[0])
    return client_program(sc, runs), server_program(sc, server_runs(runs))


def build(sc):
    """The programs as the port encodes them (port ids 0 and 1, stream ids from 1)."""
    a, b = programs(sc)
    return stream_config(pb, 0, [1, 2], a), stream_config(pb, 1, [1], b)


def check_golden_text(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from {path} (UPDATE_GOLDEN=1 rewrites it after review)"


def check_golden(name: str, msg) -> None:
    check_golden_text(f"{name}.txt", text_format.MessageToString(msg))


def test_article_specs_golden():
    a, b = programs(scenario())
    for name, program in (("article-port-a", a), ("article-port-b", b)):
        check_golden_text(f"{name}.spec.json", json.dumps([dataclasses.asdict(s) for s in program], indent=1) + "\n")


def tcp(stream):
    return stream.protocol[3].Extensions[pb.tcp]


def test_article_streams_encoding_golden():
    a, b = build(scenario())
    check_golden("article-port-a", a)
    check_golden("article-port-b", b)


def test_handshake_arithmetic_and_order():
    a, b = build(scenario(**{"traffic.client_isn": 1000, "traffic.server_isn": 0xFFFFFFFF}))
    syn, ack = a.stream
    (synack,) = b.stream
    assert (tcp(syn).flags, tcp(syn).seq_num, tcp(syn).ack_num) == (0x02, 1000, 0)
    assert (tcp(synack).flags, tcp(synack).seq_num, tcp(synack).ack_num) == (0x12, 0xFFFFFFFF, 1001)
    assert (tcp(ack).flags, tcp(ack).seq_num, tcp(ack).ack_num) == (0x10, 1001, 0)  # s+1 wraps to 0
    # SYN hands over to ACK on port A (sequential transmit); ACK and SYN-ACK stop
    assert syn.core.ordinal < ack.core.ordinal
    assert syn.control.next == pb.StreamControl.e_nw_goto_next
    assert ack.control.next == synack.control.next == pb.StreamControl.e_nw_stop
    # source port varied on A, destination port varied on B: same base, count and step
    vf_a, vf_b = syn.protocol[3].variable_field[0], synack.protocol[3].variable_field[0]
    assert (vf_a.offset, vf_b.offset) == (0, 2)
    assert (vf_a.value, vf_a.count, vf_a.step) == (vf_b.value, vf_b.count, vf_b.step) == (23420, 1000, 1)
    # no TCP payload: IP total length is the two headers
    ip4 = syn.protocol[2].Extensions[pb.ip4]
    assert ip4.is_override_totlen and ip4.totlen == 40
    assert syn.protocol[0].Extensions[pb.mac].src_mac_mode == pb.Mac.e_mm_resolve


def test_several_client_ips_vary_ip_and_port():
    # the resolve form's interleaved layout: one stream per leg, both fields varying
    a, b = build(scenario(**{"connections.count": 100_000, "connections.client_ips": 4,
                             "connections.first_client_port": 16384, "traffic.rate": 100_000,
                             "traffic.drone_build": "resolve"}))
    syn = a.stream[0]
    (ip_vf,) = syn.protocol[2].variable_field
    (port_vf,) = syn.protocol[3].variable_field
    assert (ip_vf.offset, ip_vf.count, ip_vf.type) == (12, 4, ip_vf.kCounter32)
    assert port_vf.count == 25_001  # coprime with 4
    (b_ip_vf,) = b.stream[0].protocol[2].variable_field
    assert (b_ip_vf.offset, b_ip_vf.count, b_ip_vf.value) == (16, 4, ip_vf.value)


def test_request_size_does_not_grow_with_n():
    sizes = {}
    for n in (1_000, 1_000_000):
        sc = scenario(**{"connections.count": n, "connections.client_ips": 16, "connections.first_client_port": 1024,
                         "traffic.rate": 100_000, "traffic.batches": "off", "traffic.max_build_seconds": 1e9,
                         "traffic.drone_build": "resolve"})
        a, b = build(sc)
        sizes[n] = (len(a.SerializeToString()), len(b.SerializeToString()))
    # a larger N only changes a few varint bytes (counts), never the number of fields
    assert abs(sizes[1_000_000][0] - sizes[1_000][0]) <= 16
    assert abs(sizes[1_000_000][1] - sizes[1_000][1]) <= 16


def test_device_groups():
    cfg = device_group_config(pb, emul, 3, 9, DeviceSpec(name="ostinato-tcp:x:a", ip_base=0x0A010164, count=4,
                                                         prefix=24, gateway=0x0A010101, mac_base=None))
    g = cfg.device_group[0]
    assert g.device_count == 4
    assert g.Extensions[emul.mac].address == default_mac(0x0A010164) == 0x02000A010164
    ip4 = g.Extensions[emul.ip4]
    assert (ip4.address, ip4.prefix_length, ip4.default_gateway, ip4.step) == (0x0A010164, 24, 0x0A010101, 1)


def test_learned_translations_become_few_streams():
    pairs = [(7, p) for p in range(1000, 1100)] + [(7, 5000), (7, 5002), (7, 5004)] + [(8, 42)]
    runs = runs_from_learned(list(reversed(pairs)))
    assert [(r.ip_base, r.port_base, r.port_count, r.port_step) for r in runs] == [
        (7, 1000, 100, 1), (7, 5000, 3, 2), (8, 42, 1, 1)]
    assert sum(r.packets for r in runs) == len(pairs)


def test_nat_preserve_ports_sends_synacks_to_the_translated_address():
    sc = scenario(**{"nat.mode": "preserve-ports", "nat.address": "10.2.2.1", "connections.first_client_port": 20000})
    plan = make_plan(sc)
    f = plan.space.stream_runs(plan.batches[0])
    (run,) = server_runs(f, int(sc.nat.address))
    b = stream_config(pb, 1, [1], server_program(sc, [run]))
    ip4 = b.stream[0].protocol[2].Extensions[pb.ip4]
    assert ip4.dst_ip == 0x0A020201 and not b.stream[0].protocol[2].variable_field
    (vf,) = b.stream[0].protocol[3].variable_field
    assert (vf.offset, vf.value, vf.count) == (2, 20000, 1000)  # the original client ports


# ---------------------------------------------------------------------------- the fast build
def _packets(spec):
    """Every packet a spec makes Drone send, with the checksums Drone's fields would give."""
    from ostinato_tcp.ground.checksum import tcp_checksum

    out = []
    first_ck = (~spec.tcp_sum + spec.checksum_bias) & 0xFFFF
    for k in range(spec.count):
        port = spec.client_port + (k % spec.client_port_count) * spec.client_port_step
        given = (first_ck - (k % spec.client_port_count) * spec.client_port_step) & 0xFFFF
        src, dst, sport, dport = spec.addresses
        sport, dport = (port, dport) if spec.to_server else (sport, port)
        out.append((port, given, tcp_checksum(src, dst, sport, dport, spec.seq, spec.ack, spec.flags, spec.window)))
    return out


def test_fast_build_gives_every_packet_its_right_checksum_across_the_wrap():
    from ostinato_tcp.domain.streams import Wire

    # 30,000 connections from 10.1.1.100 to the article's server: the sum passes 0xFFFF inside the run
    sc = scenario(**{"connections.count": 30000, "connections.first_client_port": 20000, "traffic.rate": 10000})
    plan = make_plan(sc)
    runs = plan.space.stream_runs(plan.batches[0])
    wire = Wire(gateway_mac=0x02AA00000001, device_macs={int(sc.connections.client_ip): 0x020A010164,
                                                         int(sc.connections.server_ip): 0x020A020264})
    a = client_program(sc, runs, wire=wire)
    syn = [s for s in a if ":syn" in s.name]
    assert len(syn) == 2, [s.name for s in a]  # split once, at the wrap
    assert sum(s.count for s in syn) == 30000 and syn[1].client_port == syn[0].client_port + syn[0].count
    ports, bad = [], []
    for s in syn:
        for port, given, right in _packets(s):
            ports.append(port)
            if given != right:
                bad.append(port)
    assert ports == list(range(20000, 50000)) and bad == []
    assert [s.next for s in a] == ["next"] * (len(a) - 1) + ["stop"]
    # without the split, the packets after the wrap would be one too high
    whole = dataclasses.replace(syn[0], count=30000, client_port_count=30000)
    assert sum(g != r for _, g, r in _packets(whole)) == syn[1].count
    # the encoding: fixed MACs, both checksums given, the TCP one counting down with the port
    cfg = stream_config(pb, 0, range(1, len(a) + 1), a)
    mac = cfg.stream[0].protocol[0].Extensions[pb.mac]
    assert (mac.src_mac_mode, mac.dst_mac_mode, mac.src_mac, mac.dst_mac) == (
        pb.Mac.e_mm_fixed, pb.Mac.e_mm_fixed, 0x020A010164, 0x02AA00000001)
    ip4 = cfg.stream[0].protocol[2].Extensions[pb.ip4]
    from ostinato_tcp.ground.checksum import ipv4_checksum
    assert ip4.is_override_cksum and ip4.cksum == ipv4_checksum(ip4.src_ip, ip4.dst_ip)
    port_vf, ck_vf = cfg.stream[0].protocol[3].variable_field
    assert (ck_vf.offset, ck_vf.mode, ck_vf.count, ck_vf.step) == (16, ck_vf.kDecrement, syn[0].count, 1)
    check_golden("fast-port-a", cfg)


def test_fast_build_sends_one_stream_per_client_ip_in_connection_order():
    from ostinato_tcp.domain.streams import Wire

    sc = scenario(**{"connections.count": 100_000, "connections.client_ips": 4, "connections.first_client_port": 16384,
                     "traffic.rate": 100_000, "traffic.drone_build": "fast"})
    plan = make_plan(sc)
    assert plan.space.blocks
    runs = plan.space.stream_runs(plan.batches[0])
    macs = {plan.space.first_ip + i: 0x0200_0000_0000 + i for i in range(4)}
    macs[int(sc.connections.server_ip)] = 0x02FF
    wire = Wire(0x02AA, macs)
    a = client_program(sc, runs, wire=wire)
    b = server_program(sc, server_runs(runs), wire=wire)
    # SYN k, SYN-ACK k and ACK k are the k-th packet of their leg: the same order in all three
    order = {}
    for leg, specs in (("syn", [s for s in a if ":syn" in s.name]), ("ack", [s for s in a if ":ack" in s.name]),
                       ("synack", b)):
        order[leg] = [(s.client_ip, s.client_port + k * s.client_port_step) for s in specs for k in range(s.count)]
    assert order["syn"] == order["ack"] == order["synack"]
    assert order["syn"] == [plan.space.client_of(n) for n in range(100_000)]
    assert all(s.src_mac == macs[s.client_ip] for s in a) and all(s.dst_mac == 0x02AA for s in a + b)
