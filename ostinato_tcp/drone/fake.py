"""An in-memory Drone for unit tests (in the manner of httpx's ``MockTransport``).

:class:`FakeDrone` answers every RPC of :class:`~ostinato_tcp.drone.DroneApi` from
memory: ports with their configuration, streams, device groups, devices that resolve
their gateway at once, builds, transmits that finish at once (or after a set time),
and counters (frames and bytes, with one 42-byte ARP frame per device resolve). It
records every call and raises an injected fault on the RPC (and call number) a test
names, so the port and the run can be tested in every phase without root.

It is a test double: a run against it proves the order of calls and the clean-up,
never that a DUT tracked a connection.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Callable

from ostinato_tcp.ground.checksum import ipv4_checksum, ipv4_header, tcp_checksum, tcp_header
from ostinato_tcp.errors import DroneProtocolError, DroneRpcError
from ostinato_tcp.drone._api import DroneApi
from ostinato_tcp.ground.measure import ARP_FRAME_BYTES
from ostinato_tcp.drone._pb import ostemul_pb2, ostproto_pb2

PB = ostproto_pb2


def _vary(proto, value: int, offset: int, k: int) -> int:
    """Apply a protocol's variable fields at ``offset`` to ``value`` for packet ``k``, as Drone does."""
    for vf in proto.variable_field:
        if vf.offset == offset:
            step = (k % vf.count) * vf.step
            value = (vf.value - step if vf.mode == vf.kDecrement else vf.value + step) & vf.mask
    return value


def frame(stream, k: int) -> bytes:
    """Packet ``k`` of a Mac/Eth2/Ip4/Tcp stream: fixed MACs, given or computed checksums."""
    mac, _, ip_p, tcp_p = stream.protocol
    m, ip4, tcp = mac.Extensions[PB.mac], ip_p.Extensions[PB.ip4], tcp_p.Extensions[PB.tcp]
    src, dst = _vary(ip_p, ip4.src_ip, 12, k), _vary(ip_p, ip4.dst_ip, 16, k)
    sport, dport = _vary(tcp_p, tcp.src_port, 0, k), _vary(tcp_p, tcp.dst_port, 2, k)
    ip_ck = ip4.cksum if ip4.is_override_cksum else ipv4_checksum(src, dst)
    tcp_ck = (_vary(tcp_p, tcp.cksum, 16, k) if tcp.is_override_cksum else
              tcp_checksum(src, dst, sport, dport, tcp.seq_num, tcp.ack_num, tcp.flags, tcp.window))
    eth = m.dst_mac.to_bytes(6, "big") + m.src_mac.to_bytes(6, "big") + b"\x08\x00"
    body = eth + ipv4_header(src, dst, cksum=ip_ck) + tcp_header(sport, dport, tcp.seq_num, tcp.ack_num, tcp.flags,
                                                                 tcp.window, cksum=tcp_ck)
    return body.ljust(stream.core.frame_len - 4, b"\0")


def pcap(frames: list[bytes]) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIII", 0, i, len(f), len(f)) + f)
    return b"".join(out)


@dataclass
class FakePort:
    id: int
    name: str
    user_name: str = ""
    transmit_mode: int = 0
    streams: dict = field(default_factory=dict)  # id -> Stream
    groups: dict = field(default_factory=dict)  # id -> DeviceGroup
    built: bool = False
    tx_frames: int = 0
    tx_bytes: int = 0
    tx_until: float = 0.0  # transmitting while time.monotonic() < tx_until
    pending: tuple = (0, 0)  # frames, bytes counted once the transmit ends
    capturing: bool = False
    captured: list = field(default_factory=list)  # frames sent while capturing

    def program_size(self, stop: int) -> tuple[int, int]:
        """Frames and bytes the enabled streams send in sequence (until a stream that stops)."""
        frames = nbytes = 0
        for s in sorted(self.streams.values(), key=lambda s: s.core.ordinal):
            if s.core.is_enabled:
                frames += s.control.num_packets
                nbytes += s.control.num_packets * (s.core.frame_len - 4)
                if s.control.next == stop:
                    break
        return frames, nbytes


