"""python-ostinato as a Drone backend, behind the same interface as the built-in client.

python-ostinato is Ostinato's own (proprietary, not on any public index) Python
client. Its generated protobuf modules register the same message names as this
project's, so this module must never be imported in a process that imported
``ostinato_tcp.drone._pb``; :func:`ostinato_tcp.drone.open_drone` makes sure.
"""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import DroneConnectError, DroneError, DroneRpcError, UsageError
from ._api import DroneApi

RPC_NAMES = ("getPortIdList", "getPortConfig", "modifyPort", "getStreamIdList", "getStreamConfig", "addStream",
             "deleteStream", "modifyStream", "startTransmit", "stopTransmit", "startCapture", "stopCapture",
             "getCaptureBuffer", "getStats", "clearStats", "getDeviceGroupIdList", "getDeviceGroupConfig",
             "addDeviceGroup", "deleteDeviceGroup", "modifyDeviceGroup", "getDeviceList",
             "resolveDeviceNeighbors", "clearDeviceNeighbors", "getDeviceNeighbors", "build")


def _namespace(*modules) -> SimpleNamespace:
    merged: dict = {}
    for mod in modules:
        merged.update({k: v for k, v in vars(mod).items() if not k.startswith("_")})
    return SimpleNamespace(**merged)


class PythonOstinatoDrone(DroneApi):
    backend_name = "python-ostinato"

    def __init__(self, host: str, port: int = 7878, *, timeout: float = 10.0, **_ignored):
        try:
            from ostinato.core import DroneProxy, emul, ost_pb
            from ostinato.protocols import eth2_pb2, ip4_pb2, mac_pb2, tcp_pb2
        except ImportError as exc:
            raise UsageError(f"--drone-backend python-ostinato: python-ostinato is not importable ({exc}); install "
                             "it, or use the built-in client (--drone-backend builtin)") from None
        self.host, self.port, self.timeout = host, int(port), timeout
        self.pb = _namespace(ost_pb, mac_pb2, eth2_pb2, ip4_pb2, tcp_pb2)
        self.emul = emul
        self._proxy = DroneProxy(host, int(port))
        self.announced_version = None
        self.drone_version = None  # python-ostinato does not say which version Drone accepted
        self._connected = False

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self) -> "PythonOstinatoDrone":
        try:
            self._proxy.connect()
        except Exception as exc:  # python-ostinato raises bare exceptions of several kinds
            raise DroneConnectError(f"python-ostinato could not connect: {exc}", endpoint=self.endpoint,
                                    rpc="connect") from None
        self._connected = True
        return self

    def disconnect(self) -> None:
        if self._connected:
            try:
                self._proxy.disconnect()
            finally:
                self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    def __enter__(self):
        if not self._connected:
            self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()

    def call(self, name: str, request=None, *, timeout: float | None = None):
        method = getattr(self._proxy, name, None)
        if method is None:
            raise DroneError(f"python-ostinato has no RPC {name!r}", endpoint=self.endpoint, rpc=name)
        try:
            reply = method() if request is None else method(request)
        except DroneError:
            raise
        except Exception as exc:
            raise DroneRpcError(f"{type(exc).__name__}: {exc}", endpoint=self.endpoint, rpc=name) from None
        status = getattr(reply, "status", None)
        if status is not None and type(reply).__name__ == "Ack" and status != 0:
            raise DroneRpcError(reply.notes or "Drone reported an error", endpoint=self.endpoint, rpc=name)
        return reply


def _make(name: str):
    def rpc(self, request=None, *, timeout: float | None = None):
        return self.call(name, request, timeout=timeout)

    rpc.__name__ = name
    return rpc


for _name in RPC_NAMES:
    setattr(PythonOstinatoDrone, _name, _make(_name))
