"""One claimed Drone port: the object a run drives (in the manner of TRex's ``STLPort``).

A :class:`DronePort` owns everything the run does to one port of one Drone: the
claim and its owner tag (:class:`~ostinato_tcp.drone.claim.PortClaim`), stream and
device-group ids taken from what the port holds at that moment, the emulated
devices and their ARP, loading a program of :class:`~ostinato_tcp.domain.streams.StreamSpec`,
build, start, stop, counters, and the clean-up that removes what the run created and
restores what it changed.

A small state machine keeps the calls in order::

    free -> claimed -> loaded -> built -> transmitting -> stopped -> (loaded ...) -> released
                                              ^-- start again ---'

A stopped port may be started again: Drone keeps the built packet list, so the same
program is sent once more without a build (keep-alive rounds do this).

A call the port cannot take in its state raises :class:`PortStateError` (a bug in
the caller, never a lab fault). Any state may go to ``released``.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from ostinato_tcp.drone import DroneApi
from ostinato_tcp.drone._encode import device_group_config, icmp_echo_config, stream_config
from ostinato_tcp.errors import DroneTimeoutError, OstinatoTcpError, UsageError
from ostinato_tcp.drone.claim import PortClaim
from ostinato_tcp.ground.naming import OWNER_RE, is_ours, owner_is_gone
from ostinato_tcp.ground.addr import from_hi_lo, mac_text
from ostinato_tcp.domain.streams import DeviceSpec, StreamSpec

log = logging.getLogger(__name__)
# Seen with Drone 1.2 (Debian 12): a stopCapture can deadlock the capture thread (woken by libpcap,
# it logs, and so allocates, as Drone's stop signal arrives, whose handler logs too and waits for the
# allocator lock its own thread holds); the RPC then never returns and every later RPC on that port
# waits for its lock. Deleting a port's last device group stops its emulation thread (woken by each
# ARP or ICMP packet) with the same signal, and it can wedge the same way.
_HANG = ("Drone did not stop this port's {what}: the thread can deadlock on that stop (seen with Drone 1.2, Debian "
         "12's), and the port then stays locked until Drone is restarted (the built-in lab: 'ostinato-tcp lab down' "
         "and 'lab up')")
CAPTURE_STOP_HANG = _HANG.format(what="capture")
EMULATION_STOP_HANG = _HANG.format(what="device emulation when its last device group was deleted")

class PortState(str, Enum):
    FREE = "free"
    CLAIMED = "claimed"
    LOADED = "loaded"
    BUILT = "built"
    TRANSMITTING = "transmitting"
    STOPPED = "stopped"
    RELEASED = "released"


class PortStateError(OstinatoTcpError):
    """A port was asked to do what its state does not allow (a bug in the caller)."""


def _in_state(*states: PortState):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self: "DronePort", *args, **kwargs):
            if self.state not in states:
                raise PortStateError(f"{self.where}: {fn.__name__} is not possible in state '{self.state.value}' "
                                     f"(only in {', '.join(s.value for s in states)})")
            return fn(self, *args, **kwargs)
        return wrapper
    return deco


@dataclass(frozen=True)
class Counters:
    """A port's counters as Drone reports them (frames include the devices' ARP)."""

    tx_frames: int = 0
    tx_bytes: int = 0
    rx_frames: int = 0
    rx_bytes: int = 0

    def __sub__(self, other: "Counters") -> "Counters":
        return Counters(self.tx_frames - other.tx_frames, self.tx_bytes - other.tx_bytes,
                        self.rx_frames - other.rx_frames, self.rx_bytes - other.rx_bytes)


_IDLE = (PortState.CLAIMED, PortState.LOADED, PortState.BUILT, PortState.STOPPED)


class DronePort:
    """One port of one Drone, claimed by one run."""

    def __init__(self, drone: DroneApi, name: str | int, *, owner: str, label: str = ""):
        """``name``: the interface name as Drone lists it, or an int port id."""
        self.drone = drone
        self.id = drone.find_port(name)
        if isinstance(name, int):
            name = drone.port_config(self.id).name
        self.name = name
        self.label = label or name  # how messages name it, e.g. "port A"
        self.claim_ = PortClaim(drone=drone, port_id=self.id, name=name, tag=owner)
        self.state = PortState.FREE
        self.stream_ids: list[int] = []
        self.group_ids: list[int] = []
        self.program: list[StreamSpec] = []
        self.started = False  # a start was asked: a fault must stop this port
        self.capturing = False  # a capture was asked: the release stops it
        self.wedged = False  # a stop Drone never returned from (see CAPTURE_STOP_HANG): needs a restart

    @property
    def where(self) -> str:
        return f"port {self.name} on Drone {self.drone.endpoint}"

    # ------------------------------------------------------------------ claim
    @_in_state(PortState.FREE)
    def claim(self, *, take_over: bool = False) -> list[str]:
        """Check the port is free for the run and tag it (see :mod:`ostinato_tcp.drone.claim`);
        returns warnings (what ``take_over`` changed)."""
        self.claim_.claim(take_over=take_over)
        self.state = PortState.CLAIMED
        return list(self.claim_.warnings)

    # ------------------------------------------------------------------ ids
    @staticmethod
    def _free_ids(used: Iterable[int], count: int) -> list[int]:
        taken = set(used)
        out, i = [], max(taken, default=0) + 1
        while len(out) < count:
            if i not in taken:
                out.append(i)
            i += 1
        return out

    # ------------------------------------------------------------------ devices
    @_in_state(*_IDLE)
    def add_devices(self, spec: DeviceSpec) -> int:
        """Create an emulated device group; returns its id."""
        d = self.drone
        (gid,) = self._free_ids(d.device_group_ids(self.id), 1)
        self.group_ids.append(gid)  # before the RPC: a signal after it must still remove the group
        d.addDeviceGroup(d.device_group_id_list(self.id, [gid]))
        d.modifyDeviceGroup(device_group_config(d.pb, d.emul, self.id, gid, spec))
        return gid

    def unresolved(self, targets: set[int], gateway: int) -> set[int]:
        """The device addresses in ``targets`` whose ARP (or NDP) table lacks ``gateway``'s MAC."""
        return targets - set(self.gateway_macs(gateway))

    def _device_ips(self) -> list[tuple[int, int]]:
        """(address as an integer, MAC) of each emulated device, in Drone's device order."""
        d = self.drone
        out = []
        for dev in d.getDeviceList(d.port_id(self.id)).Extensions[d.emul.device]:
            ip = from_hi_lo(dev.ip6.hi, dev.ip6.lo) if dev.HasField("ip6") and not dev.ip4 else dev.ip4
            out.append((ip, dev.mac))
        return out

    def gateway_macs(self, gateway: int) -> dict[int, int]:
        """Device address -> the MAC it resolved for ``gateway`` by ARP or NDP (resolved devices only)."""
        d = self.drone
        index_ip = {i: ip for i, (ip, _) in enumerate(self._device_ips())}
        nbrs = d.getDeviceNeighbors(d.port_id(self.id)).Extensions[d.emul.device_neighbor]
        out = {}
        for dn in nbrs:
            entries = [(e.ip4, e.mac) for e in dn.arp] + [(from_hi_lo(e.ip6.hi, e.ip6.lo), e.mac) for e in dn.ndp]
            for ip, mac in entries:
                if ip == gateway and mac and dn.device_index in index_ip:
                    out[index_ip[dn.device_index]] = mac
        return out

    def device_macs(self) -> dict[int, int]:
        """Address -> MAC of every emulated device on the port."""
        return dict(self._device_ips())

    @_in_state(*_IDLE)
    def unload(self) -> None:
        """Delete the run's streams (the devices stay)."""
        self.drone.delete_streams(self.id, self.stream_ids)
        self.stream_ids, self.program = [], []
        self.state = PortState.CLAIMED

    @_in_state(PortState.CLAIMED)
    def relearn_gateway(self, gateway: int, timeout: float = 3.0) -> dict[int, int]:
        """Forget what the devices resolved and resolve again: the gateway's MAC now. Only with
        no streams loaded: Drone's resolve also sends one ARP request per frame of every stream
        whose next hop it does not know."""
        d = self.drone
        d.clearDeviceNeighbors(d.port_id_list([self.id]))
        deadline = time.monotonic() + timeout
        while True:
            d.resolveDeviceNeighbors(d.port_id_list([self.id]))
            macs = self.gateway_macs(gateway)
            if macs or time.monotonic() > deadline:
                return macs
            time.sleep(0.2)

    # ------------------------------------------------------------------ streams
    @_in_state(*_IDLE)
    def load(self, program: list[StreamSpec]) -> None:
        """Put ``program`` on the port (stream i gets ordinal i). Ids are kept while the
        number of streams stays; otherwise the run's streams are replaced by new ids taken
        from what the port holds now."""
        d = self.drone
        if len(self.stream_ids) != len(program):
            if self.stream_ids:
                d.delete_streams(self.id, self.stream_ids)
                self.stream_ids = []
            new = self._free_ids(d.stream_ids(self.id), len(program))
            self.stream_ids = new  # before the RPC: a signal after it must still delete them
            d.addStream(d.stream_id_list(self.id, new))
        d.modifyStream(stream_config(d.pb, self.id, self.stream_ids, program))
        self.program = list(program)
        self.state = PortState.LOADED

    @_in_state(*_IDLE)
    def load_icmp_echo(self, name: str, src_ip: int, dst_ip: int, src_mac: int, dst_mac: int) -> None:
        """One ICMP echo request as the port's program (the preflight's probe of the DUT)."""
        d = self.drone
        d.delete_streams(self.id, self.stream_ids)
        (sid,) = self._free_ids(d.stream_ids(self.id), 1)
        self.stream_ids, self.program = [sid], []
        d.addStream(d.stream_id_list(self.id, [sid]))
        d.modifyStream(icmp_echo_config(d.pb, self.id, sid, name, src_ip, dst_ip, src_mac, dst_mac))
        self.state = PortState.LOADED

    @_in_state(PortState.LOADED)
    def build(self, *, timeout: float) -> float:
        """Have Drone build the packet list now; returns the seconds it took."""
        d = self.drone
        bc = d.pb.BuildConfig()
        bc.port_id.id = self.id
        t0 = time.monotonic()
        d.build(bc, timeout=timeout)
        self.state = PortState.BUILT
        return time.monotonic() - t0

    @_in_state(PortState.BUILT, PortState.STOPPED)
    def start(self) -> tuple[float, float]:
        """Start transmit; returns (monotonic time before the request, after the reply):
        Drone starts sending somewhere in between."""
        self.started = True  # before the RPC: a start whose reply is lost must still be stopped
        t0 = time.monotonic()
        self.drone.startTransmit(self.drone.port_id_list([self.id]))
        t1 = time.monotonic()
        self.state = PortState.TRANSMITTING
        return t0, t1

    @property
    def capture_open(self) -> float:
        """Seconds Drone's capture thread needs to open after startCapture."""
        return self.drone.capture_open_seconds

    @property
    def capture_settle(self) -> float:
        """Seconds after the last frame until Drone's capture holds it."""
        return self.drone.capture_settle_seconds

    def start_capture(self) -> None:
        """Drone captures what the port sends and receives (give it :attr:`capture_open` to open)."""
        self.capturing = True  # before the RPC: a fault after it must still stop the capture
        self.drone.startCapture(self.drone.port_id_list([self.id]))

    def stop_capture(self) -> bytes:
        """Stop the capture (after :attr:`capture_settle` for the last block) and return it as pcap bytes."""
        d = self.drone
        _stop_capture_rpc(self)
        return d.getCaptureBuffer(d.port_id(self.id))

    def capture_sent(self) -> bytes:
        """Send the built program with Drone capturing on the port; returns the capture."""
        self.start_capture()
        time.sleep(self.capture_open)
        self.start()
        while self.poll()[0]:
            time.sleep(0.005)
        time.sleep(self.capture_settle)
        return self.stop_capture()

    def poll(self) -> tuple[bool, int, float]:
        """(transmitting, tx frames, monotonic time of the observation: the middle of the RPC).
        A port seen idle after a start is ``stopped``."""
        t0 = time.monotonic()
        st = self.drone.stats([self.id])[self.id]
        t = (t0 + time.monotonic()) / 2
        on = st.state.is_transmit_on
        if not on and self.state == PortState.TRANSMITTING:
            self.state = PortState.STOPPED
        return on, st.tx_pkts, t

    def stop(self) -> None:
        """Stop transmit if this run started the port (a port it never started may be
        another run's: left alone). Reconnects if the connection was dropped."""
        if not self.started or self.state == PortState.RELEASED:
            return
        self.drone.ensure_connected()
        self.drone.stopTransmit(self.drone.port_id_list([self.id]))
        self.state = PortState.STOPPED

    # ------------------------------------------------------------------ counters
    def counters(self) -> Counters:
        st = self.drone.stats([self.id])[self.id]
        return Counters(st.tx_pkts, st.tx_bytes, st.rx_pkts, st.rx_bytes)

    # ------------------------------------------------------------------ release
    def release(self, *, settled: bool = False) -> list[str]:
        """Remove the run's streams and device groups, restore what the claim changed; never
        raises: returns what could not be done. A capture left open is stopped after the port has
        stopped and the capture settle has passed (``settled``: the caller waited it for all)."""
        problems: list[str] = []
        if self.state == PortState.RELEASED:
            return problems
        d = self.drone
        try:
            d.ensure_connected()
            if self.capturing:  # a fault's clean-up: let the port go quiet first
                if self.state == PortState.TRANSMITTING:
                    self.stop()
                if not settled:
                    time.sleep(self.capture_settle)
                _stop_capture_rpc(self)
            d.delete_streams(self.id, self.stream_ids)
            self.stream_ids = []
            try:
                d.delete_device_groups(self.id, self.group_ids)
            except DroneTimeoutError as exc:
                self.wedged = True
                raise _named(exc, EMULATION_STOP_HANG) from exc
            self.group_ids = []
        except (OstinatoTcpError, OSError) as exc:
            problems.append(f"{self.name}: {exc}")
        # also after a claim that failed half-way: the claim knows what it changed (maybe nothing)
        try:
            d.ensure_connected()
        except (OstinatoTcpError, OSError):
            pass
        problems.extend(self.claim_.release())
        self.state = PortState.RELEASED
        return problems


