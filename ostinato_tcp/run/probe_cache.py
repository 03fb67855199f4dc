"""The fast build's checksum check, remembered between runs.

Checking the fast build costs a capture (about 1.6 s: the capture thread opens, then hands
its last frames over only after about a second). Its verdict depends on the Drone program
(its version), the port and the frame form, not on the run, so a good verdict is kept for
:data:`KEEP_SECONDS` per Drone endpoint, Drone version, port, address family and frame
length, in ``build-checks.json`` under ``$OSTINATO_TCP_CACHE_DIR`` (default: the user's
cache directory). Only good verdicts are kept: a Drone whose frames came out wrong is checked
again by every run. Nothing a PASS rests on comes from here: a wrong checksum could only make
the DUT drop a packet, so a connection could fail, never pass, by it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

KEEP_SECONDS = 86400.0


def cache_dir() -> Path:
    env = os.environ.get("OSTINATO_TCP_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ostinato-tcp"))


class BuildCheckCache:
    """Good fast-build verdicts by Drone, version, port and frame form."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "build-checks.json"

    @staticmethod
    def key(port, sc) -> str:
        return (f"{port.drone.endpoint}|{port.drone.drone_version or '?'}|{port.name}|ipv{sc.connections.family}"
                f"|{sc.traffic.frame_length}")

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def knows_good(self, port, sc) -> bool:
        entry = self._read().get(self.key(port, sc))
        return isinstance(entry, dict) and time.time() - float(entry.get("checked_at", 0)) < KEEP_SECONDS

    def when(self, port, sc) -> str:
        entry = self._read().get(self.key(port, sc)) or {}
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(entry.get("checked_at", 0))))

    def remember_good(self, port, sc, *, frames: int) -> None:
        data = {k: v for k, v in self._read().items()
                if isinstance(v, dict) and time.time() - float(v.get("checked_at", 0)) < KEEP_SECONDS}
        data[self.key(port, sc)] = {"checked_at": time.time(), "frames": frames}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(self.path)
        except OSError:
            pass  # a cache that cannot be written only means the next run checks again
