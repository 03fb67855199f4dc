"""python-ostinato as a Drone backend, behind the same interface as the built-in client.

python-ostinato is Ostinato's own (proprietary, not on any public index) Python
client. Its generated protobuf modules register the same message names as this
project's, so this module must never be imported in a process that imported
``ostinato_tcp.drone._pb``; :func:`ostinato_tcp.drone.open_drone` makes sure.
"""

from __future__ import annotations

from types import SimpleNamespace

from ostinato_tcp.errors import DroneConnectError, DroneError, DroneRpcError, UsageError
from ostinato_tcp.drone._api import RPC_INDEX, DroneApi


def _namespace(*modules) -> SimpleNamespace:
    merged: dict = {}
    for mod in modules:
        merged.update({k: v for k, v in vars(mod).items() if not k.startswith("_")})
    return SimpleNamespace(**merged)


class PythonOstinatoDrone(DroneApi):

    def __init__(self, host: str, port: int = 7878, *, timeout: float = 10.0, **_ignored):
        try:
            from ostinato.core import DroneProxy, emul, ost_pb
            from ostinato.protocols import eth2_pb2, ip4_pb2, mac_pb2, payload_pb2, tcp_pb2
        except ImportError as exc:
            raise UsageError(f"--drone-backend python-ostinato: python-ostinato is not importable ({exc}); install "
                             "it, or use the built-in client (--drone-backend builtin)") from None
        self.host, self.port, self.timeout = host, int(port), timeout
        self.pb = _namespace(ost_pb, mac_pb2, eth2_pb2, ip4_pb2, tcp_pb2, payload_pb2)
        self.emul = emul
        self._proxy = DroneProxy(host, int(port))
        self.announced_version = None
        self.drone_version = None  # python-ostinato does not say which version Drone accepted
        self._connected = False

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._connected

    def _open(self) -> None:
        try:
            self._proxy.connect()
        except Exception as exc:  # python-ostinato raises bare exceptions of several kinds
            raise DroneConnectError(f"python-ostinato could not connect: {exc}", endpoint=self.endpoint,
                                    rpc="connect") from None
        self._connected = True

    def _close(self) -> None:
        if self._connected:
            try:
                self._proxy.disconnect()
            finally:
                self._connected = False

    def call(self, name: str, request=None, *, timeout: float | None = None):
        # python-ostinato has no per-call timeout; its own socket settings apply.
        method = getattr(self._proxy, name, None) if name in RPC_INDEX else None
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
