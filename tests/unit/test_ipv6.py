"""IPv6: the scenario's checks, the connection space, Drone's Ip6 streams and devices, the
TCP checksum over the IPv6 pseudo-header, the DUT's commands and the verdict on IPv6 dumps."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from ostinato_tcp.ground.checksum import tcp_sum
from ostinato_tcp.drone._encode import device_group_config, stream_config
from ostinato_tcp.drone._pb import ostemul_pb2 as emul
from ostinato_tcp.drone._pb import ostproto_pb2 as pb
from ostinato_tcp.dut import commands as C
from ostinato_tcp.domain.verdict import Expected
from ostinato_tcp.dut.reader import judge_text
from ostinato_tcp.errors import PlanError, ScenarioError
from ostinato_tcp.ground.measure import NDP_FRAME_BYTES, split_frames
from ostinato_tcp.ground.pcap import pcap_tcp
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import client_devices, client_program, server_program, server_runs
from ostinato_tcp.domain.tuples import ConnectionSpace

from .helpers import scenario

V6 = {"connections.client_ip": "fd00:1::100", "connections.server_ip": "fd00:2::100",
      "ports.a.device.gateway": "fd00:1::1", "ports.a.device.prefix": 64,
      "ports.b.device.gateway": "fd00:2::1", "ports.b.device.prefix": 64}


def v6(**changes):
    return scenario(**{**V6, **changes})


def test_an_ipv6_scenario_defaults_to_frames_that_hold_ipv6_and_tcp():
    sc = v6()
    assert sc.connections.family == 6 and sc.traffic.frame_length == 78
    plan = make_plan(sc, None)
    assert not plan.fast and not plan.space.blocks and plan.space.family == 6  # Drone resolves for IPv6
    assert plan.space.client_ip_range() == ("fd00:1::100", "fd00:1::100")


@pytest.mark.parametrize("change,message", [
    ({"connections.server_ip": "10.2.2.100"}, "connections.server_ip: 10.2.2.100 is IPv4 but client_ip fd00:1::100 "
                                              "is IPv6"),
    ({"ports.b.device.gateway": "10.2.2.1", "ports.b.device.prefix": 24}, "ports.b.device.gateway: 10.2.2.1 is IPv4"),
    ({"nat.mode": "preserve-ports", "nat.address": "10.9.9.9"}, "nat.mode: preserve-ports is IPv4 only"),
    ({"traffic.drone_build": "fast"}, "traffic.drone_build: fast is IPv4 only"),
    ({"traffic.frame_length": 64}, "traffic.frame_length: 64 is too short for IPv6 + TCP: at least 78"),
    ({"ports.a.device.gateway": "fd00:9::1"}, "ports.a.device.gateway: fd00:9::1/64 is not on the subnet"),
])
def test_bad_ipv6_input_names_the_field(change, message):
    with pytest.raises(ScenarioError) as e:
        v6(**change)
    assert message in str(e.value)


def test_ipv4_prefix_limit_names_the_prefix():
    with pytest.raises(ScenarioError, match=r"ports.a.device.prefix: must be at most 30 for IPv4 \(got 40\)"):
        scenario(**{"ports.a.device.prefix": 40})


def test_client_ips_vary_in_the_low_32_bits_only():
    sp = ConnectionSpace.layout(client_ip="fd00:1::ffff:fffe", client_ips=4, first_port=20000, step=1,
                                server_ip="fd00:2::100", server_port=80, total=100, batch_size=100)
    with pytest.raises(PlanError, match="low 32 bits"):
        sp.prove_unique()


def test_ipv6_streams_encode_ip6_with_the_low_address_bits_varied():
    sc = v6(**{"connections.client_ips": 3, "connections.count": 30})
    plan = make_plan(sc, None)
    runs = plan.space.stream_runs(plan.batches[0])
    a = client_program(sc, runs)
    b = server_program(sc, server_runs(runs))
    cfg = stream_config(pb, 0, range(len(a)), a)
    syn = cfg.stream[0]
    ip = syn.protocol[2]
    assert ip.protocol_id.id == 302 and syn.core.frame_len == 78
    ip6 = ip.Extensions[pb.ip6]
    client, server = int(ipaddress.ip_address("fd00:1::100")), int(ipaddress.ip_address("fd00:2::100"))
    assert (ip6.src_addr_hi << 64 | ip6.src_addr_lo) == client and (ip6.dst_addr_hi << 64 | ip6.dst_addr_lo) == server
    assert ip6.is_override_payload_length and ip6.payload_length == 20
    vf = ip.variable_field[0]
    assert (vf.offset, vf.value, vf.count) == (20, client & 0xFFFFFFFF, 3)  # the source's low 32 bits
    synack = stream_config(pb, 1, [1], b).stream[0].protocol[2]
    assert synack.variable_field[0].offset == 36  # the destination's low 32 bits


def test_ipv6_devices_are_ip6_emulation():
    sc = v6()
    dev = client_devices(sc, int(sc.connections.client_ip), 2)
    g = device_group_config(pb, emul, 0, 1, dev).device_group[0]
    ip6 = g.Extensions[emul.ip6]
    assert (ip6.address.hi << 64 | ip6.address.lo) == int(sc.connections.client_ip)
    assert (ip6.default_gateway.hi << 64 | ip6.default_gateway.lo) == int(ipaddress.ip_address("fd00:1::1"))
    assert ip6.prefix_length == 64 and (ip6.step.hi, ip6.step.lo) == (0, 1) and g.device_count == 2
    assert not g.HasExtension(emul.ip4)


def _words(data: bytes) -> int:
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def test_tcp_sum_takes_the_ipv6_pseudo_header():
    src, dst = int(ipaddress.ip_address("fd00:1::100")), int(ipaddress.ip_address("fd00:2::100"))
    header = struct.pack("!HHIIBBHHH", 30000, 8080, 100, 0, 0x50, 0x02, 1024, 0, 0)
    pseudo = src.to_bytes(16, "big") + dst.to_bytes(16, "big") + (20).to_bytes(4, "big") + bytes([0, 0, 0, 6])
    assert tcp_sum(src, dst, 30000, 8080, 100, 0, 0x02, 1024) == _words(pseudo + header)


def test_dut_commands_read_the_ipv6_table():
    sp = make_plan(v6(**{"connections.server_ips": 2}), None).space
    assert C.dump_argv(sp.servers)[:6] == ["conntrack", "-L", "-f", "ipv6", "-p", "tcp"]
    assert C.clear_test_argvs(sp.servers)[1][-3:] == ["fd00:2::101", "--orig-port-dst", "8080"]


def test_verdict_on_an_ipv6_dump_in_any_address_spelling():
    sp = make_plan(v6(**{"connections.count": 20}), None).space
    exp = Expected(space=sp)
    lines = []
    for n in range(20):
        ip, port = sp.client_of(n)
        c = sp.ip_text(ip) if n else "FD00:1:0:0:0:0:0:100"  # another spelling of the same address
        lines.append(f"tcp      6 431999 ESTABLISHED src={c} dst=fd00:2::100 sport={port} dport=8080 "
                     f"src=fd00:2::100 dst={c} sport=8080 dport={port} [ASSURED] mark=0 use=1\n")
    lines.append("tcp      6 431999 ESTABLISHED src=fd00:1::100 dst=fd00:2::100 sport=1 dport=8080 "
                 "src=fd00:2::100 dst=fd00:1::100 sport=8080 dport=1 [ASSURED] mark=0 use=1\n")
    v = judge_text(exp, "".join(lines))
    assert v.passed and v.established_assured == 20 and v.unexpected == 1
    assert exp.original_of(0) == ("fd00:1::100", "fd00:2::100", sp.first_port, 8080)


def test_ipv6_frames_in_a_capture_and_the_ndp_frames_apart():
    src, dst = int(ipaddress.ip_address("fd00:1::100")), int(ipaddress.ip_address("fd00:2::100"))
    eth = b"\x02" * 12 + b"\x86\xdd"
    ip6 = struct.pack("!IHBB", 0x60000000, 20, 6, 64) + src.to_bytes(16, "big") + dst.to_bytes(16, "big")
    tcp = struct.pack("!HHIIBBHHH", 30000, 8080, 100, 0, 0x50, 0x02, 1024, 0, 0)
    frame = eth + ip6 + tcp
    blob = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + struct.pack("<IIII", 5, 250, len(frame),
                                                                                      len(frame)) + frame
    assert list(pcap_tcp(blob)) == [(5.00025, src, dst, 30000, 8080, 0x02)]
    f = split_frames(1000 + 3, 1000 * 74 + 3 * NDP_FRAME_BYTES, 78, NDP_FRAME_BYTES)
    assert (f.tcp, f.other, f.exact) == (1000, 3, True)
