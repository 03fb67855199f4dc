"""Who owns a Drone port, and what a run may touch on it.

Drones and their ports are shared in a lab. A run:

* tags everything it creates (stream and device-group names start with
  ``ostinato-tcp:<scenario>:``) and removes only what carries its tag;
* writes an owner tag into the port's ``user_name`` while it runs (the field
  Ostinato's GUI shows as the port's user) and puts the old value back after;
* refuses a port that another ostinato-tcp run owns, naming that owner, unless that
  run's process is known to be gone (a run of this host that ended): a live run, or a
  run of another host, is never taken over, not even with ``--take-over-ports``;
* refuses a port that someone reserved (its user name is set, as Ostinato's GUI does);
* refuses a port that carries streams or device groups it did not create, or is
  in interleaved mode, unless the user passes ``--take-over-ports``: then the
  foreign enabled streams are disabled and the transmit mode set to sequential
  for the run, and both are restored afterwards. Foreign streams and device
  groups are never deleted.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import socket
from dataclasses import dataclass, field

from .errors import OstinatoTcpError, UsageError
from .streams import NAME_PREFIX

log = logging.getLogger(__name__)
OWNER_RE = re.compile(r"^ostinato-tcp run pid (\d+) on (\S+)")


def owner_tag(scenario_name: str) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"ostinato-tcp run pid {os.getpid()} on {socket.gethostname()} by {user} (scenario {scenario_name})"


def owner_is_gone(tag: str) -> bool:
    """True when ``tag`` names an ostinato-tcp run of this host whose process has ended."""
    m = OWNER_RE.match(tag or "")
    if not m or m.group(2) != socket.gethostname():
        return False
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class PortClaim:
    """What a run changed on one port, to put back when it ends."""

    drone: object
    port_id: int
    name: str
    tag: str
    old_user_name: str | None = None  # None: the run did not set the tag
    old_transmit_mode: int | None = None  # None: left as it was
    disabled: list = field(default_factory=list)  # full Stream configs of foreign streams disabled for the run
    warnings: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"port {self.name} on Drone {self.drone.endpoint}"

    # ------------------------------------------------------------------ inspect and claim
    def claim(self, *, take_over: bool) -> None:
        """Check the port, then tag it and make the changes the run needs (take-over only)."""
        d, pb = self.drone, self.drone.pb
        cfg = d.port_config(self.port_id)
        owner = cfg.user_name
        if OWNER_RE.match(owner or ""):
            if owner_is_gone(owner):
                self.warnings.append(f"{self.where} was tagged by a run that is gone ('{owner}'); taken over")
            else:
                # Live, or of another host (its process cannot be checked from here): its streams
                # are that run's, and --take-over-ports never touches them.
                raise UsageError(f"{self.where} is in use by {owner}; wait for that run to end (--take-over-ports "
                                 "never takes a port from a run that may be live). If that run is gone, "
                                 "'ostinato-tcp cleanup --force SCENARIO' removes its tag and streams")
        elif owner and not take_over:
            raise UsageError(f"{self.where} is reserved by user {owner!r} (its user name is set); use another port, "
                             "or pass --take-over-ports (the user name is put back after the run)")
        state = d.stats([self.port_id])[self.port_id].state
        if state.is_transmit_on:
            raise UsageError(f"{self.where} is transmitting ({'user ' + repr(owner) if owner else 'no user set'}); "
                             "wait for it or stop it")
        streams = []
        ids = d.getStreamIdList(pb.PortId(id=self.port_id))
        if ids.stream_id:
            streams = list(d.getStreamConfig(ids).stream)
        foreign = [s for s in streams if not s.core.name.startswith(NAME_PREFIX)]
        leftovers = [s for s in streams if s.core.name.startswith(NAME_PREFIX)]
        gids = d.getDeviceGroupIdList(pb.PortId(id=self.port_id))
        groups = list(d.getDeviceGroupConfig(gids).device_group) if gids.device_group_id else []
        foreign_groups = [g for g in groups if not g.core.name.startswith(NAME_PREFIX)]
        leftover_groups = [g for g in groups if g.core.name.startswith(NAME_PREFIX)]
        interleaved = cfg.transmit_mode != pb.kSequentialTransmit
        if not take_over:
            if foreign or foreign_groups:
                what = []
                if foreign:
                    what.append(f"{len(foreign)} stream(s) (e.g. {foreign[0].core.name or 'unnamed'!r})")
                if foreign_groups:
                    what.append(f"{len(foreign_groups)} device group(s) (e.g. "
                                f"{foreign_groups[0].core.name or 'unnamed'!r})")
                raise UsageError(f"{self.where} carries {' and '.join(what)} that ostinato-tcp did not create; use "
                                 "another port, remove them, or pass --take-over-ports (their streams are disabled "
                                 "for the run and re-enabled after it; nothing of theirs is deleted)")
            if leftovers or leftover_groups:
                names = sorted({s.core.name.split(":")[1] for s in leftovers + leftover_groups
                                if s.core.name.count(":") >= 2})
                raise UsageError(f"{self.where} holds {len(leftovers)} stream(s) and {len(leftover_groups)} device "
                                 f"group(s) left by an interrupted ostinato-tcp run (scenario "
                                 f"{', '.join(names) or '?'}); 'ostinato-tcp cleanup SCENARIO' removes them")
            if interleaved:
                raise UsageError(f"{self.where} is in interleaved transmit mode; the SYN stream must hand over to "
                                 "the ACK stream, which needs sequential mode. Set the port to sequential, or pass "
                                 "--take-over-ports (the mode is restored after the run)")
        # Tag first, then check nobody else tagged it at the same moment (Drone keeps the last write).
        # What to put back is noted first: a signal right after the change must not lose it.
        self.old_user_name = "" if OWNER_RE.match(owner or "") else owner  # a gone run's tag is not restored
        if interleaved:
            self.old_transmit_mode = cfg.transmit_mode
        d.modify_port(self.port_id, user_name=self.tag,
                      **({"transmit_mode": pb.kSequentialTransmit} if interleaved else {}))
        now = d.port_config(self.port_id).user_name
        if now != self.tag:
            raise UsageError(f"{self.where} was claimed at the same moment by {now!r}; try again later")
        if take_over:
            if leftovers:
                d.deleteStream(d.stream_id_list(self.port_id, [s.stream_id.id for s in leftovers]))
            if leftover_groups:
                d.deleteDeviceGroup(d.device_group_id_list(self.port_id,
                                                           [g.device_group_id.id for g in leftover_groups]))
            enabled = [s for s in foreign if s.core.is_enabled]
            if enabled:
                off = pb.StreamConfigList()
                off.port_id.id = self.port_id
                for s in enabled:
                    copy = off.stream.add()
                    copy.CopyFrom(s)
                    copy.core.is_enabled = False
                d.modifyStream(off)
                self.disabled = enabled
            if foreign or foreign_groups or interleaved:
                self.warnings.append(
                    f"--take-over-ports: {self.where}: " + ", ".join(
                        x for x in (f"{len(enabled)} foreign stream(s) disabled for the run" if enabled else "",
                                    f"{len(foreign_groups)} foreign device group(s) left in place (they answer ARP "
                                    "too)" if foreign_groups else "",
                                    "interleaved mode switched to sequential for the run" if interleaved else "")
                        if x) + "; restored afterwards")

    # ------------------------------------------------------------------ release
    def release(self) -> list[str]:
        """Put back what :meth:`claim` changed; returns what could not be restored."""
        problems = []
        d = self.drone
        if self.disabled:
            try:
                on = d.pb.StreamConfigList()
                on.port_id.id = self.port_id
                for s in self.disabled:
                    on.stream.add().CopyFrom(s)  # as read before the run: enabled
                d.modifyStream(on)
                self.disabled = []
            except (OstinatoTcpError, OSError) as exc:
                problems.append(f"{self.where}: could not re-enable {len(self.disabled)} foreign stream(s): {exc}")
        if self.old_user_name is not None or self.old_transmit_mode is not None:
            try:
                back = {}
                if d.port_config(self.port_id).user_name == self.tag:  # nobody took it over meanwhile
                    back["user_name"] = self.old_user_name
                if self.old_transmit_mode is not None:
                    back["transmit_mode"] = self.old_transmit_mode
                d.modify_port(self.port_id, **back)
                self.old_user_name = self.old_transmit_mode = None
            except (OstinatoTcpError, OSError) as exc:
                problems.append(f"{self.where}: could not restore the port's user name / transmit mode: {exc}")
        return problems