class _FakeDevices:
    """FakeDrone's device groups and emulated devices: every device resolves its gateway at
    once (``gateway_mac``), and each resolve counts one ARP frame per device."""

    # FakeDrone provides pb, emul, gateway_mac, _port() and _ack().

    def _rpc_getDeviceGroupIdList(self, request):
        return self.device_group_id_list(request.id, sorted(self._port(request.id, "getDeviceGroupIdList").groups))

    def _rpc_getDeviceGroupConfig(self, request):
        p = self._port(request.port_id.id, "getDeviceGroupConfig")
        out = self.pb.DeviceGroupConfigList()
        out.port_id.id = p.id
        for gid in request.device_group_id:
            out.device_group.add().CopyFrom(p.groups[gid.id])
        return out

    def _rpc_addDeviceGroup(self, request):
        p = self._port(request.port_id.id, "addDeviceGroup")
        for gid in request.device_group_id:
            g = self.pb.DeviceGroup()
            g.device_group_id.id = gid.id
            p.groups[gid.id] = g
        return self._ack()

    def _rpc_deleteDeviceGroup(self, request):
        p = self._port(request.port_id.id, "deleteDeviceGroup")
        for gid in request.device_group_id:
            p.groups.pop(gid.id, None)
        return self._ack()

    def _rpc_modifyDeviceGroup(self, request):
        p = self._port(request.port_id.id, "modifyDeviceGroup")
        for g in request.device_group:
            p.groups[g.device_group_id.id].CopyFrom(g)
        return self._ack()

    def _devices(self, p: FakePort) -> list[tuple[int, int]]:
        """(IPv4 address, gateway) of every device of the port's groups."""
        out = []
        for g in p.groups.values():
            ip4 = g.Extensions[self.emul.ip4]
            for i in range(g.device_count):
                out.append((ip4.address + i * (ip4.step or 1), ip4.default_gateway))
        return out

    def _rpc_getDeviceList(self, request):
        p = self._port(request.id, "getDeviceList")
        out = self.pb.PortDeviceList()
        out.port_id.id = p.id
        for ip, _ in self._devices(p):
            dev = out.Extensions[self.emul.device].add()
            dev.ip4, dev.mac = ip, (0x0200 << 32) | ip
        return out

    def _rpc_clearDeviceNeighbors(self, request):
        return self._ack()

    def _rpc_resolveDeviceNeighbors(self, request):
        for pid in request.port_id:
            p = self._port(pid.id, "resolveDeviceNeighbors")
            n = len(self._devices(p))
            p.tx_frames += n  # one ARP request per device
            p.tx_bytes += n * ARP_FRAME_BYTES
        return self._ack()

    def _rpc_getDeviceNeighbors(self, request):
        p = self._port(request.id, "getDeviceNeighbors")
        out = self.pb.PortNeighborList()
        out.port_id.id = p.id
        for i, (_, gw) in enumerate(self._devices(p)):
            dn = out.Extensions[self.emul.device_neighbor].add()
            dn.device_index = i
            e = dn.arp.add()
            e.ip4, e.mac = gw, self.gateway_mac
        return out


