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
from ostinato_tcp.plan import make_plan
from ostinato_tcp.streams import (DeviceSpec, client_program, default_mac, runs_from_learned, server_program,
                                  server_runs)

from .helpers import scenario

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "streams"


def programs(sc):
    plan = make_plan(sc)
    fields = plan.space.stream_fields(plan.batches[0])
    return client_program(sc, fields), server_program(sc, server_runs(fields))


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
    a, b = build(scenario(**{"connections.count": 100_000, "connections.client_ips": 4,
                             "connections.first_client_port": 16384, "traffic.rate": 100_000}))
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
                         "traffic.rate": 100_000, "traffic.batches": "off", "traffic.max_build_seconds": 1e9})
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
    f = plan.space.stream_fields(plan.batches[0])
    (run,) = server_runs(f, int(sc.nat.address))
    b = stream_config(pb, 1, [1], server_program(sc, [run]))
    ip4 = b.stream[0].protocol[2].Extensions[pb.ip4]
    assert ip4.dst_ip == 0x0A020201 and not b.stream[0].protocol[2].variable_field
    (vf,) = b.stream[0].protocol[3].variable_field
    assert (vf.offset, vf.value, vf.count) == (2, 20000, 1000)  # the original client ports