def _stop_capture_rpc(port: DronePort) -> None:
    """stopCapture on the port; one that never returns names Drone's capture deadlock."""
    d = port.drone
    try:
        d.stopCapture(d.port_id_list([port.id]))
    except DroneTimeoutError as exc:
        port.wedged = True
        raise _named(exc, CAPTURE_STOP_HANG) from exc
    port.capturing = False


def _named(exc: DroneTimeoutError, hang: str) -> DroneTimeoutError:
    """The timeout with the Drone deadlock that explains it."""
    err = DroneTimeoutError(f"{exc}; {hang}")
    err.endpoint, err.rpc = exc.endpoint, exc.rpc
    return err


def resolve_neighbors(ports: Iterable[DronePort]) -> None:
    """One resolveDeviceNeighbors per Drone for all its ports (Drone waits ~0.5 s in it), on the
    first port's connection when each port has one of its own."""
    by_drone: dict[str, list[DronePort]] = {}
    for p in ports:
        by_drone.setdefault(p.drone.endpoint, []).append(p)
    for group in by_drone.values():
        d = group[0].drone
        d.resolveDeviceNeighbors(d.port_id_list([p.id for p in group]))


def await_gateways(ports: dict[str, DronePort], targets: dict[str, set[int]], gateways: dict[str, int], *,
                   timeout: float) -> dict[str, set[int]]:
    """Ask Drone to resolve (again and again: its resolve waits only briefly) and poll until
    every device in ``targets[side]`` knows ``gateways[side]``'s MAC, or ``timeout`` passes;
    returns the devices still without it, per side (empty when all resolved)."""
    deadline = time.monotonic() + timeout
    next_ask, gap = 0.0, 0.1
    missing = {side: set(t) for side, t in targets.items()}
    while True:
        if time.monotonic() >= next_ask:
            # asked again soon, then less often: a reply that came after Drone's brief wait is only
            # recorded by the next ask (0.1 s, 0.2 s, 0.4 s, ... then every second)
            resolve_neighbors(ports[side] for side in missing)
            next_ask, gap = time.monotonic() + gap, min(1.0, gap * 2)
        missing = {side: left for side in missing
                   if (left := ports[side].unresolved(targets[side], gateways[side]))}
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.05)


