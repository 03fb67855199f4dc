"""Drone measured before the run's first packet: its build cost, its fast build's frames,
and how fast each port sends.

One probe program per port, half a handshake per probe tuple as a run sends it: port A sends
:data:`PROBE_FRAMES` SYNs from the first client address to the server's probe port (next to
the test's, never the test's own), port B their SYN-ACKs, both in the run's build form and
through the DUT, so the probe costs the Drone host what the run's packets cost it (where the
DUT shares that host's CPU, as in the built-in lab, most of it is the DUT's forwarding). The
client port takes :data:`PROBE_FRAMES` values and each frame is sent :data:`PROBE_REPEAT`
times: Drone builds a stream's distinct frames once and loops over them, so the probe's build
costs :data:`PROBE_FRAMES` frames however long it sends. The DUT keeps one SYN_RECV entry per
probe tuple (fewer tuples when its table has less room: :func:`probe_frames`); the run deletes
them with its own clear, before it reads the DUT's counters.

* **Build cost**: the probe's build, timed, per frame (the plan's batches and phase gaps
  depend on it).
* **Fast build check** (``traffic.drone_build: auto``): the probe is sent with Drone
  capturing and every captured frame's IPv4 and TCP checksums are recomputed; each stream's
  sum wraps halfway, so both pieces of a split stream are checked. A Drone whose frames come
  out wrong is run with the resolve form (Drone computes every checksum). A good verdict is
  remembered for a day per Drone, version, port and frame form (:mod:`.probe_cache`): a
  wrong checksum could only make the DUT drop a packet, never make a connection pass.
* **Send ceiling**: both ports send the probe flat out together; each port's packets over its
  transmit time (start between the startTransmit request and its reply, end between the last
  poll that saw it transmitting and the first that saw it idle) is its ceiling, with that bound
  (docs/figures.md). When the run's rate is not far below that first figure, a longer probe
  (about :data:`LONG_PROBE_SECONDS`) measures it closer.
"""

from __future__ import annotations

import logging
import struct
import time
from dataclasses import dataclass, field, replace

from ostinato_tcp.ground.checksum import internet_checksum_ok
from ostinato_tcp.domain.ceiling import Ceiling
from ostinato_tcp.errors import RunFault
from ostinato_tcp.ground.measure import Interval, Rate
from ostinato_tcp.ground.naming import object_name
from ostinato_tcp.drone.port import DronePort
from ostinato_tcp.domain.streams import TCP_ACK, TCP_SYN, StreamSpec, Wire
from ostinato_tcp.domain.tuples import Servers

log = logging.getLogger(__name__)
PROBE_FRAMES = 3000  # distinct frames per port: what Drone builds (and the build cost is measured on)
PROBE_REPEAT = 10  # each frame is sent this many times: the short ceiling probe
PROBE_PACKETS = PROBE_FRAMES * PROBE_REPEAT  # what each port sends in the short probe
MIN_PROBE_FRAMES = 64  # a DUT table with room for fewer probe tuples than this is not probed through


