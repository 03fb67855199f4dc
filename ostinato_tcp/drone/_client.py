"""ostinato-tcp's own client for Drone's RPC interface (Drone 1.x).

Wire format (see docs/drone-wire.md): every message is an 8-byte big-endian
header ``u16 type, u16 method-or-notification, u32 body length`` followed by a
protobuf body. One request is outstanding at a time. Drone may push
notifications (type 5) at any moment; they are read and handed to a callback
(or dropped), never taken for a reply.

Errors of the socket and protobuf layers stop here: callers only see
:class:`~ostinato_tcp.errors.DroneError` subclasses whose message names the
Drone's ``host:port`` and the RPC.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import time
from typing import Callable

from google.protobuf.message import DecodeError

from ostinato_tcp.errors import (DroneConnectError, DroneError, DroneProtocolError, DroneRpcError, DroneTimeoutError,
                      DroneVersionError)
from ostinato_tcp.drone._api import RPC_INDEX, DroneApi
from ostinato_tcp.drone._pb import ostemul_pb2, ostproto_pb2

log = logging.getLogger(__name__)

HEADER = struct.Struct(">HHI")
MSG_REQUEST, MSG_RESPONSE, MSG_BLOB, MSG_ERROR, MSG_NOTIFY = 1, 2, 3, 4, 5

# name: (method index, request type, reply type); reply None = binary blob.
_P = ostproto_pb2
_TYPES: dict[str, tuple[type, type | None]] = {
    "getPortIdList": (_P.Void, _P.PortIdList),
    "getPortConfig": (_P.PortIdList, _P.PortConfigList),
    "modifyPort": (_P.PortConfigList, _P.Ack),
    "getStreamIdList": (_P.PortId, _P.StreamIdList),
    "getStreamConfig": (_P.StreamIdList, _P.StreamConfigList),
    "addStream": (_P.StreamIdList, _P.Ack),
    "deleteStream": (_P.StreamIdList, _P.Ack),
    "modifyStream": (_P.StreamConfigList, _P.Ack),
    "startTransmit": (_P.PortIdList, _P.Ack),
    "stopTransmit": (_P.PortIdList, _P.Ack),
    "startCapture": (_P.PortIdList, _P.Ack),
    "stopCapture": (_P.PortIdList, _P.Ack),
    "getCaptureBuffer": (_P.PortId, None),
    "getStats": (_P.PortIdList, _P.PortStatsList),
    "clearStats": (_P.PortIdList, _P.Ack),
    "checkVersion": (_P.VersionInfo, _P.VersionCompatibility),
    "getDeviceGroupIdList": (_P.PortId, _P.DeviceGroupIdList),
    "getDeviceGroupConfig": (_P.DeviceGroupIdList, _P.DeviceGroupConfigList),
    "addDeviceGroup": (_P.DeviceGroupIdList, _P.Ack),
    "deleteDeviceGroup": (_P.DeviceGroupIdList, _P.Ack),
    "modifyDeviceGroup": (_P.DeviceGroupConfigList, _P.Ack),
    "getDeviceList": (_P.PortId, _P.PortDeviceList),
    "resolveDeviceNeighbors": (_P.PortIdList, _P.Ack),
    "clearDeviceNeighbors": (_P.PortIdList, _P.Ack),
    "getDeviceNeighbors": (_P.PortId, _P.PortNeighborList),
    "build": (_P.BuildConfig, _P.Ack),
}
METHODS: dict[str, tuple[int, type, type | None]] = {name: (RPC_INDEX[name], *types) for name, types in _TYPES.items()}

# The version announced first when none is configured; Drone answers with the
# MAJOR.MINOR it needs if this one does not match, and the client tries again.
DEFAULT_VERSION_GUESS = "1.2.0"
_NEEDS_RE = re.compile(r"(\d+)\.(\d+)")
SUPPORTED_MAJORS = (1,)  # the .proto files are Drone 1.x's


class DroneClient(DroneApi):
    """A connection to one Drone. Method names follow python-ostinato's ``DroneProxy``.

    Every RPC takes the request message (``getPortIdList`` takes none) and returns
    the reply message; an ``Ack`` with ``kRpcError`` raises :class:`DroneRpcError`.
    """

    pb = ostproto_pb2
    emul = ostemul_pb2

    def __init__(self, host: str, port: int = 7878, *, timeout: float = 10.0, connect_timeout: float = 5.0,
                 version: str | None = None, version_guess: str = DEFAULT_VERSION_GUESS,
                 client_name: str = "ostinato-tcp",
                 on_notification: Callable[[ostproto_pb2.Notification], None] | None = None,
                 max_frame: int = 256 << 20):
        self.host, self.port = host, int(port)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.version = version
        self.version_guess = version_guess
        self.client_name = client_name
        self.on_notification = on_notification
        self.max_frame = max_frame
        self.announced_version: str | None = None
        self.drone_version: str | None = None  # MAJOR.MINOR.x, as learnt from checkVersion
        self.notifications_seen = 0
        self._sock: socket.socket | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    # Connection --------------------------------------------------------------
    def _open(self) -> None:
        """Connect and agree on a version; reconnects once if Drone names another one."""
        announce = self.version or self.version_guess
        result = self._connect_once(announce)
        if result.result != _P.VersionCompatibility.kCompatible:
            needed = _NEEDS_RE.search(result.notes or "")
            self._close()
            if self.version or not needed:
                raise DroneVersionError(f"Drone refused controller version {announce}: {result.notes or 'no reason given'}",
                                        endpoint=self.endpoint, rpc="checkVersion")
            if int(needed.group(1)) not in SUPPORTED_MAJORS:
                raise DroneVersionError(
                    f"Drone needs controller version {needed.group(1)}.{needed.group(2)}.x, an incompatible major "
                    f"version: ostinato-tcp speaks Drone's {'/'.join(map(str, SUPPORTED_MAJORS))}.x interface",
                    endpoint=self.endpoint, rpc="checkVersion")
            corrected = f"{needed.group(1)}.{needed.group(2)}.0"
            log.debug("Drone %s refused version %s (%s); reconnecting as %s",
                      self.endpoint, announce, result.notes, corrected)
            result = self._connect_once(corrected)
            if result.result != _P.VersionCompatibility.kCompatible:
                self._close()
                raise DroneVersionError(f"Drone refused controller version {corrected} too: {result.notes}",
                                        endpoint=self.endpoint, rpc="checkVersion")
            announce = corrected
        self.announced_version = announce
        # Drone accepts a controller of its own MAJOR.MINOR and reports nothing more of itself.
        self.drone_version = ".".join(announce.split(".")[:2]) + ".x"
        log.debug("connected to Drone %s as version %s", self.endpoint, announce)

    def _connect_once(self, version: str) -> ostproto_pb2.VersionCompatibility:
        self._close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except ConnectionRefusedError:
            raise DroneConnectError("connection refused: is Drone running and listening on this port?",
                                    endpoint=self.endpoint, rpc="connect") from None
        except socket.timeout:
            raise DroneConnectError(f"no answer to connect within {self.connect_timeout:g} s",
                                    endpoint=self.endpoint, rpc="connect") from None
        except OSError as exc:
            raise DroneConnectError(f"cannot connect: {exc.strerror or exc}", endpoint=self.endpoint,
                                    rpc="connect") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        return self.checkVersion(_P.VersionInfo(version=version, client_name=self.client_name))

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    @property
    def connected(self) -> bool:
        return self._sock is not None

    # RPC ---------------------------------------------------------------------
    def call(self, name: str, request=None, *, timeout: float | None = None):
        """Send one request and wait for its reply (skipping notifications)."""
        try:
            index, req_type, reply_type = METHODS[name]
        except KeyError:
            raise DroneError(f"unknown RPC {name!r}", endpoint=self.endpoint) from None
        if request is None:
            request = req_type()
        if self._sock is None:
            raise DroneConnectError("not connected", endpoint=self.endpoint, rpc=name)
        if not request.IsInitialized():
            raise DroneError(f"request is missing required fields: {', '.join(request.FindInitializationErrors())}",
                             endpoint=self.endpoint, rpc=name)
        body = request.SerializeToString()
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        try:
            self._send(HEADER.pack(MSG_REQUEST, index, len(body)) + body, deadline)
            while True:
                msg_type, code, length = HEADER.unpack(self._recv_exact(HEADER.size, deadline))
                if length > self.max_frame:
                    raise DroneProtocolError(f"frame length {length} exceeds the limit of {self.max_frame} bytes "
                                             "(not a Drone, or a corrupt stream)", endpoint=self.endpoint, rpc=name)
                payload = self._recv_exact(length, deadline) if length else b""
                if msg_type == MSG_NOTIFY:
                    self._notify(payload)
                    continue
                if msg_type not in (MSG_RESPONSE, MSG_BLOB, MSG_ERROR) or code != index:
                    raise DroneProtocolError(
                        f"unexpected frame (type {msg_type}, method {code}) while waiting for the reply",
                        endpoint=self.endpoint, rpc=name)
                break
        except socket.timeout:
            self._close()
            raise DroneTimeoutError(f"no reply within {limit:g} s", endpoint=self.endpoint, rpc=name) from None
        except DroneError:
            self._close()
            raise
        except OSError as exc:
            self._close()
            raise DroneProtocolError(f"connection lost: {exc.strerror or exc}", endpoint=self.endpoint,
                                     rpc=name) from None
        except BaseException:
            # Interrupted (a signal) between request and reply: the reply would be read as the
            # answer to the next request. Drop the connection; the next user reconnects.
            self._close()
            raise
        if msg_type == MSG_ERROR:  # the connection stays usable
            raise DroneRpcError(payload.decode("utf-8", "replace").strip() or "error reply",
                                endpoint=self.endpoint, rpc=name)
        if reply_type is None:
            return payload
        try:
            reply = reply_type.FromString(payload)
        except DecodeError as exc:
            self._close()
            raise DroneProtocolError(f"undecodable {reply_type.__name__} reply ({exc})", endpoint=self.endpoint,
                                     rpc=name) from None
        if reply_type is _P.Ack and reply.status != _P.Ack.kRpcSuccess:
            raise DroneRpcError((reply.notes or "").strip() or "Drone reported an error", endpoint=self.endpoint,
                                rpc=name)
        return reply

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sent = self._sock.send(view)
            view = view[sent:]

    def _recv_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise ConnectionError("Drone closed the connection")
            buf += chunk
        return bytes(buf)

    def _notify(self, payload: bytes) -> None:
        self.notifications_seen += 1
        try:
            note = _P.Notification.FromString(payload)
        except DecodeError:
            log.debug("Drone %s: undecodable notification skipped", self.endpoint)
            return
        log.debug("Drone %s: notification %s", self.endpoint, note.notif_type)
        if self.on_notification is not None:
            self.on_notification(note)

