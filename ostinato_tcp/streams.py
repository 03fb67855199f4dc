"""Streams and emulated devices as plain specs: what each port sends, in connection terms.

A :class:`StreamSpec` says what one Drone stream sends, named by the connection's
sides (client, server) rather than by header fields; a program is the list of
streams a port holds for one phase, sent in order. The port
(:class:`ostinato_tcp.ports.DronePort`) encodes them into the backend's messages
(:mod:`ostinato_tcp.drone._encode`), so this module holds no protobuf.

Port A (client) holds two streams sent in sequence: SYN (goto next) then ACK
(stop). Port B (server) holds the SYN-ACK stream(s). Every value that changes per
connection comes from Drone's variable fields, so a program has the same size for
10 connections or 10 million.

Sequence numbers follow the handshake: SYN seq=c; SYN-ACK seq=s ack=c+1;
ACK seq=c+1 ack=s+1 (c, s: the client's and the server's initial numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .ownership import object_name
from .scenario import Scenario
from .tuples import StreamFields

TCP_SYN, TCP_ACK = 0x02, 0x10


@dataclass(frozen=True)
class StreamSpec:
    """One Drone stream of a handshake leg.

    Packet ``k`` of the stream carries client IP ``client_ip + k mod client_ip_count``
    and client port ``client_port + (k mod client_port_count) * client_port_step``
    (Drone's variable fields count on their own); server address and port are fixed.
    ``to_server``: the client sends it (SYN, ACK), else the server (SYN-ACK).
    """

    name: str
    to_server: bool
    flags: int
    client_ip: int
    client_port: int
    server_ip: int
    server_port: int
    seq: int
    ack: int
    count: int  # packets (0: the stream sends nothing)
    rate: float  # packets per second
    next: Literal["next", "stop"] = "stop"
    client_ip_count: int = 1
    client_port_count: int = 1
    client_port_step: int = 1
    enabled: bool = True
    window: int = 1024
    frame_length: int = 64

    def __post_init__(self) -> None:
        if self.count < 0 or self.rate <= 0 or self.client_ip_count < 1 or self.client_port_count < 1:
            raise ValueError(f"stream {self.name}: count, rate and field counts must be positive")
        if self.next not in ("next", "stop"):
            raise ValueError(f"stream {self.name}: next is 'next' or 'stop', not {self.next!r}")

    @property
    def varies_ip(self) -> bool:
        return self.client_ip_count > 1

    @property
    def varies_port(self) -> bool:
        return self.count > 1 and self.client_port_count > 1


@dataclass(frozen=True)
class DeviceSpec:
    """An emulated device group: ``count`` IPv4 hosts from ``ip_base`` (step 1) that answer
    ARP and resolve ``gateway``; MACs from ``mac_base`` (default: 02:00 + the IPv4 address)."""

    name: str
    ip_base: int
    count: int
    prefix: int
    gateway: int
    mac_base: int | None = None

    @property
    def mac(self) -> int:
        return self.mac_base if self.mac_base is not None else default_mac(self.ip_base)


def default_mac(ip: int) -> int:
    """A locally administered MAC that spells the IPv4 address: 02:00:a.b.c.d."""
    return (0x0200 << 32) | ip


def client_devices(sc: Scenario, first_ip: int, count: int) -> DeviceSpec:
    dev = sc.ports.a.device
    return DeviceSpec(name=object_name(sc.name, "a"), ip_base=first_ip, count=count, prefix=dev.prefix,
                      gateway=int(dev.gateway), mac_base=dev.mac_int())


def server_devices(sc: Scenario) -> DeviceSpec:
    dev = sc.ports.b.device
    return DeviceSpec(name=object_name(sc.name, "b"), ip_base=int(sc.connections.server_ip), count=1,
                      prefix=dev.prefix, gateway=int(dev.gateway), mac_base=dev.mac_int())


def client_program(sc: Scenario, fields: StreamFields, *, syn: bool = True, ack: bool = True) -> list[StreamSpec]:
    """Port A: the SYN stream, then the ACK stream (sequential transmit, goto next).
    A leg left out stays in the program, disabled, so stream ids stay put across phases."""
    t, c = sc.traffic, sc.connections
    common = dict(to_server=True, client_ip=fields.ip_base, client_ip_count=fields.ip_count,
                  client_port=fields.port_base, client_port_count=fields.port_count,
                  client_port_step=fields.port_step, server_ip=int(c.server_ip), server_port=c.server_port,
                  count=fields.packets, rate=t.rate, window=t.window, frame_length=t.frame_length)
    return [StreamSpec(name=object_name(sc.name, "syn"), flags=TCP_SYN, seq=t.client_isn, ack=0, next="next",
                       enabled=syn, **common),
            StreamSpec(name=object_name(sc.name, "ack"), flags=TCP_ACK, seq=t.client_isn + 1,
                       ack=t.server_isn + 1, next="stop", enabled=ack, **common)]


def server_program(sc: Scenario, runs: list[StreamFields], *, enabled: bool = True) -> list[StreamSpec]:
    """Port B: SYN-ACK stream(s), one per run of destinations; packet k of a run goes to
    (ip_base + k mod ip_count, port_base + (k mod port_count) * port_step)."""
    t, c = sc.traffic, sc.connections
    out = []
    for i, run in enumerate(runs):
        role = "synack" if len(runs) == 1 else f"synack-{i}"
        out.append(StreamSpec(
            name=object_name(sc.name, role), to_server=False, flags=TCP_SYN | TCP_ACK, client_ip=run.ip_base,
            client_ip_count=run.ip_count, client_port=run.port_base, client_port_count=run.port_count,
            client_port_step=run.port_step, server_ip=int(c.server_ip), server_port=c.server_port,
            seq=t.server_isn, ack=t.client_isn + 1, count=run.packets, rate=t.rate,
            next="stop" if i == len(runs) - 1 else "next", enabled=enabled, window=t.window,
            frame_length=t.frame_length))
    return out


def server_runs(fields: StreamFields, nat_address: int | None = None) -> list[StreamFields]:
    """The SYN-ACK destinations of a batch: the clients themselves, or with port-preserving
    NAT their one translated address (same ports)."""
    if nat_address is None:
        return [fields]
    return [replace(fields, ip_base=nat_address, ip_count=1)]


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
