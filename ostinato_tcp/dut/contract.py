"""What a run needs of a DUT, declared once (in the manner of NAPALM's ``NetworkDriver``).

A driver gives the primitives: the DUT's facts, settings and counters (:meth:`DutDriver.health`),
the table's entry count, the clear of a space, and the dump of a filtered space as a stream of
normalized entries (:meth:`DutDriver.dump_space`; the tuple shape is
:mod:`ostinato_tcp.domain.verdict`'s). What is built on them lives here, the same for every
driver: the read-back before the first packet, the verdict, NAT learning, the delete rate.

    DutDriver                    the contract (this module)
    ├── ConntrackDriver          conntrack-tools over SSH (:mod:`.conntrack`)
    │   ├── ProcfsDriver         /proc/net/nf_conntrack over SSH, read only (:mod:`.procfs`)
    │   └── OvsDriver            Open vSwitch's userspace conntrack, ovs-appctl over SSH (:mod:`.ovs`)
    ├── NoAccessDut              a DUT not read at all: the traffic proof alone (:mod:`.none`)
    └── FakeDut                  an in-memory table, for unit tests (:mod:`.fake`)

A driver is a context manager; :meth:`close` is safe to call twice.
"""

from __future__ import annotations

import ipaddress
import math
import time
from abc import ABC, abstractmethod
from array import array
from typing import Callable, Sequence

from ostinato_tcp.domain.facts import Health
from ostinato_tcp.domain.verdict import MISSING, Expected, Judge, ParseStats, Verdict
from ostinato_tcp.errors import DutCommandError, OstinatoTcpError, UsageError
from ostinato_tcp.ground.measure import Rate

EntrySink = Callable[[Sequence[tuple]], None]  # takes a batch of normalized entry tuples


