"""Streams and emulated devices as plain specs: what each port sends, in connection terms.

A :class:`StreamSpec` says what one Drone stream sends, named by the connection's
sides (client, server) rather than by header fields; a program is the list of
streams a port holds for one phase, sent in order. The port
(:class:`ostinato_tcp.drone.port.DronePort`) encodes them into the backend's messages
(:mod:`ostinato_tcp.drone._encode`), so this module holds no protobuf.

Port A (client) holds two streams sent in sequence: SYN (goto next) then ACK
(stop). Port B (server) holds the SYN-ACK stream(s). Every value that changes per
connection comes from Drone's variable fields, so a program has the same size for
10 connections or 10 million.

Sequence numbers follow the handshake: SYN seq=c; SYN-ACK seq=s ack=c+1;
ACK seq=c+1 ack=s+1 (c, s: the client's and the server's initial numbers). The
tear-down legs carry on from there (:func:`legs_for`): the FIN close is A's FIN
(seq=c+1 ack=s+1), B's FIN-ACK (seq=s+1 ack=c+2) and A's last ACK (seq=c+2
ack=s+2), ordered like the handshake; the RST close is one RST from A (seq=c+1).

The traffic proof (``expect.proof: [table, traffic]``) sends one data segment each way
after the handshake: A's (PSH|ACK seq=c+1 ack=s+1) and B's (PSH|ACK seq=s+1 ack=c+1), each
:data:`DATA_BYTES` long: a 32-bit tag of the run, then the packet's place in its port's data
program (a Drone variable field), by which the tool names the connection a captured segment
belongs to. Every leg after it counts those bytes (:func:`isns_after`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ostinato_tcp.ground.checksum import split_at_wraps, tcp_sum
from ostinato_tcp.ground.naming import object_name
from ostinato_tcp.scenario import Scenario
from ostinato_tcp.domain.tuples import StreamFields

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
DATA_BYTES = 8  # payload of a data segment: the run's tag (4 bytes), the packet's place in its program (4)


@dataclass(frozen=True)
class Leg:
    """One packet per connection: its role (the stream's name), TCP flags, seq and ack."""

    role: str
    flags: int
    seq: int
    ack: int
    payload: int = 0  # bytes of data the segment carries (the traffic proof's: DATA_BYTES)


@dataclass(frozen=True)
class Legs:
    """A client leg, an optional server reply and an optional last client leg, in that order."""

    first: Leg
    reply: Leg | None = None
    last: Leg | None = None

    @property
    def roles(self) -> list[str]:
        return [leg.role for leg in (self.first, self.reply, self.last) if leg is not None]


def legs_for(kind: str, client_isn: int, server_isn: int) -> Legs:
    """The legs of the handshake (``handshake``) or of a tear-down (``fin``, ``rst``)."""
    c, s = client_isn, server_isn
    m = 0xFFFFFFFF
    if kind == "handshake":
        return Legs(Leg("syn", TCP_SYN, c, 0), Leg("synack", TCP_SYN | TCP_ACK, s, (c + 1) & m),
                    Leg("ack", TCP_ACK, (c + 1) & m, (s + 1) & m))
    if kind == "fin":
        return Legs(Leg("fin", TCP_FIN | TCP_ACK, (c + 1) & m, (s + 1) & m),
                    Leg("finack", TCP_FIN | TCP_ACK, (s + 1) & m, (c + 2) & m),
                    Leg("lastack", TCP_ACK, (c + 2) & m, (s + 2) & m))
    if kind == "rst":
        return Legs(Leg("rst", TCP_RST, (c + 1) & m, 0))
    if kind == "data":
        return Legs(Leg("cdata", TCP_PSH | TCP_ACK, (c + 1) & m, (s + 1) & m, DATA_BYTES),
                    Leg("sdata", TCP_PSH | TCP_ACK, (s + 1) & m, (c + 1) & m, DATA_BYTES))
    raise ValueError(f"no legs for {kind!r}")


def isns_after(sc: Scenario) -> tuple[int, int]:
    """The client's and the server's initial numbers as the legs after the handshake count from:
    past the data segments when the traffic proof sent them (its legs ran before)."""
    extra = DATA_BYTES if "traffic" in sc.expect.proof else 0
    return (sc.traffic.client_isn + extra) & 0xFFFFFFFF, (sc.traffic.server_isn + extra) & 0xFFFFFFFF


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
    # Drone's fast build: fixed MACs and checksums given by the tool (None / False: Drone resolves
    # the MACs from its devices and computes both checksums for every frame)
    src_mac: int | None = None
    dst_mac: int | None = None
    checksums: bool = False
    checksum_bias: int = 0  # added to the TCP checksum: a deliberately wrong fast build (tests only)
    family: int = 4  # 4: IPv4 + TCP; 6: IPv6 + TCP (addresses are IPv6 integers)
    # data segments (the traffic proof): DATA_BYTES of payload, the run's tag then packet k's place
    # in the port's data program, payload_first + k
    payload_tag: int | None = None
    payload_first: int = 0

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

    @property
    def addresses(self) -> tuple[int, int, int, int]:
        """(source IP, destination IP, source port, destination port) of the first packet."""
        if self.to_server:
            return self.client_ip, self.server_ip, self.client_port, self.server_port
        return self.server_ip, self.client_ip, self.server_port, self.client_port

    @property
    def tcp_sum(self) -> int:
        """The folded ones' complement sum of the first packet's TCP checksum (see checksum.py)."""
        src, dst, sport, dport = self.addresses
        return tcp_sum(src, dst, sport, dport, self.seq, self.ack, self.flags, self.window, self.payload)

    @property
    def payload(self) -> bytes:
        """The first packet's TCP data: none, or a data segment's tag and place."""
        if self.payload_tag is None:
            return b""
        return self.payload_tag.to_bytes(4, "big") + (self.payload_first & 0xFFFFFFFF).to_bytes(4, "big")

    @property
    def sum_step(self) -> int:
        """How much the TCP sum grows from one packet to the next: the port step, plus one for a data
        segment's place."""
        return self.client_port_step + (1 if self.payload_tag is not None else 0)


@dataclass(frozen=True)
class Wire:
    """What Drone's fast build needs, learnt from the resolved devices: the DUT gateway's MAC
    on the port and each emulated device's MAC by its IPv4 address."""

    gateway_mac: int
    device_macs: dict[int, int]
    checksum_bias: int = 0  # tests only: make the fast build's TCP checksums wrong on purpose

    def fast(self, spec: StreamSpec) -> list[StreamSpec]:
        """``spec`` with fixed MACs and given checksums, split where the TCP checksum's
        ones' complement sum wraps; the pieces send the same packets in the same order."""
        if spec.payload_tag is not None and spec.client_ip_count != 1:
            return [spec]  # data segments over several client addresses: Drone resolves and sums
        if spec.client_ip_count != 1:
            raise ValueError(f"stream {spec.name}: the fast build needs one client IP per stream")
        device = spec.client_ip if spec.to_server else spec.server_ip
        macs = dict(src_mac=self.device_macs[device], dst_mac=self.gateway_mac, checksums=True,
                    checksum_bias=self.checksum_bias)
        if not spec.varies_port:
            return [replace(spec, **macs)]
        pieces = split_at_wraps(spec.tcp_sum, spec.count, spec.sum_step)
        out = []
        for i, (first, n) in enumerate(pieces):
            out.append(replace(spec, name=spec.name if len(pieces) == 1 else f"{spec.name}.{i}", count=n,
                               client_port=spec.client_port + first * spec.client_port_step, client_port_count=n,
                               payload_first=spec.payload_first + first,
                               next=spec.next if i == len(pieces) - 1 else "next", **macs))
        return out


@dataclass(frozen=True)
class DeviceSpec:
    """An emulated device group: ``count`` IPv4 hosts from ``ip_base`` (every ``ip_step``) that
    answer ARP and resolve ``gateway``; MACs from ``mac_base`` (default: 02:00 + the IPv4
    address), one apart."""

    name: str
    ip_base: int
    count: int
    prefix: int
    gateway: int
    mac_base: int | None = None
    ip_step: int = 1
    family: int = 4  # 6: IPv6 devices (neighbour discovery instead of ARP)

    def ips(self) -> list[int]:
        return [self.ip_base + i * self.ip_step for i in range(self.count)]

    @property
    def mac(self) -> int:
        return self.mac_base if self.mac_base is not None else default_mac(self.ip_base, self.family)


def default_mac(ip: int, family: int = 4) -> int:
    """A locally administered MAC that spells the IPv4 address (02:00:a.b.c.d), or for IPv6
    the address's low 32 bits after 02:06."""
    return ((0x0200 if family == 4 else 0x0206) << 32) | (ip & 0xFFFFFFFF)


def client_devices(sc: Scenario, first_ip: int, count: int) -> DeviceSpec:
    dev = sc.ports.a.device
    return DeviceSpec(name=object_name(sc.name, "a"), ip_base=first_ip, count=count, prefix=dev.prefix,
                      gateway=int(dev.gateway), mac_base=dev.mac_int(), family=sc.connections.family)


def server_devices(sc: Scenario) -> DeviceSpec:
    dev = sc.ports.b.device
    c = sc.connections
    return DeviceSpec(name=object_name(sc.name, "b"), ip_base=int(c.server_ip), count=c.server_ips,
                      ip_step=c.server_ip_step, prefix=dev.prefix, gateway=int(dev.gateway), mac_base=dev.mac_int(),
                      family=c.family)


def _chain(specs: list[StreamSpec], wire: Wire | None) -> list[StreamSpec]:
    """The streams in order, each handing over to the next and the last one stopping."""
    if wire is not None:
        specs = [piece for spec in specs for piece in wire.fast(spec)]
    return [replace(s, next="stop" if i == len(specs) - 1 else "next") for i, s in enumerate(specs)]


def _runs(fields: StreamFields | list[StreamFields]) -> list[StreamFields]:
    return fields if isinstance(fields, list) else [fields]


def handshake(sc: Scenario) -> Legs:
    return legs_for("handshake", sc.traffic.client_isn, sc.traffic.server_isn)


def _rate(sc: Scenario, rate: float | None) -> float:
    """The packets per second of each stream: the plan's (``rate``), else the scenario's own."""
    if rate is not None:
        return float(rate)
    if sc.traffic.rate == "max":
        raise ValueError("traffic.rate max: the streams need the plan's rate (measured from Drone's ceiling)")
    return float(sc.traffic.rate)


def client_program(sc: Scenario, fields: StreamFields | list[StreamFields], *, syn: bool = True, ack: bool = True,
                   wire: Wire | None = None, legs: Legs | None = None, rate: float | None = None,
                   tag: int | None = None) -> list[StreamSpec]:
    """Port A: the first leg's stream(s) (the SYNs), then the last leg's (the ACKs), sent in
    sequence (goto next), one pair per run of ``fields`` (per client IP in the blocks layout).
    ``syn``/``ack`` enable the first/last leg: a leg left out stays in the program, disabled, so
    stream ids stay put across phases. ``wire``: the fast build's form; ``legs``: the handshake
    by default, or a tear-down's or the data segments' (:func:`legs_for`); ``rate``: the plan's
    packets per second; ``tag``: the run's tag in the data segments' payload."""
    t, c = sc.traffic, sc.connections
    legs = legs or handshake(sc)
    runs = _runs(fields)
    pps = _rate(sc, rate)
    specs = []
    for leg, enabled in ((legs.first, syn), (legs.last, ack)):
        if leg is None:
            continue
        placed = 0  # the leg's packets in the streams before this one (a data segment's place)
        for i, f in enumerate(runs):
            specs.append(StreamSpec(
                name=object_name(sc.name, leg.role if len(runs) == 1 else f"{leg.role}-{i}"), to_server=True,
                flags=leg.flags, client_ip=f.ip_base, client_ip_count=f.ip_count, client_port=f.port_base,
                client_port_count=f.port_count, client_port_step=f.port_step,
                server_ip=int(c.server_ip) if f.server_ip is None else f.server_ip,
                server_port=c.server_port if f.server_port is None else f.server_port, seq=leg.seq, ack=leg.ack, count=f.packets, rate=pps, enabled=enabled,
                window=t.window, family=c.family, **_payload(leg, t.frame_length, c.family, tag, placed)))
            placed += f.packets
    return _chain(specs, wire)


def data_frame_length(family: int) -> int:
    """A data segment's frame: Ethernet, IP and TCP headers, the payload, the FCS (nothing pads it:
    the payload Drone fills is exactly DATA_BYTES)."""
    return 14 + (20 if family == 4 else 40) + 20 + DATA_BYTES + 4


def _payload(leg: Leg, frame_length: int, family: int, tag: int | None, first: int) -> dict:
    """The stream's frame length and payload fields for ``leg``."""
    if not leg.payload:
        return {"frame_length": frame_length}
    if tag is None:
        raise ValueError(f"leg {leg.role}: a data segment needs the run's tag")
    return {"frame_length": data_frame_length(family), "payload_tag": tag & 0xFFFFFFFF, "payload_first": first}


def server_program(sc: Scenario, runs: list[StreamFields], *, enabled: bool = True,
                   wire: Wire | None = None, legs: Legs | None = None, rate: float | None = None,
                   tag: int | None = None) -> list[StreamSpec]:
    """Port B: the reply leg's stream(s) (the SYN-ACKs), one per run of destinations; packet k
    of a run goes to (ip_base + k mod ip_count, port_base + (k mod port_count) * port_step)."""
    t, c = sc.traffic, sc.connections
    pps = _rate(sc, rate)
    leg = (legs or handshake(sc)).reply
    if leg is None:
        raise ValueError("these legs have no reply from port B")
    out = []
    placed = 0
    for i, run in enumerate(runs):
        role = leg.role if len(runs) == 1 else f"{leg.role}-{i}"
        out.append(StreamSpec(
            name=object_name(sc.name, role), to_server=False, flags=leg.flags, client_ip=run.ip_base,
            client_ip_count=run.ip_count, client_port=run.port_base, client_port_count=run.port_count,
            client_port_step=run.port_step, server_ip=int(c.server_ip) if run.server_ip is None else run.server_ip,
            server_port=c.server_port if run.server_port is None else run.server_port,
            seq=leg.seq, ack=leg.ack, count=run.packets, rate=pps, enabled=enabled,
            window=t.window, family=c.family, **_payload(leg, t.frame_length, c.family, tag, placed)))
        placed += run.packets
    return _chain(out, wire)


def server_runs(fields: StreamFields | list[StreamFields], nat_address: int | None = None) -> list[StreamFields]:
    """The SYN-ACK destinations of a batch: the clients themselves, or with port-preserving
    NAT their one translated address (same ports)."""
    runs = _runs(fields)
    if nat_address is None:
        return runs
    return [replace(f, ip_base=nat_address, ip_count=1) for f in runs]


MAX_LEARN_STREAMS = 4096


def learned_runs(exp, first: int, count: int) -> tuple[list[StreamFields], list[str]]:
    """NAT learn: the SYN-ACK destinations of connections first..first+count-1 from the
    translations learnt into ``exp`` (an Expected), as streams, and warnings. Raises
    ValueError when the translations would need more than MAX_LEARN_STREAMS streams."""
    pairs = [(exp.learned_ip[n], exp.learned_port[n]) for n in range(first, first + count) if exp.learned_ip[n]]
    notes = []
    if len(pairs) < count:
        notes.append(f"NAT learn: {count - len(pairs)} of {count} connections had no SYN_SENT entry to learn from; "
                     "no SYN-ACK is sent for them")
    runs = runs_from_learned(pairs) or [StreamFields(0, 0, 1, 1, 1, 1)]  # nothing to answer
    if len(runs) > MAX_LEARN_STREAMS:
        raise ValueError(f"NAT learn: the translations form {len(runs)} port runs; more than {MAX_LEARN_STREAMS} "
                         "SYN-ACK streams would be needed. The NAT randomises ports (--random-fully?); this mode "
                         "needs translations that mostly keep or shift ports")
    if len(runs) > 1:
        notes.append(f"NAT learn: {len(pairs)} translations learned, sent as {len(runs)} SYN-ACK streams")
    return runs, notes


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
