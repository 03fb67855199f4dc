"""Drone stream and device-group configurations built from the plan.

Port A (client) holds two streams sent in sequence: SYN (goto next) then ACK
(stop). Port B (server) holds the SYN-ACK stream(s). Every value that changes per
connection comes from Drone's variable fields, so a request has the same size
for 10 connections or 10 million.

Sequence numbers follow the handshake: SYN seq=c; SYN-ACK seq=s ack=c+1;
ACK seq=c+1 ack=s+1 (c, s: the client's and the server's initial numbers).

Functions here take the backend's message namespace (``drone.pb``/``drone.emul``)
so they work the same with the built-in client and python-ostinato.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from .scenario import Scenario
from .tuples import StreamFields

PROTO_MAC, PROTO_ETH2, PROTO_IP4, PROTO_TCP = 100, 200, 301, 400
TCP_SYN, TCP_ACK = 0x02, 0x10
IP_TCP_HEADERS = 40  # IPv4 + TCP headers, no options: the segments carry no data
OFF_IP_SRC, OFF_IP_DST = 12, 16
OFF_TCP_SPORT, OFF_TCP_DPORT = 0, 2
NAME_PREFIX = "ostinato-tcp:"


def stream_name(sc: Scenario, role: str) -> str:
    return f"{NAME_PREFIX}{sc.name}:{role}"


def default_mac(ip: int) -> int:
    """A locally administered MAC that spells the IPv4 address: 02:00:a.b.c.d."""
    return (0x0200 << 32) | ip


def device_group(pb, emul, *, port_id: int, group_id: int, name: str, ip_base: int, count: int, prefix: int,
                 gateway: int, mac_base: int | None):
    cfg = pb.DeviceGroupConfigList()
    cfg.port_id.id = port_id
    g = cfg.device_group.add()
    g.device_group_id.id = group_id
    g.core.name = name
    g.device_count = count
    mac = g.Extensions[emul.mac]
    mac.address = mac_base if mac_base is not None else default_mac(ip_base)
    mac.step = 1
    ip4 = g.Extensions[emul.ip4]
    ip4.address = ip_base
    ip4.prefix_length = prefix
    ip4.default_gateway = gateway
    ip4.step = 1
    return cfg


def _vf(proto, pb, *, bits: int, offset: int, value: int, count: int, step: int) -> None:
    vf = proto.variable_field.add()
    vf.type = vf.kCounter32 if bits == 32 else vf.kCounter16
    vf.offset = offset
    vf.mask = 0xFFFFFFFF if bits == 32 else 0xFFFF
    vf.value = value
    vf.mode = vf.kIncrement
    vf.count = count
    vf.step = step


def _stream(pb, stream, *, name: str, ordinal: int, enabled: bool, packets: int, rate: float, last: bool,
            frame_len: int, src_ip: int, dst_ip: int, sport: int, dport: int, flags: int, seq: int, ack: int,
            window: int):
    stream.core.name = name
    stream.core.is_enabled = enabled
    stream.core.ordinal = ordinal
    stream.core.len_mode = pb.StreamCore.e_fl_fixed
    stream.core.frame_len = frame_len
    ctl = stream.control
    ctl.unit = pb.StreamControl.e_su_packets
    ctl.mode = pb.StreamControl.e_sm_fixed
    ctl.num_packets = packets
    ctl.packets_per_sec = rate
    ctl.next = pb.StreamControl.e_nw_stop if last else pb.StreamControl.e_nw_goto_next

    p = stream.protocol.add()
    p.protocol_id.id = PROTO_MAC
    mac = p.Extensions[pb.mac]
    mac.dst_mac_mode = pb.Mac.e_mm_resolve
    mac.src_mac_mode = pb.Mac.e_mm_resolve
    stream.protocol.add().protocol_id.id = PROTO_ETH2
    p = stream.protocol.add()
    p.protocol_id.id = PROTO_IP4
    ip4 = p.Extensions[pb.ip4]
    ip4.src_ip = src_ip
    ip4.dst_ip = dst_ip
    ip4.is_override_totlen = True  # frame padding is not TCP payload
    ip4.totlen = IP_TCP_HEADERS
    p = stream.protocol.add()
    p.protocol_id.id = PROTO_TCP
    tcp = p.Extensions[pb.tcp]
    tcp.is_override_src_port = True
    tcp.is_override_dst_port = True
    tcp.src_port = sport
    tcp.dst_port = dport
    tcp.flags = flags
    tcp.seq_num = seq & 0xFFFFFFFF
    tcp.ack_num = ack & 0xFFFFFFFF
    tcp.window = window
    return stream


def client_streams(pb, sc: Scenario, *, port_id: int, syn_id: int, ack_id: int, fields: StreamFields,
                   syn_enabled: bool = True, ack_enabled: bool = True):
    """Port A: the SYN stream, then the ACK stream (sequential transmit, goto next)."""
    t, c = sc.traffic, sc.connections
    cfg = pb.StreamConfigList()
    cfg.port_id.id = port_id
    server = int(c.server_ip)
    for sid, role, ordinal, enabled, flags, seq, ack in (
            (syn_id, "syn", 0, syn_enabled, TCP_SYN, t.client_isn, 0),
            (ack_id, "ack", 1, ack_enabled, TCP_ACK, t.client_isn + 1, t.server_isn + 1)):
        s = cfg.stream.add()
        s.stream_id.id = sid
        _stream(pb, s, name=stream_name(sc, role), ordinal=ordinal, enabled=enabled, packets=fields.packets,
                rate=t.rate, last=(role == "ack"), frame_len=t.frame_length, src_ip=fields.ip_base,
                dst_ip=server, sport=fields.port_base, dport=c.server_port, flags=flags, seq=seq, ack=ack,
                window=t.window)
        ip_proto, tcp_proto = s.protocol[2], s.protocol[3]
        if fields.ip_count > 1:
            _vf(ip_proto, pb, bits=32, offset=OFF_IP_SRC, value=fields.ip_base, count=fields.ip_count, step=1)
        if fields.packets > 1:
            _vf(tcp_proto, pb, bits=16, offset=OFF_TCP_SPORT, value=fields.port_base, count=fields.port_count,
                step=fields.port_step)
    return cfg


def server_runs(fields: StreamFields, nat_address: int | None = None) -> list[StreamFields]:
    """The SYN-ACK destinations of a batch: the clients themselves, or with port-preserving
    NAT their one translated address (same ports)."""
    if nat_address is None:
        return [fields]
    return [replace(fields, ip_base=nat_address, ip_count=1)]


def server_streams(pb, sc: Scenario, *, port_id: int, stream_ids: list[int], runs: list[StreamFields]):
    """Port B: SYN-ACK stream(s), one per run of destinations; packet k of a run goes to
    (ip_base + k mod ip_count, port_base + (k mod port_count) * port_step)."""
    t, c = sc.traffic, sc.connections
    if len(stream_ids) != len(runs):
        raise ValueError("one stream id per run")
    cfg = pb.StreamConfigList()
    cfg.port_id.id = port_id
    for i, (sid, run) in enumerate(zip(stream_ids, runs)):
        s = cfg.stream.add()
        s.stream_id.id = sid
        role = "synack" if len(runs) == 1 else f"synack-{i}"
        _stream(pb, s, name=stream_name(sc, role), ordinal=i, enabled=True, packets=run.packets, rate=t.rate,
                last=(i == len(runs) - 1), frame_len=t.frame_length, src_ip=int(c.server_ip), dst_ip=run.ip_base,
                sport=c.server_port, dport=run.port_base, flags=TCP_SYN | TCP_ACK, seq=t.server_isn,
                ack=t.client_isn + 1, window=t.window)
        ip_proto, tcp_proto = s.protocol[2], s.protocol[3]
        if run.ip_count > 1:
            _vf(ip_proto, pb, bits=32, offset=OFF_IP_DST, value=run.ip_base, count=run.ip_count, step=1)
        if run.packets > 1 and run.port_count > 1:
            _vf(tcp_proto, pb, bits=16, offset=OFF_TCP_DPORT, value=run.port_base, count=run.port_count,
                step=run.port_step)
    return cfg


def runs_from_learned(pairs: list[tuple[int, int]]) -> list[StreamFields]:
    """Group learned (translated IP, translated port) destinations into as few SYN-ACK
    streams as possible: per IP, maximal arithmetic runs of sorted ports. In the phased
    procedure the SYN-ACK order does not matter, so sorting is free."""
    by_ip: dict[int, list[int]] = {}
    for ip, port in pairs:
        by_ip.setdefault(ip, []).append(port)
    runs: list[StreamFields] = []
    for ip in sorted(by_ip):
        ports = sorted(by_ip[ip])
        i = 0
        while i < len(ports):
            j = i + 1
            step = ports[j] - ports[i] if j < len(ports) else 1
            if step <= 0:
                step = 1
            while j < len(ports) and ports[j] - ports[j - 1] == step:
                j += 1
            n = j - i
            runs.append(StreamFields(packets=n, ip_base=ip, ip_count=1, port_base=ports[i], port_count=n,
                                     port_step=step if n > 1 else 1))
            i = j
    return runs


def ip_str(value: int) -> str:
    return str(ipaddress.IPv4Address(value))