class FakeDrone(_FakeDevices, DroneApi):
    """A Drone in memory. ``gateway_mac``: the MAC every device resolves for its gateway;
    ``tx_seconds``: how long a transmit stays on (0: it ends at once); ``arp_per_start``: ARP
    frames the devices send during each transmit (answering the DUT)."""

    pb = ostproto_pb2
    emul = ostemul_pb2
    capture_open_seconds = capture_settle_seconds = 0.0  # the fake's capture holds every frame at once

    def __init__(self, port_names=("porta", "portb"), *, host: str = "fake-drone", port: int = 7878,
                 gateway_mac: int = 0x02AABBCCDD01, tx_seconds: float = 0.0, arp_per_start: int = 0,
                 pps: float | dict[str, float] | None = None, capture_limit: int = 100_000,
                 paced: bool = False, keeps: dict[str, float] | None = None, links_down: tuple = ()):
        self.host, self.port_number = host, port
        self.ports = {i: FakePort(i, name) for i, name in enumerate(port_names)}
        self.gateway_mac = gateway_mac
        self.tx_seconds = tx_seconds
        self.pps = pps  # a port's send ceiling (or each port's, by name): a transmit lasts at least frames / pps
        self.capture_limit = capture_limit  # frames a capture keeps per stream and start
        self.paced = paced  # a transmit takes its streams' packets / their rates (else it ends at once)
        self.keeps = keeps or {}  # paced: the share of each stream's rate a port keeps, by port name (a lag)
        self.links_down = set(links_down)  # ports whose link is down
        self.arp_per_start = arp_per_start  # ARP replies the devices send during each transmit (the DUT asks)
        self.calls: list[str] = []
        self.faults: dict[tuple[str, int], BaseException] = {}
        self._counts: dict[str, int] = {}
        self._connected = False
        self.fired_at: int | None = None
        self.drone_version = "1.2.x"

    # ------------------------------------------------------------------ test controls
    def fail(self, rpc: str, exc: BaseException | None = None, *, on_call: int = 1) -> None:
        """Raise ``exc`` (a DroneRpcError by default) on the ``on_call``-th call of ``rpc`` from now."""
        self.faults[(rpc, self._counts.get(rpc, 0) + on_call)] = exc or DroneRpcError(
            "injected fault", endpoint=self.endpoint, rpc=rpc)

    def port_named(self, name: str) -> FakePort:
        return next(p for p in self.ports.values() if p.name == name)

    # ------------------------------------------------------------------ transport
    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port_number}"

    @property
    def connected(self) -> bool:
        return self._connected

    def _open(self) -> None:
        self._connected = True

    def _close(self) -> None:
        self._connected = False

    def call(self, name: str, request=None, *, timeout: float | None = None):
        if not self._connected:
            raise DroneProtocolError("not connected", endpoint=self.endpoint, rpc=name)
        n = self._counts[name] = self._counts.get(name, 0) + 1
        self.calls.append(name)
        fault = self.faults.pop((name, n), None)
        if fault is not None:
            self.fired_at = len(self.calls) - 1  # where in ``calls`` the injected fault was raised
            if isinstance(fault, DroneProtocolError):
                self._connected = False  # a lost connection, as the real client drops it
            raise fault
        handler: Callable = getattr(self, f"_rpc_{name}", None)
        if handler is None:
            raise DroneRpcError(f"the fake Drone does not answer {name}", endpoint=self.endpoint, rpc=name)
        return handler(request)

    # ------------------------------------------------------------------ helpers
    def _port(self, port_id: int, rpc: str) -> FakePort:
        if port_id not in self.ports:
            raise DroneRpcError(f"invalid port {port_id}", endpoint=self.endpoint, rpc=rpc)
        return self.ports[port_id]

    def _ack(self):
        return self.pb.Ack(status=self.pb.Ack.kRpcSuccess)

    def _settle(self, p: FakePort) -> None:
        if p.tx_until and time.monotonic() >= p.tx_until:
            p.tx_until = 0.0
            p.tx_frames += p.pending[0]
            p.tx_bytes += p.pending[1]
            p.pending = (0, 0)

    # ------------------------------------------------------------------ ports
    def _rpc_getPortIdList(self, request):
        return self.port_id_list(self.ports)

    def _rpc_getPortConfig(self, request):
        out = self.pb.PortConfigList()
        for pid in request.port_id:
            p = self._port(pid.id, "getPortConfig")
            c = out.port.add()
            c.port_id.id, c.name, c.user_name, c.transmit_mode = p.id, p.name, p.user_name, p.transmit_mode
        return out

    def _rpc_modifyPort(self, request):
        for c in request.port:
            p = self._port(c.port_id.id, "modifyPort")
            if c.HasField("user_name"):
                p.user_name = c.user_name
            if c.HasField("transmit_mode"):
                p.transmit_mode = c.transmit_mode
        return self._ack()

    # ------------------------------------------------------------------ streams
    def _rpc_getStreamIdList(self, request):
        return self.stream_id_list(request.id, sorted(self._port(request.id, "getStreamIdList").streams))

    def _rpc_getStreamConfig(self, request):
        p = self._port(request.port_id.id, "getStreamConfig")
        out = self.pb.StreamConfigList()
        out.port_id.id = p.id
        for sid in request.stream_id:
            out.stream.add().CopyFrom(p.streams[sid.id])
        return out

    def _rpc_addStream(self, request):
        p = self._port(request.port_id.id, "addStream")
        for sid in request.stream_id:
            if sid.id in p.streams:
                raise DroneRpcError(f"stream {sid.id} exists", endpoint=self.endpoint, rpc="addStream")
            s = self.pb.Stream()
            s.stream_id.id = sid.id
            p.streams[sid.id] = s
        p.built = False
        return self._ack()

    def _rpc_deleteStream(self, request):
        p = self._port(request.port_id.id, "deleteStream")
        for sid in request.stream_id:
            p.streams.pop(sid.id, None)
        p.built = False
        return self._ack()

    def _rpc_modifyStream(self, request):
        p = self._port(request.port_id.id, "modifyStream")
        for s in request.stream:
            if s.stream_id.id not in p.streams:
                raise DroneRpcError(f"no stream {s.stream_id.id}", endpoint=self.endpoint, rpc="modifyStream")
            p.streams[s.stream_id.id].CopyFrom(s)
        p.built = False
        return self._ack()

    def _rpc_build(self, request):
        self._port(request.port_id.id, "build").built = True
        return self._ack()

    # ------------------------------------------------------------------ transmit and counters
    def _rpc_startTransmit(self, request):
        began = time.monotonic()  # the transmit starts with the request (making the capture's frames takes time)
        for pid in request.port_id:
            p = self._port(pid.id, "startTransmit")
            frames, nbytes = p.program_size(self.pb.StreamControl.e_nw_stop)
            if p.capturing:
                for st in sorted(p.streams.values(), key=lambda x: x.core.ordinal):
                    if st.core.is_enabled:  # a stream's distinct frames (its repeats add nothing), up to the limit
                        distinct = max([vf.count for pr in st.protocol for vf in pr.variable_field] or [1])
                        p.captured += [frame(st, k) for k in range(min(st.control.num_packets, distinct,
                                                                       self.capture_limit))]
            p.pending = (frames + self.arp_per_start, nbytes + self.arp_per_start * ARP_FRAME_BYTES)
            pps = self.pps.get(p.name) if isinstance(self.pps, dict) else self.pps
            seconds = frames / pps if pps else 0.0
            if self.paced:
                keep = self.keeps.get(p.name, 1.0)
                seconds = sum(st.control.num_packets / min(st.control.packets_per_sec * keep, pps or float("inf"))
                              for st in p.streams.values() if st.core.is_enabled)
            p.tx_until = began + max(self.tx_seconds, seconds, 1e-6)
        return self._ack()

    def _rpc_stopTransmit(self, request):
        for pid in request.port_id:
            p = self._port(pid.id, "stopTransmit")
            p.tx_until, p.pending = 0.0, (0, 0)
        return self._ack()

    def _rpc_startCapture(self, request):
        for pid in request.port_id:
            p = self._port(pid.id, "startCapture")
            p.capturing, p.captured = True, []
        return self._ack()

    def _rpc_stopCapture(self, request):
        for pid in request.port_id:
            self._port(pid.id, "stopCapture").capturing = False
        return self._ack()

    def _rpc_getCaptureBuffer(self, request):
        return pcap(self._port(request.id, "getCaptureBuffer").captured)

    def _rpc_getStats(self, request):
        out = self.pb.PortStatsList()
        for pid in request.port_id:
            p = self._port(pid.id, "getStats")
            self._settle(p)
            s = out.port_stats.add()
            s.port_id.id = p.id
            s.state.is_transmit_on = bool(p.tx_until)
            s.state.link_state = 1 if p.name in self.links_down else 2  # LinkStateDown / LinkStateUp
            s.tx_pkts, s.tx_bytes = p.tx_frames, p.tx_bytes
        return out

    def _rpc_clearStats(self, request):
        for pid in request.port_id:
            p = self._port(pid.id, "clearStats")
            p.tx_frames = p.tx_bytes = 0
        return self._ack()