def gateway_changes(ports: dict[str, DronePort], gateways: dict[str, int],
                    before: dict[str, dict[int, int]]) -> list[str]:
    """After a send: each port's gateway MAC learnt again (its streams unloaded first, so Drone
    sends one ARP per device, not one per frame), against ``before``, the MACs the frames went
    to; one line per port whose gateway answers with another MAC now."""
    def relearn(side: str) -> set[int]:
        ports[side].unload()
        return set(ports[side].relearn_gateway(gateways[side]).values())

    conns = {id(p.drone) for p in ports.values()}
    if len(conns) == len(ports) > 1:  # a connection per port: the ports relearn side by side (~0.5 s each)
        with ThreadPoolExecutor(len(ports)) as pool:
            learnt = dict(zip(ports, pool.map(relearn, list(ports))))
    else:
        learnt = {side: relearn(side) for side in ports}
    out = []
    for side, p in ports.items():
        was, now = set(before.get(side, {}).values()), learnt[side]
        if now and was and now != was:
            out.append(f"port {side.upper()} ({p.name}): the gateway {ipaddress.ip_address(gateways[side])} answers "
                       f"ARP with {_macs(now)} after the send, but the run's frames went to {_macs(was)}, learnt "
                       "before it: the DUT's MAC changed during the run (VRRP failover, a DUT reboot, a changed "
                       "interface?)")
    return out


