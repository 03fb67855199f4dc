"""Talking to Drone: the built-in client (default) or python-ostinato, behind one interface.

Only one backend's protobuf modules may be imported in a process (their message
names collide), so the backends are imported lazily by :func:`open_drone`.
"""

from __future__ import annotations

import sys

from ..errors import UsageError
from ._api import DroneApi

BACKENDS = ("builtin", "python-ostinato")


def open_drone(host: str, port: int = 7878, *, backend: str = "builtin", **kwargs) -> DroneApi:
    """A connected Drone client of the chosen backend."""
    if backend == "builtin":
        if "ostinato.protocols.protocol_pb2" in sys.modules:
            raise UsageError("python-ostinato's protobuf modules are already loaded in this process; "
                             "use --drone-backend python-ostinato")
        from ._client import DroneClient
        return DroneClient(host, port, **kwargs).connect()
    if backend == "python-ostinato":
        if "ostinato_tcp.drone._pb.ostproto_pb2" in sys.modules:
            raise UsageError("the built-in Drone client is already loaded in this process; "
                             "python-ostinato cannot be used beside it")
        from ._python_ostinato import PythonOstinatoDrone
        return PythonOstinatoDrone(host, port, **kwargs).connect()
    raise UsageError(f"drone backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def python_ostinato_available() -> bool:
    from ._python_ostinato import available
    return available()


__all__ = ["BACKENDS", "DroneApi", "open_drone", "python_ostinato_available"]
