"""Reaching a scenario's Drones and DUT, the one path a run and the preflight share: open each
Drone (one connection per Drone of the scenario), find and claim each port, put the emulated
devices on them and wait until every device knows its gateway's MAC.

:class:`Openers` is the seam: how Drones and the DUT are opened. Runs and jobs take one, so unit
tests put the in-memory FakeDrone and FakeDut in (a real run opens the built-in client and the
driver of ``dut.kind`` over SSH).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from ostinato_tcp.drone import DroneApi, open_drone
from ostinato_tcp.drone.port import DronePort, PortState, await_gateways
from ostinato_tcp.dut.select import open_driver
from ostinato_tcp.dut.contract import DutDriver
from ostinato_tcp.errors import DroneError, OstinatoTcpError, RunFault, UnknownPortError
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.scenario import Scenario

log = logging.getLogger(__name__)
ARP_TIMEOUT = 6.0  # seconds the DUT's gateways have to answer the emulated devices' ARP (or NDP)

DroneOpener = Callable[[str, int], DroneApi]
DutOpener = Callable[[Scenario, RunOptions], DutDriver]


def open_dut(sc: Scenario, opts: RunOptions) -> DutDriver:
    """Log in to the scenario's DUT with the run's SSH options (host keys checked)."""
    return open_driver(sc.dut, accept_new_host_key=opts.accept_new_host_key, password=opts.dut_password)


@dataclass(frozen=True)
class Openers:
    """How Drones and the DUT are opened (None: the real ones, with the run's options)."""

    drone: DroneOpener | None = None
    dut: DutOpener | None = None

    def open_drone(self, host: str, port: int, opts: RunOptions) -> DroneApi:
        if self.drone is not None:
            return self.drone(host, port)
        return open_drone(host, port, backend=opts.drone_backend, timeout=opts.rpc_timeout)

    def open_dut(self, sc: Scenario, opts: RunOptions) -> DutDriver:
        return (self.dut or open_dut)(sc, opts)


def connect_drone(sc: Scenario, key: str, openers: Openers, opts: RunOptions) -> DroneApi:
    """The scenario's Drone ``key``; an error names ``drones.<key>``."""
    ep = sc.drones[key]
    try:
        return openers.open_drone(ep.host, ep.port, opts)
    except DroneError as exc:
        raise type(exc)(f"drones.{key}: {exc}") from None


def find_port(sc: Scenario, side: str, drone: DroneApi, owner: str) -> DronePort:
    """Port ``side`` of the scenario on ``drone`` (not claimed yet); an unknown name names the field."""
    spec = getattr(sc.ports, side)
    try:
        return DronePort(drone, spec.ref, owner=owner, label=f"port {side.upper()}")
    except UnknownPortError as exc:
        raise UnknownPortError(f"ports.{side}.{spec.ref_field}: {exc}") from None


def gateways(sc: Scenario, sides) -> dict[str, int]:
    """Each side's DUT gateway address."""
    return {side: int(getattr(sc.ports, side).device.gateway) for side in sides}


def resolve(sc: Scenario, ports: dict[str, DronePort], targets: dict[str, set[int]],
            timeout: float = ARP_TIMEOUT) -> dict[str, set[int]]:
    """Wait until every device in ``targets[side]`` knows its gateway's MAC; the devices still
    without it, per side (empty when all resolved)."""
    return await_gateways(ports, targets, gateways(sc, ports), timeout=timeout)


def resolve_space(sc: Scenario, ports: dict[str, DronePort], space, timeout: float = ARP_TIMEOUT) -> None:
    """Wait until every client address of ``space`` (port A) and every server address (port B)
    knows its gateway's MAC; a RunFault naming the devices still without it."""
    targets = {"a": set(range(space.first_ip, space.first_ip + space.ip_count)), "b": set(space.servers.ips())}
    missing = resolve(sc, ports, targets, timeout=timeout)
    if missing:
        raise unresolved_fault(sc, ports, missing, space.ip_text)


def unresolved_fault(sc: Scenario, ports: dict[str, DronePort], missing: dict[str, set[int]], ip_text,
                     timeout: float = ARP_TIMEOUT) -> RunFault:
    """The fault of devices whose gateway did not answer, naming the port, the gateway and the fix."""
    side, left = next(iter(missing.items()))
    p, dev = ports[side], getattr(sc.ports, side).device
    sample = ", ".join(ip_text(i) for i in sorted(left)[:3])
    return RunFault(f"port {p.name} (Drone {p.drone.endpoint}): the gateway {dev.gateway} did not answer "
                    f"ARP for {len(left)} emulated device(s) ({sample}) within {timeout:g} s: check the cabling to "
                    f"the DUT, the DUT's address {dev.gateway}/{dev.prefix} on that link, and ports.{side}.device")


def stop_all(ports: dict[str, DronePort]) -> None:
    """Stop transmit on every port a run started (a fault must not leave traffic running); a port
    it never started is left alone: it may be another run's."""
    for p in ports.values():
        try:
            p.stop()
        except (OstinatoTcpError, OSError) as exc:
            log.warning("could not stop transmit on %s: %s", p.name, exc)


def release_all(ports: dict[str, DronePort], drones: dict[str, DroneApi], warnings: list[str]) -> None:
    """Remove what a run created on its ports, restore what it changed, close its Drones; what
    could not be done is a warning naming the command that does it."""
    leftovers = []
    open_captures = [p for p in ports.values() if p.capturing and p.state != PortState.RELEASED]
    if open_captures:  # a fault left captures open: stop every port, then wait the settle once for all
        stop_all(ports)
        time.sleep(max(p.capture_settle for p in open_captures))
    for p in ports.values():
        leftovers.extend(p.release(settled=bool(open_captures)))
    for d in drones.values():
        try:
            d.disconnect()
        except (OstinatoTcpError, OSError):
            pass
    if leftovers:
        # a stop Drone never returned from, or a capture left unstopped (Drone gone): cleanup needs Drone back
        hung = any(p.capturing or p.wedged for p in ports.values())
        warnings.append("could not remove or restore what the run changed on Drone (" + "; ".join(leftovers)
                        + "); " + ("once Drone is restarted, " if hung else "")
                        + "'ostinato-tcp cleanup SCENARIO' removes what it created")
