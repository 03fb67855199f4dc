"""The Drone interface every backend implements: each RPC the project uses, declared once.

In the manner of NAPALM's ``NetworkDriver``: :class:`DroneApi` names, types and
documents every RPC (Drone's method index, request and reply messages); a backend
only provides the transport (:meth:`DroneApi.call`, :meth:`DroneApi._open`,
:meth:`DroneApi._close`, :attr:`DroneApi.connected`) and its message namespaces
``pb`` (OstProto) and ``emul`` (OstEmul). Connecting, the context manager and the
helpers built on the RPCs live here once, so they work the same over the built-in
client, python-ostinato and the in-memory fake.

Messages are protobuf messages of the backend's namespace; the type hints name
them by their Drone message name (``Message`` at run time).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Iterable

from google.protobuf.message import Message

from ostinato_tcp.errors import DroneTimeoutError, UnknownPortError

# Drone's method index per RPC name (docs/drone-wire.md). The built-in client frames
# requests with these; the declarations below are in the same order.
RPC_INDEX: dict[str, int] = {
    "getPortIdList": 0, "getPortConfig": 1, "modifyPort": 2, "getStreamIdList": 3, "getStreamConfig": 4,
    "addStream": 5, "deleteStream": 6, "modifyStream": 7, "startTransmit": 8, "stopTransmit": 9,
    "startCapture": 10, "stopCapture": 11, "getCaptureBuffer": 12, "getStats": 13, "clearStats": 14,
    "checkVersion": 15, "getDeviceGroupIdList": 16, "getDeviceGroupConfig": 17, "addDeviceGroup": 18,
    "deleteDeviceGroup": 19, "modifyDeviceGroup": 20, "getDeviceList": 21, "resolveDeviceNeighbors": 22,
    "clearDeviceNeighbors": 23, "getDeviceNeighbors": 24, "build": 27,
}
TRANSMIT_SEQUENTIAL = 0  # Port.transmit_mode kSequentialTransmit (kInterleavedTransmit is 1)


class DroneHelpers:
    """Helpers built on the RPCs, for every backend (mixed into :class:`DroneApi`)."""

    # ------------------------------------------------------------------ messages the helpers need
    def port_id(self, port_id: int) -> Message:
        return self.pb.PortId(id=port_id)

    def port_id_list(self, port_ids: Iterable[int]) -> Message:
        ids = self.pb.PortIdList()
        for pid in port_ids:
            ids.port_id.add().id = pid
        return ids

    def stream_id_list(self, port_id: int, stream_ids: Iterable[int] = ()) -> Message:
        ids = self.pb.StreamIdList()
        ids.port_id.id = port_id
        for sid in stream_ids:
            ids.stream_id.add().id = sid
        return ids

    def device_group_id_list(self, port_id: int, group_ids: Iterable[int] = ()) -> Message:
        ids = self.pb.DeviceGroupIdList()
        ids.port_id.id = port_id
        for gid in group_ids:
            ids.device_group_id.add().id = gid
        return ids

    # ------------------------------------------------------------------ helpers on the RPCs
    def port_names(self) -> dict[str, int]:
        """Interface name -> port id, for every port Drone lists."""
        cfg = self.getPortConfig(self.getPortIdList())
        return {p.name: p.port_id.id for p in cfg.port}

    def port_config(self, port_id: int) -> Message:
        return self.getPortConfig(self.port_id_list([port_id])).port[0]

    def find_port(self, name: str | int) -> int:
        """The port id of the interface called ``name`` (an int: that port id); the error
        lists what exists."""
        names = self.port_names()
        if isinstance(name, int):
            if name in names.values():
                return name
            raise UnknownPortError(f"no port with id {name}; Drone has: "
                                   + (", ".join(f"{i} ({n})" for n, i in sorted(names.items(), key=lambda kv: kv[1]))
                                      or "none"), endpoint=self.endpoint, rpc="getPortConfig")
        if name not in names:
            raise UnknownPortError(f"no port named '{name}'; Drone has: "
                                   + (", ".join(f"'{n}'" for n in sorted(names)) or "none"),
                                   endpoint=self.endpoint, rpc="getPortConfig")
        return names[name]

    def modify_port(self, port_id: int, **fields) -> None:
        """modifyPort with only ``fields`` set (Drone leaves unset fields as they are)."""
        cl = self.pb.PortConfigList()
        p = cl.port.add()
        p.port_id.id = port_id
        for key, value in fields.items():
            setattr(p, key, value)
        self.modifyPort(cl)

    def stream_ids(self, port_id: int) -> list[int]:
        return [s.id for s in self.getStreamIdList(self.port_id(port_id)).stream_id]

    def streams(self, port_id: int) -> list[Message]:
        """Every stream's configuration on the port (``Stream`` messages)."""
        ids = self.getStreamIdList(self.port_id(port_id))
        return list(self.getStreamConfig(ids).stream) if ids.stream_id else []

    def put_streams(self, port_id: int, streams: Iterable[Message]) -> None:
        """modifyStream with these whole ``Stream`` configurations (e.g. read back before)."""
        cfg = self.pb.StreamConfigList()
        cfg.port_id.id = port_id
        for s in streams:
            cfg.stream.add().CopyFrom(s)
        if cfg.stream:
            self.modifyStream(cfg)

    def delete_streams(self, port_id: int, stream_ids: Iterable[int]) -> None:
        ids = list(stream_ids)
        if ids:
            self.deleteStream(self.stream_id_list(port_id, ids))

    def device_group_ids(self, port_id: int) -> list[int]:
        return [g.id for g in self.getDeviceGroupIdList(self.port_id(port_id)).device_group_id]

    def device_groups(self, port_id: int) -> list[Message]:
        ids = self.getDeviceGroupIdList(self.port_id(port_id))
        return list(self.getDeviceGroupConfig(ids).device_group) if ids.device_group_id else []

    def delete_device_groups(self, port_id: int, group_ids: Iterable[int]) -> None:
        ids = list(group_ids)
        if ids:
            self.deleteDeviceGroup(self.device_group_id_list(port_id, ids))

    def stats(self, port_ids: Iterable[int]) -> dict[int, Message]:
        """Port id -> PortStats."""
        reply = self.getStats(self.port_id_list(port_ids))
        return {s.port_id.id: s for s in reply.port_stats}

    def wait_transmit_done(self, port_ids, timeout: float, poll: float = 0.1, on_poll=None) -> dict[int, Message]:
        """Poll getStats until no port in ``port_ids`` transmits; return the last stats."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats(port_ids)
            if on_poll is not None:
                on_poll(st)
            if not any(s.state.is_transmit_on for s in st.values()):
                return st
            if time.monotonic() > deadline:
                busy = [str(pid) for pid, s in st.items() if s.state.is_transmit_on]
                raise DroneTimeoutError(f"port(s) {', '.join(busy)} still transmitting after {timeout:g} s",
                                        endpoint=self.endpoint, rpc="getStats")
            time.sleep(poll)

    def settled_stats(self, port_ids, expected_tx: dict[int, int] | None = None, timeout: float = 3.0,
                      quiet: float = 1.2, poll: float = 0.1) -> dict[int, Message]:
        """Port stats once Drone's counters caught up: Drone refreshes them about once a
        second, so they lag the end of transmit. Returns when every port reached its
        ``expected_tx`` (if given), else when nothing changed for ``quiet`` seconds, or
        at ``timeout``."""
        deadline = time.monotonic() + timeout
        last_key, since = None, time.monotonic()
        while True:
            st = self.stats(port_ids)
            if expected_tx and all(st[p].tx_pkts >= n for p, n in expected_tx.items()):
                return st
            key = tuple((p, s.tx_pkts, s.rx_pkts) for p, s in sorted(st.items()))
            now = time.monotonic()
            if key != last_key:
                last_key, since = key, now
            elif not expected_tx and now - since >= quiet:
                return st
            if now > deadline:
                return st
            time.sleep(poll)


class DroneApi(DroneHelpers, ABC):
    """One Drone: its RPCs (python-ostinato's ``DroneProxy`` names) and helpers on them.

    Every RPC takes its request message (``getPortIdList`` none) and a per-call
    ``timeout`` (seconds; the backend's default when None) and returns the reply
    message. An ``Ack`` reply with ``kRpcError`` raises :class:`DroneRpcError`;
    every other failure is a :class:`~ostinato_tcp.errors.DroneError` naming the
    Drone's ``host:port`` and the RPC.
    """

    pb: Any  # OstProto messages and extensions of this backend
    emul: Any  # OstEmul extensions of this backend
    drone_version: str | None = None  # what checkVersion established (MAJOR.MINOR.x), if the backend knows
    # Drone's capture thread needs this long to open, and hands its last frames over only this long
    # after they were sent (pcap's one-second read timeout); the fake has neither wait
    capture_open_seconds: float = 0.3
    capture_settle_seconds: float = 1.3

    # ------------------------------------------------------------------ transport (per backend)
    @property
    @abstractmethod
    def endpoint(self) -> str:
        """``host:port`` of this Drone, for messages."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while a connection is open."""

    @abstractmethod
    def _open(self) -> None:
        """Open the connection and agree on a version."""

    @abstractmethod
    def _close(self) -> None:
        """Close the connection (no error when it is closed already)."""

    @abstractmethod
    def call(self, name: str, request: Message | None = None, *, timeout: float | None = None) -> Any:
        """Send RPC ``name`` with ``request`` and return its reply (skipping notifications)."""

    # ------------------------------------------------------------------ connection (shared)
    def connect(self) -> "DroneApi":
        self._open()
        return self

    def disconnect(self) -> None:
        self._close()

    def ensure_connected(self) -> "DroneApi":
        """Reconnect when the connection was dropped (after a fault or a signal)."""
        if not self.connected:
            self._open()
        return self

    def __enter__(self) -> "DroneApi":
        return self.ensure_connected()

    def __exit__(self, *exc) -> None:
        self._close()

    # ------------------------------------------------------------------ the RPCs
    def getPortIdList(self, request: Message | None = None, *, timeout: float | None = None) -> Message:
        """RPC 0 (Void -> PortIdList): the id of every port Drone lists."""
        return self.call("getPortIdList", request, timeout=timeout)

    def getPortConfig(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 1 (PortIdList -> PortConfigList): name, user name, transmit mode... of each port."""
        return self.call("getPortConfig", request, timeout=timeout)

    def modifyPort(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 2 (PortConfigList -> Ack): set the fields given of each port; others stay."""
        return self.call("modifyPort", request, timeout=timeout)

    def getStreamIdList(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 3 (PortId -> StreamIdList): the streams a port holds."""
        return self.call("getStreamIdList", request, timeout=timeout)

    def getStreamConfig(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 4 (StreamIdList -> StreamConfigList): the configuration of those streams."""
        return self.call("getStreamConfig", request, timeout=timeout)

    def addStream(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 5 (StreamIdList -> Ack): create empty streams with these ids."""
        return self.call("addStream", request, timeout=timeout)

    def deleteStream(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 6 (StreamIdList -> Ack): delete these streams."""
        return self.call("deleteStream", request, timeout=timeout)

    def modifyStream(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 7 (StreamConfigList -> Ack): replace the configuration of these streams."""
        return self.call("modifyStream", request, timeout=timeout)

    def startTransmit(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 8 (PortIdList -> Ack): start sending (Drone builds first if it has not)."""
        return self.call("startTransmit", request, timeout=timeout)

    def stopTransmit(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 9 (PortIdList -> Ack): stop sending."""
        return self.call("stopTransmit", request, timeout=timeout)

    def startCapture(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 10 (PortIdList -> Ack): start capturing what the port receives and sends."""
        return self.call("startCapture", request, timeout=timeout)

    def stopCapture(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 11 (PortIdList -> Ack): stop capturing."""
        return self.call("stopCapture", request, timeout=timeout)

    def getCaptureBuffer(self, request: Message, *, timeout: float | None = None) -> bytes:
        """RPC 12 (PortId -> pcap bytes): what the last capture holds."""
        return self.call("getCaptureBuffer", request, timeout=timeout)

    def getStats(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 13 (PortIdList -> PortStatsList): counters and transmit state of each port."""
        return self.call("getStats", request, timeout=timeout)

    def clearStats(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 14 (PortIdList -> Ack): zero the counters of these ports."""
        return self.call("clearStats", request, timeout=timeout)

    def checkVersion(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 15 (VersionInfo -> VersionCompatibility): the first request on a connection."""
        return self.call("checkVersion", request, timeout=timeout)

    def getDeviceGroupIdList(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 16 (PortId -> DeviceGroupIdList): the emulated device groups of a port."""
        return self.call("getDeviceGroupIdList", request, timeout=timeout)

    def getDeviceGroupConfig(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 17 (DeviceGroupIdList -> DeviceGroupConfigList): their configuration."""
        return self.call("getDeviceGroupConfig", request, timeout=timeout)

    def addDeviceGroup(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 18 (DeviceGroupIdList -> Ack): create empty device groups with these ids."""
        return self.call("addDeviceGroup", request, timeout=timeout)

    def deleteDeviceGroup(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 19 (DeviceGroupIdList -> Ack): delete these device groups."""
        return self.call("deleteDeviceGroup", request, timeout=timeout)

    def modifyDeviceGroup(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 20 (DeviceGroupConfigList -> Ack): replace their configuration."""
        return self.call("modifyDeviceGroup", request, timeout=timeout)

    def getDeviceList(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 21 (PortId -> PortDeviceList): every emulated device of a port (MAC, IPv4)."""
        return self.call("getDeviceList", request, timeout=timeout)

    def resolveDeviceNeighbors(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 22 (PortIdList -> Ack): the devices ARP for their gateways (Drone waits ~0.5 s)."""
        return self.call("resolveDeviceNeighbors", request, timeout=timeout)

    def clearDeviceNeighbors(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 23 (PortIdList -> Ack): forget what the devices resolved."""
        return self.call("clearDeviceNeighbors", request, timeout=timeout)

    def getDeviceNeighbors(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 24 (PortId -> PortNeighborList): each device's ARP table (MAC 0: unresolved)."""
        return self.call("getDeviceNeighbors", request, timeout=timeout)

    def build(self, request: Message, *, timeout: float | None = None) -> Message:
        """RPC 27 (BuildConfig -> Ack): build a port's packet list now, not inside startTransmit."""
        return self.call("build", request, timeout=timeout)
