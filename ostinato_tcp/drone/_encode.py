"""Stream and device specs encoded into Drone's messages.

Functions take the backend's message namespaces (``drone.pb`` / ``drone.emul``), so
the same specs encode alike for the built-in client, python-ostinato and the fake.
Field numbers and variable-field offsets: docs/drone-wire.md.
"""

from __future__ import annotations

from typing import Any, Iterable

from ostinato_tcp.ground.addr import hi_lo
from ostinato_tcp.ground.checksum import ipv4_checksum
from ostinato_tcp.domain.streams import DATA_BYTES, DeviceSpec, StreamSpec

PROTO_MAC, PROTO_PAYLOAD, PROTO_ETH2, PROTO_IP4, PROTO_IP6, PROTO_TCP, PROTO_ICMP = 100, 101, 200, 301, 302, 400, 402
IP_TCP_HEADERS = 40  # IPv4 + TCP headers, no options: the handshake's segments carry no data
TCP_HEADER = 20  # the IPv6 payload: the TCP header alone
OFF_IP_SRC, OFF_IP_DST = 12, 16
OFF_IP6_SRC_LOW, OFF_IP6_DST_LOW = 20, 36  # the low 32 bits of the IPv6 source / destination
OFF_TCP_SPORT, OFF_TCP_DPORT, OFF_TCP_CKSUM = 0, 2, 16
OFF_PAYLOAD_PLACE = 4  # a data segment's place in its program: the payload's second 32-bit word


def device_group_config(pb: Any, emul: Any, port_id: int, group_id: int, spec: DeviceSpec):
    """DeviceGroupConfigList holding one group."""
    cfg = pb.DeviceGroupConfigList()
    cfg.port_id.id = port_id
    g = cfg.device_group.add()
    g.device_group_id.id = group_id
    g.core.name = spec.name
    g.device_count = spec.count
    mac = g.Extensions[emul.mac]
    mac.address = spec.mac
    mac.step = 1
    if spec.family == 6:
        ip6 = g.Extensions[emul.ip6]
        ip6.address.hi, ip6.address.lo = hi_lo(spec.ip_base)
        ip6.prefix_length = spec.prefix
        ip6.default_gateway.hi, ip6.default_gateway.lo = hi_lo(spec.gateway)
        ip6.step.hi, ip6.step.lo = hi_lo(spec.ip_step)
        return cfg
    ip4 = g.Extensions[emul.ip4]
    ip4.address = spec.ip_base
    ip4.prefix_length = spec.prefix
    ip4.default_gateway = spec.gateway
    ip4.step = spec.ip_step
    return cfg


def _vf(proto, *, bits: int, offset: int, value: int, count: int, step: int, down: bool = False) -> None:
    vf = proto.variable_field.add()
    vf.type = vf.kCounter32 if bits == 32 else vf.kCounter16
    vf.offset = offset
    vf.mask = 0xFFFFFFFF if bits == 32 else 0xFFFF
    vf.value = value
    vf.mode = vf.kDecrement if down else vf.kIncrement
    vf.count = count
    vf.step = step


