"""Talking to Drone: the built-in client (default) or python-ostinato, behind one interface.

Only one backend's protobuf modules may be imported in a process (their message
names collide), so the backends are imported lazily by :func:`open_drone`.
"""

from __future__ import annotations

import sys

from ostinato_tcp.errors import UsageError
from ostinato_tcp.drone._api import DroneApi

BACKENDS = ("builtin", "python-ostinato")


def open_drone(host: str, port: int = 7878, *, backend: str = "builtin", **kwargs) -> DroneApi:
    """A connected Drone client of the chosen backend."""
    if backend == "builtin":
        if "ostinato.protocols.protocol_pb2" in sys.modules:
            raise UsageError("python-ostinato's protobuf modules are already loaded in this process; "
                             "use --drone-backend python-ostinato")
        from ostinato_tcp.drone._client import DroneClient
        return DroneClient(host, port, **kwargs).connect()
    if backend == "python-ostinato":
        # a second connection (one per port) finds python-ostinato loaded by the first: fine
        if "ostinato_tcp.drone._pb.ostproto_pb2" in sys.modules and "ostinato.core" not in sys.modules:
            raise UsageError("the built-in Drone client is already loaded in this process; "
                             "python-ostinato cannot be used beside it")
        from ostinato_tcp.drone._python_ostinato import PythonOstinatoDrone
        return PythonOstinatoDrone(host, port, **kwargs).connect()
    raise UsageError(f"drone backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def check_backend(backend: str) -> None:
    """Raise UsageError unless ``backend`` can be used here (imports nothing of it)."""
    import importlib.util

    if backend not in BACKENDS:
        raise UsageError(f"drone backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "python-ostinato":
        try:
            found = importlib.util.find_spec("ostinato.core") is not None
        except ImportError:
            found = False
        if not found:
            raise UsageError("--drone-backend python-ostinato: python-ostinato is not installed (it is Ostinato's "
                             "own, proprietary client); use the built-in client (--drone-backend builtin)")


__all__ = ["BACKENDS", "DroneApi", "check_backend", "open_drone"]