def _macs(macs: set[int]) -> str:
    return ", ".join(mac_text(m) for m in sorted(macs))


def remove_leftovers(drone: DroneApi, port_ref: str | int, scenario_name: str, *, force: bool = False) -> list[str]:
    """Remove what an interrupted run of ``scenario_name`` left on one port (a name, or an
    int port id): its streams, device groups, and the tag of a run that is gone. A port
    tagged by a run that may be live is refused unless ``force``."""
    port = drone.find_port(port_ref)
    cfg = drone.port_config(port)
    owner, port_name = cfg.user_name, cfg.name
    if OWNER_RE.match(owner or "") and not owner_is_gone(owner) and not force:
        raise UsageError(f"port {port_name} on Drone {drone.endpoint} is in use by {owner}; cleanup would delete "
                         "that run's streams. Wait for it, or pass --remove-live-tag if it is gone")
    removed = []
    mine = [s.stream_id.id for s in drone.streams(port) if is_ours(s.core.name, scenario_name)]
    if mine:
        drone.delete_streams(port, mine)
        removed.append(f"{len(mine)} stream(s) on {port_name}")
    mine = [g.device_group_id.id for g in drone.device_groups(port) if is_ours(g.core.name, scenario_name)]
    if mine:
        drone.delete_device_groups(port, mine)
        removed.append(f"{len(mine)} device group(s) on {port_name}")
    if owner_is_gone(owner) or (force and OWNER_RE.match(owner or "")):
        drone.modify_port(port, user_name="")
        removed.append(f"the tag of a run that is gone on {port_name} ({owner!r})")
    return removed