def _encode_stream(pb: Any, stream, spec: StreamSpec, ordinal: int) -> None:
    stream.core.name = spec.name
    stream.core.is_enabled = spec.enabled
    stream.core.ordinal = ordinal
    stream.core.len_mode = pb.StreamCore.e_fl_fixed
    stream.core.frame_len = spec.frame_length
    ctl = stream.control
    ctl.unit = pb.StreamControl.e_su_packets
    ctl.mode = pb.StreamControl.e_sm_fixed
    ctl.num_packets = spec.count
    ctl.packets_per_sec = spec.rate
    ctl.next = pb.StreamControl.e_nw_goto_next if spec.next == "next" else pb.StreamControl.e_nw_stop

    p = stream.protocol.add()
    p.protocol_id.id = PROTO_MAC
    mac = p.Extensions[pb.mac]
    if spec.dst_mac is None:
        mac.dst_mac_mode = pb.Mac.e_mm_resolve
    else:
        mac.dst_mac_mode, mac.dst_mac = pb.Mac.e_mm_fixed, spec.dst_mac
    if spec.src_mac is None:
        mac.src_mac_mode = pb.Mac.e_mm_resolve
    else:
        mac.src_mac_mode, mac.src_mac = pb.Mac.e_mm_fixed, spec.src_mac
    stream.protocol.add().protocol_id.id = PROTO_ETH2

    if spec.to_server:
        src_ip, dst_ip, sport, dport = spec.client_ip, spec.server_ip, spec.client_port, spec.server_port
        ip_off, port_off = OFF_IP_SRC, OFF_TCP_SPORT
    else:
        src_ip, dst_ip, sport, dport = spec.server_ip, spec.client_ip, spec.server_port, spec.client_port
        ip_off, port_off = OFF_IP_DST, OFF_TCP_DPORT
    data = DATA_BYTES if spec.payload_tag is not None else 0
    ip_proto = stream.protocol.add()
    if spec.family == 6:
        ip_proto.protocol_id.id = PROTO_IP6
        ip6 = ip_proto.Extensions[pb.ip6]
        ip6.src_addr_hi, ip6.src_addr_lo = hi_lo(src_ip)
        ip6.dst_addr_hi, ip6.dst_addr_lo = hi_lo(dst_ip)
        ip6.is_override_payload_length = True  # frame padding is not TCP payload
        ip6.payload_length = TCP_HEADER + data
        ip_off = OFF_IP6_SRC_LOW if spec.to_server else OFF_IP6_DST_LOW
    else:
        ip_proto.protocol_id.id = PROTO_IP4
        ip4 = ip_proto.Extensions[pb.ip4]
        ip4.src_ip = src_ip
        ip4.dst_ip = dst_ip
        ip4.is_override_totlen = True  # frame padding is not TCP payload
        ip4.totlen = IP_TCP_HEADERS + data
    tcp_proto = stream.protocol.add()
    tcp_proto.protocol_id.id = PROTO_TCP
    tcp = tcp_proto.Extensions[pb.tcp]
    tcp.is_override_src_port = True
    tcp.is_override_dst_port = True
    tcp.src_port = sport
    tcp.dst_port = dport
    tcp.flags = spec.flags
    tcp.seq_num = spec.seq & 0xFFFFFFFF
    tcp.ack_num = spec.ack & 0xFFFFFFFF
    tcp.window = spec.window
    if spec.varies_ip:
        _vf(ip_proto, bits=32, offset=ip_off, value=spec.client_ip & 0xFFFFFFFF, count=spec.client_ip_count, step=1)
    if spec.varies_port:
        _vf(tcp_proto, bits=16, offset=port_off, value=spec.client_port, count=spec.client_port_count,
            step=spec.client_port_step)
    if data:  # the run's tag, then the packet's place in the program (the frame holds exactly this much)
        pay_proto = stream.protocol.add()
        pay_proto.protocol_id.id = PROTO_PAYLOAD
        pay = pay_proto.Extensions[pb.payload]
        pay.pattern_mode, pay.pattern = pb.Payload.e_dp_fixed_word, spec.payload_tag
        _vf(pay_proto, bits=32, offset=OFF_PAYLOAD_PLACE, value=spec.payload_first, count=max(1, spec.count), step=1)
    if spec.checksums and spec.family == 6:
        raise ValueError(f"stream {spec.name}: the fast build (given checksums) is IPv4 only")
    if spec.checksums:  # the header is constant along the stream; the TCP sum moves with the port
        ip4.is_override_cksum = True
        ip4.cksum = ipv4_checksum(src_ip, dst_ip, IP_TCP_HEADERS + data)
        tcp.is_override_cksum = True
        tcp.cksum = (~spec.tcp_sum + spec.checksum_bias) & 0xFFFF
        if spec.varies_port:  # Drone applies the field over the given checksum
            _vf(tcp_proto, bits=16, offset=OFF_TCP_CKSUM, value=tcp.cksum, count=spec.client_port_count,
                step=spec.sum_step, down=True)


def stream_config(pb: Any, port_id: int, stream_ids: Iterable[int], program: list[StreamSpec]):
    """StreamConfigList of a program: stream ``i`` gets ``stream_ids[i]`` and ordinal ``i``."""
    ids = list(stream_ids)
    if len(ids) != len(program):
        raise ValueError(f"{len(program)} streams need as many ids (got {len(ids)})")
    cfg = pb.StreamConfigList()
    cfg.port_id.id = port_id
    for ordinal, (sid, spec) in enumerate(zip(ids, program)):
        s = cfg.stream.add()
        s.stream_id.id = sid
        _encode_stream(pb, s, spec, ordinal)
    return cfg


def icmp_echo_config(pb: Any, port_id: int, stream_id: int, name: str, src_ip: int, dst_ip: int, src_mac: int,
                     dst_mac: int):
    """One ICMP echo request (the preflight's probe of the DUT's tracking), fixed MACs."""
    cfg = pb.StreamConfigList()
    cfg.port_id.id = port_id
    s = cfg.stream.add()
    s.stream_id.id = stream_id
    s.core.name, s.core.is_enabled, s.core.ordinal = name, True, 0
    s.core.len_mode, s.core.frame_len = pb.StreamCore.e_fl_fixed, 64
    s.control.unit, s.control.mode, s.control.num_packets = pb.StreamControl.e_su_packets, pb.StreamControl.e_sm_fixed, 1
    s.control.packets_per_sec, s.control.next = 10, pb.StreamControl.e_nw_stop
    p = s.protocol.add()
    p.protocol_id.id = PROTO_MAC
    mac = p.Extensions[pb.mac]
    mac.dst_mac_mode, mac.dst_mac, mac.src_mac_mode, mac.src_mac = pb.Mac.e_mm_fixed, dst_mac, pb.Mac.e_mm_fixed, src_mac
    s.protocol.add().protocol_id.id = PROTO_ETH2
    p = s.protocol.add()
    p.protocol_id.id = PROTO_IP4
    ip4 = p.Extensions[pb.ip4]
    ip4.src_ip, ip4.dst_ip = src_ip, dst_ip
    p = s.protocol.add()
    p.protocol_id.id = PROTO_ICMP
    icmp = p.Extensions[pb.icmp]
    icmp.type, icmp.code, icmp.identifier, icmp.sequence = 8, 0, 0x6F74, 1  # 'ot'
    return cfg
