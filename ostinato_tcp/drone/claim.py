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

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ostinato_tcp.drone._api import TRANSMIT_SEQUENTIAL
from ostinato_tcp.errors import OstinatoTcpError, UsageError
from ostinato_tcp.ground.naming import OWNER_RE, is_ours, owner_is_gone, scenario_in_name

if TYPE_CHECKING:
    from ostinato_tcp.drone import DroneApi

log = logging.getLogger(__name__)
@dataclass
class PortClaim:
    """What a run changed on one port, to put back when it ends."""

    drone: "DroneApi"
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
        d = self.drone
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
                                 "'ostinato-tcp cleanup --remove-live-tag SCENARIO' removes its tag and streams")
        elif owner and not take_over:
            raise UsageError(f"{self.where} is reserved by user {owner!r} (its user name is set); use another port, "
                             "or pass --take-over-ports (the user name is put back after the run)")
        state = d.stats([self.port_id])[self.port_id].state
        if state.is_transmit_on:
            raise UsageError(f"{self.where} is transmitting ({'user ' + repr(owner) if owner else 'no user set'}); "
                             "wait for it or stop it")
        streams = d.streams(self.port_id)
        foreign = [s for s in streams if not is_ours(s.core.name)]
        leftovers = [s for s in streams if is_ours(s.core.name)]
        groups = d.device_groups(self.port_id)
        foreign_groups = [g for g in groups if not is_ours(g.core.name)]
        leftover_groups = [g for g in groups if is_ours(g.core.name)]
        interleaved = cfg.transmit_mode != TRANSMIT_SEQUENTIAL
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
                names = sorted({scenario_in_name(x.core.name) or "?" for x in leftovers + leftover_groups})
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
                      **({"transmit_mode": TRANSMIT_SEQUENTIAL} if interleaved else {}))
        now = d.port_config(self.port_id).user_name
        if now != self.tag:
            raise UsageError(f"{self.where} was claimed at the same moment by {now!r}; try again later")
        if take_over:
            d.delete_streams(self.port_id, [s.stream_id.id for s in leftovers])
            d.delete_device_groups(self.port_id, [g.device_group_id.id for g in leftover_groups])
            enabled = [s for s in foreign if s.core.is_enabled]
            if enabled:
                off = []
                for s in enabled:
                    copy = type(s)()
                    copy.CopyFrom(s)
                    copy.core.is_enabled = False
                    off.append(copy)
                self.disabled = enabled  # noted first: a signal during the RPC must not lose them
                d.put_streams(self.port_id, off)
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
                d.put_streams(self.port_id, self.disabled)  # as read before the run: enabled
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