class DutDriver(ABC):
    """One DUT, as a run uses it. Every method may raise a :class:`~ostinato_tcp.errors.DutError`."""

    kind: str = "?"  # the driver's name, as reports give it
    can_delete: bool = True  # False: a read-only driver (dut.clear and dut.clear_after must be none)
    reads_table: bool = True  # False: no table at all (dut.kind none): the verdict is the traffic proof's
    chosen: str = ""  # how the driver was chosen (dut.kind, or what auto found)

    # ------------------------------------------------------------------ the primitives
    @property
    @abstractmethod
    def where(self) -> str:
        """How messages name the DUT (e.g. ``user@host:port``)."""

    @abstractmethod
    def health(self) -> Health:
        """Capacity, timeouts, settings and counters now; refuses a DUT the tool cannot read."""

    @abstractmethod
    def count(self) -> int:
        """Entries in the DUT's table now (``nf_conntrack_count``)."""

    @abstractmethod
    def clear(self, servers, mode: str, *, also=None) -> int:
        """Delete the entries of the test's space (``test``: each server endpoint of ``servers``, a
        :class:`~ostinato_tcp.domain.tuples.Servers`), everything (``all``) or nothing (``none``);
        ``also``: a Servers whose entries go whatever the mode. Returns the entries deleted (-1:
        the table was flushed)."""

    @abstractmethod
    def count_space(self, servers, state: str | None = None) -> int:
        """Entries of the test's space now (with ``state``, only those in that TCP state)."""

    @abstractmethod
    def dump_space(self, servers, sink: EntrySink, *, ages: bool = False, state: str | None = None,
                   size_hint: int = 0, timeout: float | None = None) -> tuple[dict, ParseStats]:
        """Stream the entries of the test's space into ``sink`` as they come; with ``ages`` each
        entry carries its age in seconds (the twelfth field); with ``state``, only entries in
        that state; ``size_hint``: about how many entries to expect (a driver may compress a big
        dump). Returns (transfer facts: ``seconds``, ``entries_shown``, ..., what was read)."""

    def own_session(self) -> tuple | None:
        """The tool's own connection to the DUT as (src, sport, dst, dport), never a test entry."""
        return None

    def icmp_entries(self, client_ip, server_ip, *, delete: bool = False) -> int:
        """ICMP entries from ``client_ip`` to ``server_ip`` (the preflight's probe)."""
        raise NotImplementedError

    def reconnect(self) -> None:
        """Open the connection again after it dropped."""

    def close(self) -> None:
        """Let go of the DUT (safe twice)."""

    def __enter__(self) -> "DutDriver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ built on them
    def prove_fresh_start(self, expected: Expected, clear: str, *, timestamps: bool) -> dict:
        """Before the first packet: read the test's address space back; none of the run's
        tuples may have an entry yet (with ``dut.clear test|all`` the clear is checked, not
        assumed; with ``none`` an earlier run's entries are refused, exit 2). Returns how
        freshness will be proven: this read-back, plus each entry's age when the DUT keeps
        start timestamps (``nf_conntrack_timestamp=1``)."""
        judge = Judge(expected)
        _, stats = self.dump_space(expected.space.servers, judge.take, size_hint=expected.space.total)
        before = judge.finish(stats)
        present = before.expected - before.codes.count(MISSING)
        if present:
            first = next(i for i, c in enumerate(before.codes) if c != MISSING)
            o = expected.original_of(first)
            what = (f"{present} of the test's {before.expected} connections already have conntrack entries on "
                    f"{self.where} (e.g. src={o[0]} sport={o[2]})")
            if clear == "none":
                raise UsageError(f"dut.clear none: {what}; this run could not prove them its own. Fix: dut.clear "
                                 "test (deletes only the test's entries), wait until they expire, or move the test "
                                 "to other client ports (connections.first_client_port)")
            raise DutCommandError(f"{what} after dut.clear {clear}: the clear did not take (another process "
                                  "keeps making them?); nothing was sent")
        return {"proof": "entry ages (nf_conntrack_timestamp=1) and the test's space read back empty before the "
                         "first packet" if timestamps else
                         "the test's space read back empty before the first packet",
                "entries_before": 0, "unexpected_before": before.unexpected, "clear": clear,
                "driver": self.kind, "driver_chosen": self.chosen or f"dut.kind: {self.kind}",
                "timestamps": timestamps, "started_at": time.monotonic()}

    def verify(self, expected: Expected, *, fresh: dict | None = None, timeout: float | None = None,
               track_states: bool = False) -> tuple[Verdict, dict]:
        """Dump the test's address space and judge every expected connection. With ``fresh``
        (from :meth:`prove_fresh_start`) on a DUT that keeps timestamps, every entry's age is
        checked against the time since the run began; ``track_states`` keeps each connection's
        state (a tear-down's verdict)."""
        session = self.own_session()
        if session:
            expected.exclude.add(session)
        aged = bool(fresh and fresh.get("timestamps"))

        def bound() -> int:  # an entry made by this run is at most this old when printed (whole seconds, down)
            return math.ceil(time.monotonic() - fresh["started_at"]) + 1

        judge = Judge(expected, max_age=bound() if aged else None, track_states=track_states)  # copies the exclusions
        take = judge.take
        if aged:  # the bound as each batch of the dump arrives: a long dump prints its last entries later
            def take(entries, _take=judge.take) -> None:
                judge.max_age = bound()
                _take(entries)
        info, stats = self.dump_space(expected.space.servers, take, ages=aged, size_hint=expected.space.total,
                                      timeout=timeout)
        if aged:
            info["max_age_seconds"] = judge.max_age
        return judge.finish(stats), info

    def learn_replies(self, expected: Expected, *, timeout: float | None = None) -> tuple[int, list[str]]:
        """NAT learn mode: read the SYN_SENT entries and record each connection's reply
        destination (the translated address and port) in ``expected``."""
        sp = expected.space
        index_of = sp.indexer()
        if expected.learned_ip is None:  # kept across batches: each batch adds its own
            expected.learned_ip = array("I", bytes(4 * sp.total))
            expected.learned_port = array("H", bytes(2 * sp.total))
        client_ip = {ip.encode(): sp.first_ip + i for i, ip in enumerate(expected.client_ips)}
        learned = [0]
        odd: list[str] = []

        def take(entries) -> None:
            for g in entries:
                ip = client_ip.get(g[1])
                if ip is None:
                    continue
                n = index_of(ip, int(g[3]))
                if n < 0:
                    continue
                expected.learned_ip[n] = int(ipaddress.IPv4Address(g[7].decode()))
                expected.learned_port[n] = int(g[9])
                learned[0] += 1
                if g[9] != g[3] and len(odd) < 5:
                    odd.append(f"{g[1].decode()}:{int(g[3])} -> {g[7].decode()}:{int(g[9])}")

        self.dump_space(sp.servers, take, state="SYN_SENT", size_hint=sp.total, timeout=timeout)
        return learned[0], odd

    def clear_measured(self, servers) -> tuple[int, Rate | None]:
        """Delete the test's entries and measure the DUT's delete rate: the entries removed over
        the time the delete took, less the time the same delete takes once nothing matches (its
        start-up and round trip); that second time is also its bound. No figure (None) when the
        deletes took no longer than that bound (a few hundred entries)."""
        t0 = time.monotonic()
        n = self.clear(servers, "test")
        t1 = time.monotonic()
        self.clear(servers, "test")
        empty = time.monotonic() - t1
        took = (t1 - t0) - empty
        return n, (Rate(n, took, empty) if n > 0 and took > empty else None)


def close_quietly(dut: DutDriver | None) -> None:
    """Close a DUT on a clean-up path: an error there is not the run's."""
    if dut is None:
        return
    try:
        dut.close()
    except OstinatoTcpError:
        pass


def refuse_deletes(dut: DutDriver, sc) -> None:
    """Raise UsageError (before anything is sent) when the scenario asks a read-only driver to
    delete entries; the message names the field."""
    if dut.can_delete:
        return
    for name in ("clear", "clear_after"):
        value = getattr(sc.dut, name)
        if value != "none":
            raise UsageError(f"dut.{name}: {value}: the DUT's driver, {dut.kind} ({dut.chosen or 'dut.kind'}), "
                             "reads the table and cannot delete entries; set dut.clear: none and "
                             "dut.clear_after: none (and new client ports for each run: "
                             "connections.first_client_port)")
