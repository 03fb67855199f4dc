"""Drone's build, measured and checked before the run's first packet.

On each Drone of the run, a probe stream of :data:`PROBE_PACKETS` SYNs in the run's
build form is built (timed: Drone's build cost per packet, for the plan) and, for the
fast form under ``traffic.drone_build: auto``, sent with Drone capturing on the port:
every captured frame's IPv4 and TCP checksums are recomputed. The probe crosses a
checksum wrap halfway, so both pieces of a split stream are checked. A Drone whose
frames come out wrong is run with the resolve form instead (Drone computes every
checksum), and the report says so.

The probe never touches the test's connections: it goes to the device's own MAC (the
DUT's interface drops it before IP; a switch does not send a frame back out of the
port it came in on), from the device's address to a port the test does not use.
"""

from __future__ import annotations

import logging
import struct
import time
from dataclasses import dataclass, replace

from .checksum import internet_checksum_ok
from .ports import DronePort
from .streams import TCP_SYN, StreamSpec, Wire

log = logging.getLogger(__name__)
PROBE_PACKETS = 3000
PROBE_RATE = 200_000.0


@dataclass
class BuildCheck:
    """What the probe found on one Drone."""

    drone: str
    form: str  # the form the run uses on this Drone: fast | resolve
    per_packet: float  # seconds Drone spent building one probe packet in that form
    frames_checked: int = 0
    bad_frames: int = 0
    note: str = ""

    def to_dict(self) -> dict:
        return {"drone": self.drone, "form": self.form, "build_seconds_per_packet": self.per_packet,
                "frames_checked": self.frames_checked, "bad_frames": self.bad_frames, "note": self.note}


def probe_program(name: str, src_ip: int, dst_ip: int, dport: int, src_mac: int,
                  wire: Wire | None, frame_length: int, family: int = 4) -> list[StreamSpec]:
    """SYNs from ``src_ip`` to ``dst_ip:dport`` whose TCP checksum sum wraps halfway, addressed
    to ``src_mac`` itself. ``wire`` None: the resolve form."""
    target = 0xFFFF - PROBE_PACKETS // 2 + 1  # the sum passes 0xFFFF at the middle packet
    for seq in range(1, 64):  # the sequence number moves the sum; pick one that lets the ports fit
        base = StreamSpec(name=name, to_server=True, flags=TCP_SYN, client_ip=src_ip, client_port=1024,
                          server_ip=dst_ip, server_port=dport, seq=seq, ack=0, count=PROBE_PACKETS,
                          rate=PROBE_RATE, client_port_count=PROBE_PACKETS, frame_length=frame_length,
                          family=family)
        first = 1024 + (target - base.tcp_sum) % 0xFFFF  # S(port) grows by one per port
        if first + PROBE_PACKETS <= 65535:
            break
    spec = replace(base, client_port=first)
    if wire is None:
        return [replace(spec, src_mac=src_mac, dst_mac=src_mac)]
    own = Wire(gateway_mac=src_mac, device_macs={src_ip: src_mac}, checksum_bias=wire.checksum_bias)
    pieces = own.fast(spec)
    return [replace(p, next="stop" if i == len(pieces) - 1 else "next") for i, p in enumerate(pieces)]


