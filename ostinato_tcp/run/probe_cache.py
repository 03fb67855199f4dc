"""What the probe measures, remembered between runs: the fast build's checksum check (a day)
and the ports' send ceiling with Drone's build cost (an hour, :class:`ProbeMemory`).

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


REMEMBER_PROBE_SECONDS = 3600.0
REMEMBERED_SHARE = 0.25  # a run asking at most this share of a remembered usable ceiling needs no new probe


class ProbeMemory:
    """The last probe's send ceiling and build cost per port pair (both ports' Drone endpoint,
    version and name, the frame form), kept for :data:`REMEMBER_PROBE_SECONDS`. A run whose
    rate is at most :data:`REMEMBERED_SHARE` of that ceiling's usable rate does not probe again:
    the ceiling only refuses rates near it, and the run's own ports are timed as always (a port
    that falls behind is still seen). In ``probes.json`` beside the checksum verdicts."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "probes.json"

    @staticmethod
    def key(ports: dict, sc) -> str:
        return "|".join(f"{side}={p.drone.endpoint}/{p.drone.drone_version or '?'}/{p.name}"
                        for side, p in sorted(ports.items())) + \
            f"|ipv{sc.connections.family}|{sc.traffic.frame_length}|{sc.traffic.drone_build}"

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def recall(self, ports: dict, sc) -> dict | None:
        entry = self._read().get(self.key(ports, sc))
        if not isinstance(entry, dict) or time.time() - float(entry.get("measured_at", 0)) >= REMEMBER_PROBE_SECONDS:
            return None
        return entry

    def remember(self, ports: dict, sc, *, ceiling: dict, per_packet: float, fast: bool) -> None:
        now = time.time()
        data = {k: v for k, v in self._read().items()
                if isinstance(v, dict) and now - float(v.get("measured_at", 0)) < REMEMBER_PROBE_SECONDS}
        data[self.key(ports, sc)] = {"measured_at": now, "ceiling": ceiling, "per_packet": per_packet, "fast": fast}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(self.path)
        except OSError:
            pass