def probe_frames(free_entries: int | None) -> int:
    """How many probe tuples (DUT entries, for a moment) the DUT's table has room for: at most
    half its free entries, never more than PROBE_FRAMES."""
    if free_entries is None:
        return PROBE_FRAMES
    return max(MIN_PROBE_FRAMES, min(PROBE_FRAMES, free_entries // 2))
PROBE_RATE = 1e9  # packets/s asked of the probe: more than any port sends, so it goes flat out
LONG_PROBE_SECONDS = 0.3  # the longer ceiling probe lasts about this long
LONG_PROBE_BELOW = 0.5  # ... and runs when the asked rate is above this share of the short probe's figure


@dataclass
class BuildCheck:
    """What the probe found of one Drone's build."""

    drone: str
    form: str  # the form the run uses on this Drone: fast | resolve
    per_packet: float  # seconds Drone spent building one probe frame in that form
    frames_checked: int = 0
    bad_frames: int = 0
    note: str = ""
    remembered: bool = False  # the fast form's checksums were checked by an earlier run (cached verdict)

    def to_dict(self) -> dict:
        return {"drone": self.drone, "form": self.form, "build_seconds_per_packet": self.per_packet,
                "frames_checked": self.frames_checked, "bad_frames": self.bad_frames, "note": self.note,
                "checksums_remembered": self.remembered}


def _first_port(seq: int, flags: int, to_server: bool, src: int, dst: int, dport: int, ack: int, window: int,
                family: int, frames: int) -> int | None:
    """The first client port that puts the TCP checksum's sum wrap at the probe's middle frame."""
    target = 0xFFFF - frames // 2 + 1  # the sum passes 0xFFFF at the middle packet
    base = StreamSpec(name="", to_server=to_server, flags=flags, client_ip=src, client_port=1024, server_ip=dst,
                      server_port=dport, seq=seq, ack=ack, count=1, rate=1.0, window=window, family=family)
    first = 1024 + (target - base.tcp_sum) % 0xFFFF  # S(port) grows by one per port
    return first if first + frames <= 65535 else None


def probe_programs(sc, name: str, dport: int, wires: dict, *, repeat: int = PROBE_REPEAT,
                   frames: int = PROBE_FRAMES) -> dict[str, list[StreamSpec]]:
    """Each port's probe: half a handshake per probe tuple, as a run sends it, through the DUT.
    Port A: ``frames`` SYNs from the first client address to the server's ``dport`` (a port
    the test does not use); port B: their SYN-ACKs (to the NAT's address under preserve-ports).
    Each frame is sent ``repeat`` times, flat out; the DUT keeps one SYN_RECV entry per tuple,
    which the run deletes before its own traffic. Each stream's TCP checksum sum wraps at its
    middle frame, so the fast build's split is checked on both sides. ``wires``: the run's fast
    build per side (None: Drone resolves MACs and computes checksums)."""
    c, t = sc.connections, sc.traffic
    client, server = int(c.client_ip), int(c.server_ip)
    if sc.nat.mode == "preserve-ports":
        reply_to = int(sc.nat.address)
    else:
        reply_to = client
    for seq in range(1, 64):  # A's sequence number moves A's sum; pick one that lets the ports fit
        first = _first_port(seq, TCP_SYN, True, client, server, dport, 0, t.window, c.family, frames)
        if first is not None:
            break
    # B's sequence number (its low 16 bits add to B's sum) puts B's wrap at the middle too
    s0 = StreamSpec(name="", to_server=False, flags=TCP_SYN | TCP_ACK, client_ip=reply_to, client_port=first,
                    server_ip=server, server_port=dport, seq=0, ack=seq + 1, count=1, rate=1.0, window=t.window,
                    family=c.family).tcp_sum
    seq_b = (0xFFFF - frames // 2 + 1 - s0) % 0xFFFF
    common = dict(client_port=first, server_ip=server, server_port=dport, count=frames, rate=PROBE_RATE,
                  client_port_count=frames, frame_length=t.frame_length, window=t.window, family=c.family)
    specs = {"a": StreamSpec(name=name, to_server=True, flags=TCP_SYN, client_ip=client, seq=seq, ack=0, **common),
             "b": StreamSpec(name=name, to_server=False, flags=TCP_SYN | TCP_ACK, client_ip=reply_to, seq=seq_b,
                             ack=seq + 1, **common)}
    out = {}
    for side, spec in specs.items():
        wire = wires.get(side)
        pieces = [spec] if wire is None else wire.fast(spec)
        # each piece's frames repeat (the variable fields keep their count, so Drone builds them once)
        out[side] = [replace(p, count=p.count * repeat, next="stop" if i == len(pieces) - 1 else "next")
                     for i, p in enumerate(pieces)]
    return out


def probe_servers(sc) -> Servers:
    """The probe's endpoint on the DUT (the server address, the probe's port): its entries go
    with the run's clear."""
    return Servers(first_ip=int(sc.connections.server_ip), first_port=probe_port(sc), family=sc.connections.family)


def checksum_errors(pcap: bytes, dport: int, *, from_server: bool = False) -> tuple[int, int]:
    """(distinct TCP frames to ``dport`` in a pcap, or with ``from_server`` from it, and how many
    of them have a wrong IPv4 or TCP checksum); a frame sent again (the probe repeats each)
    counts once, by its other port."""
    if len(pcap) < 24:
        return 0, 0
    magic = pcap[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    seen: set[int] = set()
    bad = 0
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
        if len(seg) < 20:
            continue
        sport, to = struct.unpack("!HH", seg[0:4])
        mine, other = (sport, to) if from_server else (to, sport)
        if mine != dport or other in seen:
            continue
        seen.add(other)
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(seg))
        if not (internet_checksum_ok(ip) and internet_checksum_ok(pseudo + seg)):
            bad += 1
    return len(seen), bad


def probe_port(sc) -> int:
    """The TCP port the probe goes to: next to the test's, never the test's own."""
    return sc.connections.server_port % 65535 + 1


def time_sends(ports: dict[str, DronePort], *, expected: float | None = None) -> dict[str, Interval]:
    """Start every port in ``ports`` (one after the other, as a run's start RPCs go) and poll
    until each is idle; each port's transmit interval. Polls every 1% of the time sent so far
    (at least 1 ms), closer near ``expected`` seconds."""
    starts = {side: p.start() for side, p in ports.items()}
    last_on = {side: s[1] for side, s in starts.items()}
    done: dict[str, Interval] = {}
    t0 = min(s[0] for s in starts.values())
    limit = 10 * (expected or 1.0) + 10
    while len(done) < len(ports):
        for side, p in ports.items():
            if side in done:
                continue
            on, _, t = p.poll()
            if on:
                last_on[side] = t
            else:
                done[side] = Interval(starts[side][0], starts[side][1], last_on[side], t)
        now = time.monotonic()
        if now - t0 > limit:
            raise RunFault(f"Drone's probe still transmitting {limit:.0f} s after its start on "
                           + ", ".join(p.where for side, p in ports.items() if side not in done))
        gap = max(0.001, 0.01 * (now - t0))
        if expected:
            gap = min(gap, max(0.001, abs(t0 + expected - now) / 4))
        time.sleep(gap)
    return done


@dataclass
class DroneProbe:
    """What the run learns before it builds: each port's gateway MACs and fast-build wire, each
    Drone's measured (and checked) build, the form all of them use, and the send ceiling."""

    gateway_macs: dict[str, dict[int, int]]
    wires: dict[str, Wire | None]
    checks: list[BuildCheck]
    fast: bool
    per_packet: float  # the slowest Drone's measured build cost, seconds per packet
    ceiling: Ceiling | None = None
    sent: dict[str, int] = field(default_factory=dict)  # frames each port's probe sent (the run's frame size)


def _recalled(sc, ports, memory, cache, asked, macs, wires, form) -> DroneProbe | None:
    """The probe an earlier run measured on these ports, when the run may rest on it: a rate of
    at most REMEMBERED_SHARE of its usable ceiling, and (fast form) the checksums known good."""
    from ostinato_tcp.run.probe_cache import REMEMBERED_SHARE

    entry = memory.recall(ports, sc) if memory is not None else None
    if entry is None or asked == "max":
        return None
    try:
        rates = {side: Rate(int(r["count"]), float(r["seconds"]), float(r["bound_seconds"]))
                 for side, r in entry["ceiling"].items()}
    except (KeyError, TypeError, ValueError):
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(entry["measured_at"])))
    ceiling = Ceiling(rates, 0.0, remembered_at=when)
    if set(rates) != set(ports) or float(asked) > REMEMBERED_SHARE * ceiling.usable:
        return None
    fast = bool(entry.get("fast")) and form != "resolve"
    if fast and form == "auto":  # each Drone's fast frames checked good by an earlier run (on one of its ports)
        by_drone: dict[str, list] = {}
        for p in ports.values():
            by_drone.setdefault(p.drone.endpoint, []).append(p)
        if cache is None or not all(any(cache.knows_good(p, sc) for p in ps) for ps in by_drone.values()):
            return None
    checks, seen = [], set()
    for p in ports.values():
        if id(p.drone) in seen or p.drone.endpoint in {c.drone for c in checks}:
            continue
        seen.add(id(p.drone))
        checks.append(BuildCheck(p.drone.endpoint, "fast" if fast else "resolve", float(entry["per_packet"]),
                                 remembered=fast, note=f"send ceiling and build cost measured by a run at {when} "
                                 f"(the rate asked is at most {REMEMBERED_SHARE:.0%} of that ceiling's usable "
                                 "rate: no new probe)" + ("; the fast build's checksums checked by an earlier run"
                                                         if fast else "")))
    return DroneProbe(macs, wires if fast else {side: None for side in ports}, checks, fast,
                      float(entry["per_packet"]), ceiling, {side: 0 for side in ports})


def probe_drones(sc, ports: dict[str, DronePort], *, rate_needs_precision=None, fault_checksum_bias: int = 0,
                 cache=None, free_entries: int | None = None, memory=None) -> DroneProbe:
    """Measure Drone's build on every Drone of ``ports`` in the scenario's form (``auto``: the
    fast form, checked by a capture unless ``cache`` remembers the check, else resolve) and
    the ports' send ceiling. ``rate_needs_precision(ceiling) -> bool``: whether the run's rate
    is near enough the short probe's ceiling to need the longer probe. ``memory``
    (:class:`~.probe_cache.ProbeMemory`): an earlier run's probe of these ports, used instead
    when the run's rate is far below its ceiling, and where this probe is remembered."""
    form = sc.traffic.drone_build if sc.connections.family == 4 else "resolve"  # the fast build is IPv4 only
    gateways = {side: int(getattr(sc.ports, side).device.gateway) for side in ports}
    macs = {side: p.gateway_macs(gateways[side]) for side, p in ports.items()}
    wires = {side: Wire(next(iter(macs[side].values())), p.device_macs(), checksum_bias=fault_checksum_bias)
             for side, p in ports.items()} if form != "resolve" else {side: None for side in ports}
    if not fault_checksum_bias:
        recalled = _recalled(sc, ports, memory, cache, sc.traffic.rate, macs, wires, form)
        if recalled is not None:
            return recalled
    name, dport = object_name(sc.name, "probe"), probe_port(sc)

    frames = probe_frames(free_entries)  # the probe's tuples fit the DUT's table beside what is there
    short_repeat = max(1, PROBE_PACKETS // frames)

    def program(side: str, fast: bool, repeat: int = short_repeat) -> list[StreamSpec]:
        return probe_programs(sc, name, dport, wires if fast else {}, repeat=repeat, frames=frames)[side]

    # build cost: per Drone (the agent, whatever connections reach it), the mean over its ports
    per_drone: dict[str, list[float]] = {}
    for side, p in ports.items():
        p.load(program(side, wires[side] is not None))
        per_drone.setdefault(p.drone.endpoint, []).append(p.build(timeout=60) / frames)
    checks: dict[str, BuildCheck] = {}
    to_check: dict[str, str] = {}  # Drone -> the side whose capture checks its frames
    for side, p in ports.items():
        key = p.drone.endpoint
        if key in checks:
            continue
        cost = sum(per_drone[key]) / len(per_drone[key])
        if wires[side] is None:
            checks[key] = BuildCheck(p.drone.endpoint, "resolve", cost)
            continue
        checks[key] = BuildCheck(p.drone.endpoint, "fast", cost)
        if form == "fast":
            checks[key].note = "fast build not checked (traffic.drone_build: fast)"
        elif cache is not None and not fault_checksum_bias and cache.knows_good(p, sc):
            checks[key].remembered = True
            checks[key].note = (f"fast build checked by an earlier run ({cache.when(p, sc)}): every IPv4 and TCP "
                                "checksum right")
        else:
            to_check[key] = side
    for side in to_check.values():
        ports[side].start_capture()
    if to_check:
        time.sleep(max(ports[side].capture_open for side in to_check.values()))
    t0 = time.monotonic()
    short = time_sends(ports)
    sent = time.monotonic() - t0
    packets = frames * short_repeat
    ceiling = Ceiling({side: Rate(packets, iv.seconds, iv.bound) for side, iv in short.items()}, sent)
    frames_sent = {side: packets for side in ports}
    if to_check:
        time.sleep(max(ports[side].capture_settle for side in to_check.values()))
    fallback = False
    for key, side in to_check.items():
        p = ports[side]
        seen, bad = checksum_errors(p.stop_capture(), dport, from_server=side == "b")
        check = checks[key]
        check.frames_checked, check.bad_frames = seen, bad
        if seen and not bad:
            check.note = f"fast build checked: {seen} captured probe frames, every IPv4 and TCP checksum right"
            if cache is not None and not fault_checksum_bias:
                cache.remember_good(p, sc, frames=seen)
            continue
        why = (f"{bad} of {seen} captured probe frames had a wrong checksum" if seen else
               "Drone's capture held none of the probe's frames")
        p.load(program(side, False, repeat=1))
        check.form, check.per_packet = "resolve", p.build(timeout=60) / frames
        check.note = (f"the fast build is not used on Drone {p.drone.endpoint}: {why}; Drone resolves MACs and "
                      "computes checksums instead (slower builds)")
        fallback = True
    if rate_needs_precision is not None and rate_needs_precision(ceiling):
        repeat = max(short_repeat, round(LONG_PROBE_SECONDS * ceiling.value / frames))
        for side, p in ports.items():
            p.load(program(side, not fallback and wires[side] is not None, repeat=repeat))
            p.build(timeout=60)
        t0 = time.monotonic()
        long = time_sends(ports, expected=frames * repeat / ceiling.value)
        ceiling = Ceiling({side: Rate(frames * repeat, iv.seconds, iv.bound) for side, iv in long.items()},
                          time.monotonic() - t0)
        frames_sent = {side: n + frames * repeat for side, n in frames_sent.items()}
    fast = all(c.form == "fast" for c in checks.values())
    per_packet = max(c.per_packet for c in checks.values())
    if memory is not None and not fault_checksum_bias:
        memory.remember(ports, sc, ceiling={side: {"count": r.count, "seconds": r.seconds, "bound_seconds": r.bound}
                                            for side, r in ceiling.rates.items()},
                        per_packet=per_packet, fast=fast)
    return DroneProbe(macs, wires if fast else {side: None for side in ports}, list(checks.values()), fast,
                      per_packet, ceiling, frames_sent)
