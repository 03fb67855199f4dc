"""The run's DUT-side steps on any :class:`~ostinato_tcp.dut.contract.DutDriver`: the facts the plan
needs, the count polled during the send, the read after the traffic (a dropped SSH connection
retried once), and the clear after the verdict with the DUT's delete rate."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import replace

from ostinato_tcp.domain.facts import DutFacts, Health
from ostinato_tcp.domain.tuples import Servers
from ostinato_tcp.domain.verdict import Verdict
from ostinato_tcp.dut.contract import DutDriver
from ostinato_tcp.errors import DutError, OstinatoTcpError, SshDroppedError
from ostinato_tcp.ground.measure import Rate

log = logging.getLogger(__name__)

class CountPoller(threading.Thread):
    """Polls the DUT's conntrack count over its own SSH channel, off the timing path."""

    def __init__(self, dut: DutDriver, interval: float):
        super().__init__(daemon=True, name="dut-poller")
        self.dut, self.interval = dut, interval
        self.count: int | None = None
        self.peak: int | None = None  # the largest count seen
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.count = self.dut.count()
                self.peak = self.count if self.peak is None else max(self.peak, self.count)
            except OstinatoTcpError as exc:
                log.debug("conntrack count poll failed: %s", exc)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def isns_for_run(sc):
    """``sc`` with ISNs drawn for this run where ``dut.kind: none`` and the scenario leaves them
    at their defaults: a DUT that is not read may still hold connections an earlier run made on
    the same tuples, and with this run's own sequence numbers their data does not fit those
    connections' windows (on a DUT that checks windows). Drawn below 2**31; others unchanged."""
    t = sc.traffic
    unset = [k for k in ("client_isn", "server_isn") if k not in t.model_fields_set]
    if sc.dut.kind != "none" or not unset:
        return sc
    drawn = t.model_copy(update={k: secrets.randbelow(1 << 31) for k in unset})
    return sc.model_copy(update={"traffic": drawn})


def plan_facts(dut, health: Health, sc, *, reserved: int = 0) -> DutFacts:
    """The facts a plan of ``sc`` needs from the DUT's ``health``. When the table looks too
    small, the test's own entries (which ``dut.clear: test`` removes before sending) are
    counted on ``dut`` too, so a run that fits after its own clear is not refused."""
    if not getattr(dut, "reads_table", True):
        return DutFacts(reserved=reserved, source="kernel defaults (dut.kind none: the DUT is not read)")
    own = 0
    if sc.dut.clear == "test" and health.free is not None and sc.connections.count + reserved > health.free:
        own = dut.count_space(Servers.of(sc.connections))
    facts = health.facts(f"read from the DUT {dut.where}", own_entries=own, clear=sc.dut.clear)
    return replace(facts, reserved=reserved) if reserved else facts


def read_after_traffic(dut, expected, fresh, warnings: list[str]) -> tuple[Health, Verdict, dict]:
    """The DUT's health and the verdict after the traffic. A dropped SSH connection is retried
    once (after a reconnect), with a warning; a second drop is a DutError. A DUT that is not
    read (dut.kind none) gives no verdict on a table: the traffic proof alone judges."""
    if not getattr(dut, "reads_table", True):
        return dut.health(), None, {}
    for attempt in (1, 2):
        try:
            health = dut.health()
            verdict, dump = dut.verify(expected, fresh=fresh)
            return health, verdict, dump
        except SshDroppedError as exc:
            if attempt == 2:
                raise DutError(f"the DUT could not be read after the traffic was sent (SSH dropped twice): "
                               f"{exc}") from None
            warnings.append(f"SSH to the DUT dropped while reading it ({exc}); reconnected and read it again")
            try:
                dut.reconnect()
            except DutError as again:
                raise DutError(f"the DUT could not be read after the traffic was sent: {exc}; reconnecting: "
                               f"{again}") from None
    raise AssertionError("unreachable")


def clear_after(dut, sc, *, keep: bool, warnings: list[str]) -> tuple[int | None, str, Rate | None]:
    """After the verdict: delete the test's entries unless kept (``dut.clear_after: none`` or
    ``keep``); returns (entries removed or None, what became of them, the DUT's delete rate).

    The delete rate is the removed entries over the time ``conntrack -D`` took for them, less
    the time the same command takes once nothing matches (its start-up and the SSH round
    trip); that second time is also its bound. When the deletes took no longer than that bound
    (a few hundred entries), there is no figure (None)."""
    if not getattr(dut, "reads_table", True):
        return None, "not read (dut.kind none)", None
    if sc.dut.clear_after == "none" or keep:
        return None, "kept (--keep-entries)" if keep else "kept (dut.clear_after: none)", None
    try:
        n, rate = dut.clear_measured(Servers.of(sc.connections))
    except OstinatoTcpError as exc:
        warnings.append(f"the test's entries could not be removed from the DUT after the run: {exc}")
        return None, "not removed", None
    return n, f"{n} removed (dut.clear_after: test; --keep-entries keeps them)", rate