def checksum_errors(pcap: bytes, dport: int) -> tuple[int, int]:
    """(TCP frames to ``dport`` in a pcap, how many have a wrong IPv4 or TCP checksum)."""
    if len(pcap) < 24:
        return 0, 0
    magic = pcap[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    seen = bad = 0
    off = 24
    while off + 16 <= len(pcap):
        _, _, incl, _ = struct.unpack(endian + "IIII", pcap[off:off + 16])
        frame = pcap[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[14] >> 4 != 4 or frame[23] != 6:
            continue
        ihl = (frame[14] & 0x0F) * 4
        ip = frame[14:14 + ihl]
        totlen = struct.unpack("!H", ip[2:4])[0]
        seg = frame[14 + ihl:14 + totlen]
        if len(seg) < 20 or struct.unpack("!H", seg[2:4])[0] != dport:
            continue
        seen += 1
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(seg))
        if not (internet_checksum_ok(ip) and internet_checksum_ok(pseudo + seg)):
            bad += 1
    return seen, bad


def measure_build(port: DronePort, program: list[StreamSpec]) -> float:
    """Seconds per packet Drone spends building ``program`` on ``port``."""
    port.load(program)
    t0 = time.monotonic()
    port.build(timeout=60)
    packets = sum(s.count for s in program)
    return (time.monotonic() - t0) / packets


def check_build(port: DronePort, *, device_ip: int, peer_ip: int, dport: int, wire: Wire | None, check: bool,
                frame_length: int, name: str, family: int = 4) -> BuildCheck:
    """Measure Drone's build cost on ``port`` in the run's form and, with ``check``, send the fast
    form's probe and verify every captured checksum; fall back to resolve when one is wrong."""
    device_mac = port.device_macs()[device_ip]
    program = probe_program(name, device_ip, peer_ip, dport, device_mac, wire, frame_length, family)
    cost = measure_build(port, program)
    if wire is None:
        return BuildCheck(port.drone.endpoint, "resolve", cost)
    result = BuildCheck(port.drone.endpoint, "fast", cost)
    if not check:
        result.note = "fast build not checked (traffic.drone_build: fast)"
        return result
    seen, bad = checksum_errors(port.capture_sent(), dport)
    result.frames_checked, result.bad_frames = seen, bad
    if seen and not bad:
        result.note = f"fast build checked: {seen} captured probe frames, every IPv4 and TCP checksum right"
        return result
    why = (f"{bad} of {seen} captured probe frames had a wrong checksum" if seen else
           "Drone's capture held none of the probe's frames")
    resolve = probe_program(name, device_ip, peer_ip, dport, device_mac, None, frame_length)
    return BuildCheck(port.drone.endpoint, "resolve", measure_build(port, resolve), seen, bad,
                      f"the fast build is not used on Drone {port.drone.endpoint}: {why}; Drone resolves MACs and "
                      "computes checksums instead (slower builds)")


def probe_port(sc) -> int:
    """The TCP port the build probe goes to: next to the test's, never the test's own."""
    return sc.connections.server_port % 65535 + 1


@dataclass
class BuildProbe:
    """What the run learns before it builds: each port's gateway MACs and fast-build wire, each
    Drone's measured (and checked) build, and the form all of them use."""

    gateway_macs: dict[str, dict[int, int]]
    wires: dict[str, Wire | None]
    checks: list[BuildCheck]
    fast: bool
    per_packet: float  # the slowest Drone's measured build cost, seconds per packet


def probe_builds(sc, ports: dict[str, DronePort], plan, *, fault_checksum_bias: int = 0) -> BuildProbe:
    """Measure Drone's build on every Drone of ``ports`` in the scenario's form (``auto``: the
    fast form, checked by a capture, else resolve)."""
    from .ownership import object_name

    form = sc.traffic.drone_build if sc.connections.family == 4 else "resolve"  # the fast build is IPv4 only
    gateways = {side: int(getattr(sc.ports, side).device.gateway) for side in ports}
    macs = {side: p.gateway_macs(gateways[side]) for side, p in ports.items()}
    wires = {side: Wire(next(iter(macs[side].values())), p.device_macs(), checksum_bias=fault_checksum_bias)
             for side, p in ports.items()} if form != "resolve" else {side: None for side in ports}
    checks: dict[int, BuildCheck] = {}
    for side, p in ports.items():
        if id(p.drone) in checks:
            continue
        device = plan.space.first_ip if side == "a" else int(sc.connections.server_ip)
        peer = int(sc.connections.server_ip) if side == "a" else plan.space.first_ip
        checks[id(p.drone)] = check_build(p, device_ip=device, peer_ip=peer, dport=probe_port(sc), wire=wires[side],
                                          check=form == "auto", frame_length=sc.traffic.frame_length,
                                          name=object_name(sc.name, "probe"), family=sc.connections.family)
    fast = all(c.form == "fast" for c in checks.values())
    return BuildProbe(macs, wires if fast else {side: None for side in ports}, list(checks.values()), fast,
                      max(c.per_packet for c in checks.values()))
