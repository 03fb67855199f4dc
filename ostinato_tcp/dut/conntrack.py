"""The DUT: capacity and health, clearing the test's entries, dumping and judging."""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
import threading
from dataclasses import replace
import zlib
from array import array

from ostinato_tcp.ground.measure import Rate
from ostinato_tcp.errors import DutCommandError, DutError, OstinatoTcpError, SshDroppedError, UsageError
from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.entries import LineSplitter, ParseStats, parse_counted
from ostinato_tcp.domain.facts import DutFacts, Health, parse_health
from ostinato_tcp.domain.tuples import Servers
from ostinato_tcp.dut.ssh import DutShell, SshTarget
from ostinato_tcp.domain.verdict import MISSING, Expected, Judge, Verdict

log = logging.getLogger(__name__)
_SHOWN_RE = re.compile(r"(\d+) flow entries have been shown")
_DELETED_RE = re.compile(r"(\d+) flow entries have been deleted")


class DutSession:
    """Operations on the DUT's conntrack over one SSH connection."""

    def __init__(self, shell: DutShell, *, compress: str = "auto", conntrack: str = C.CONNTRACK):
        self.shell = shell
        self.compress = compress
        self.conntrack = conntrack
        self._has_gzip: bool | None = None

    @classmethod
    def open(cls, config, *, accept_new_host_key: bool = False, password: str | None = None) -> "DutSession":
        """Log in to the DUT of a scenario's ``dut`` section (host keys checked)."""
        shell = DutShell(SshTarget.from_scenario(config, accept_new_host_key=accept_new_host_key,
                                                 password=password)).connect()
        return cls(shell, compress=config.compress, conntrack=config.conntrack)

    @property
    def where(self) -> str:
        """``user@host:port`` of the SSH login, for messages."""
        return self.shell.where

    def reconnect(self) -> None:
        self.shell.reconnect()

    def close(self) -> None:
        self.shell.close()

    def __enter__(self) -> "DutSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def sudo(self) -> bool:
        return self.shell.target.sudo

    @property
    def netns(self) -> str | None:
        return getattr(self.shell.target, "netns", None)

    def health(self) -> Health:
        """Capacity, timeouts and counters; refuses a DUT where the tool cannot work, naming
        the scenario field to change (dut.sudo, dut.user, dut.conntrack)."""
        res = self.shell.run([], raw=C.sh_c(C.health_script(self.conntrack), sudo=self.sudo, netns=self.netns), check=False,
                             timeout=60)
        err = res.stderr.strip()
        user = self.shell.user
        if self.sudo and "sudo:" in err and res.stdout.strip() == "":
            raise DutCommandError(f"dut.sudo: 'sudo -n' is refused for dut.user {user} on {self.shell.where} "
                                  f"({err.splitlines()[-1]}); allow it without a password in sudoers, or log in "
                                  "as root")
        h = parse_health(res.stdout)
        if h.count is None:
            raise DutCommandError(f"cannot read conntrack sysctls on {self.shell.where} (is nf_conntrack loaded? "
                                  f"exit {res.rc}: {err[-200:]})")
        if h.uid not in (None, 0):
            raise DutCommandError(f"dut.user: {user} is not root on {self.shell.where} and dut.sudo is false; "
                                  "conntrack needs root: log in as root or set dut.sudo: true")
        if h.has_conntrack is False:
            raise DutCommandError(f"dut.conntrack: {self.conntrack!r} is not found on {self.shell.where}: install "
                                  "conntrack-tools there (Debian: apt install conntrack) or set dut.conntrack to "
                                  "its path")
        if not h.counters:
            raise DutCommandError(f"'{self.conntrack} -S' gave nothing on {self.shell.where}: "
                                  f"{err.splitlines()[-1] if err else 'no message'}")
        return h

    def count(self) -> int:
        # the count is readable by anyone, but only root enters another namespace
        return int(self.shell.run(C.count_argv(), sudo=None if self.netns else False, timeout=15).stdout.strip())

    def clear(self, servers, mode: str, *, also=None) -> int:
        """Delete the test's entries (``test``: those to each server endpoint of ``servers``, a
        :class:`~ostinato_tcp.domain.tuples.Servers`), everything (``all``) or nothing (``none``);
        ``also``: another Servers whose entries go whatever the mode (the probe's), in the same
        login. Returns the entries deleted (-1: the table was flushed)."""
        if mode == "all":
            self.shell.run(C.flush_argv(self.conntrack), timeout=600)
            return -1
        argvs = C.clear_test_argvs(servers, self.conntrack) if mode == "test" else []
        if also is not None:
            argvs += C.clear_test_argvs(also, self.conntrack)
        return self._sum_counts(argvs, _DELETED_RE, "-D", 3600) if argvs else 0

    def count_test_space(self, servers, state: str | None = None) -> int:
        """Entries of the test's address space now (what ``dut.clear: test`` would remove); with
        ``state``, only those in that TCP state. The listing stays on the DUT: only the count
        conntrack prints on stderr crosses SSH."""
        return self._sum_counts(C.count_test_argvs(servers, self.conntrack, state), _SHOWN_RE, "-L", 600)

    def _sum_counts(self, argvs: list[list[str]], pattern, verb: str, timeout: float) -> int:
        """Run conntrack once per server endpoint in one login and add up the counts it prints."""
        res = self.shell.run(argvs[0], raw=C.sh_c(C.quiet_script(argvs), sudo=self.sudo, netns=self.netns),
                             ok_codes=(0, 1), timeout=timeout)
        found = [int(x) for x in pattern.findall(res.stderr)]
        if len(found) != len(argvs):
            raise DutCommandError(f"'{self.conntrack} {verb}' gave {len(found)} count(s) for {len(argvs)} server "
                                  f"endpoint(s) on {self.shell.where}: {res.stderr.strip()[-200:] or 'no message'}")
        return sum(found)

    def icmp_entries(self, client_ip, server_ip, *, delete: bool = False) -> int:
        """ICMP entries from ``client_ip`` to ``server_ip`` (the preflight's probe); ``delete``
        removes them after counting."""
        res = self.shell.run(C.icmp_argv(client_ip, server_ip, self.conntrack), timeout=30)
        n = len([line for line in res.stdout.splitlines() if line.startswith("icmp")])
        if delete and n:
            self.shell.run(C.icmp_argv(client_ip, server_ip, self.conntrack, delete=True), ok_codes=(0, 1),
                           timeout=30)
        return n

    def _use_gzip(self, expected_entries: int) -> bool:
        if self.compress == "off" or (self.compress == "auto" and expected_entries < 100_000):
            return False
        if self._has_gzip is None:
            res = self.shell.run([], raw=C.sh_c(C.gzip_probe_script(), sudo=False), check=False, timeout=15)
            self._has_gzip = res.stdout.strip() == "yes"
            if not self._has_gzip and self.compress == "on":
                log.warning("the DUT has no gzip: the dump is sent uncompressed")
        return self._has_gzip

    def dump(self, argv: list[str], on_text, *, expected_entries: int = 0, timeout: float | None = None) -> dict:
        """Stream a conntrack listing into ``on_text`` (bytes of text); returns transfer facts."""
        gz = self._use_gzip(expected_entries)
        sent = [0]
        t0 = time.monotonic()
        if gz:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

            def take(chunk: bytes) -> None:
                sent[0] += len(chunk)
                on_text(inflater.decompress(chunk))

            rc, err = self.shell.stream([], take, raw=C.sh_c(C.compressed_dump_script(argv), sudo=self.sudo,
                                                                          netns=self.netns),
                                        timeout=timeout)
            on_text(inflater.flush())
            mark = re.search(re.escape(C.EXIT_MARK) + r"(\d+)", err)
            rc = int(mark.group(1)) if mark else rc
        else:
            def take(chunk: bytes) -> None:
                sent[0] += len(chunk)
                on_text(chunk)

            rc, err = self.shell.stream(argv, take, timeout=timeout)
        if rc != 0:
            raise DutCommandError(f"'{' '.join(argv)}' on {self.shell.where} exited {rc}: "
                                  f"{err.strip().splitlines()[-1] if err.strip() else 'no message'}")
        m = _SHOWN_RE.search(err)
        return {"seconds": time.monotonic() - t0, "bytes_transferred": sent[0], "compressed": gz,
                "entries_shown": int(m.group(1)) if m else None}

    def prove_fresh_start(self, expected: Expected, clear: str, *, timestamps: bool) -> dict:
        """Before the first packet: read the test's address space back; none of the run's
        tuples may have an entry yet (with ``dut.clear test|all`` the clear is checked, not
        assumed; with ``none`` an earlier run's entries are refused, exit 2). Returns how
        freshness will be proven: this read-back, plus each entry's age when the DUT keeps
        start timestamps (``nf_conntrack_timestamp=1``)."""
        judge = Judge(expected)
        self.dump(C.dump_argv(expected.space.servers, self.conntrack), judge.feed,
                  expected_entries=expected.space.total)
        before = judge.finish()
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
                "timestamps": timestamps, "started_at": time.monotonic()}

    def verify(self, expected: Expected, *, fresh: dict | None = None, timeout: float | None = None,
               track_states: bool = False) -> tuple[Verdict, dict]:
        """Dump the test's address space and judge every expected connection. With ``fresh``
        (from :meth:`prove_fresh_start`) on a DUT that keeps timestamps, every entry's age is
        checked against the time since the run began; ``track_states`` keeps each connection's
        state (a tear-down's verdict)."""
        session = self.shell.session_tuple()
        if session:
            expected.exclude.add(session)
        aged = bool(fresh and fresh.get("timestamps"))
        max_age = None
        if aged:
            # an entry made by this run is at most this old when printed (whole seconds, rounded down)
            max_age = math.ceil(time.monotonic() - fresh["started_at"]) + 1
        judge = Judge(expected, max_age=max_age, track_states=track_states)  # after the exclusions: the Judge copies them
        info = self.dump(C.dump_argv(expected.space.servers, self.conntrack, timestamps=aged),
                         judge.feed, expected_entries=expected.space.total, timeout=timeout)
        if aged:
            info["max_age_seconds"] = max_age
        verdict = judge.finish()
        return verdict, info

    def learn_replies(self, expected: Expected, *, timeout: float | None = None) -> tuple[int, list[str]]:
        """NAT learn mode: read the SYN_SENT entries and record each connection's reply
        destination (the translated address and port) in ``expected``."""
        sp = expected.space
        index_of = sp.indexer()
        if expected.learned_ip is None:  # kept across batches: each batch adds its own
            expected.learned_ip = array("I", bytes(4 * sp.total))
            expected.learned_port = array("H", bytes(2 * sp.total))
        client_ip = {ip: sp.first_ip + i for i, ip in enumerate(expected.client_ips)}
        learned = [0]
        odd: list[str] = []
        lines, stats = LineSplitter(), ParseStats()

        def take(chunk: bytes) -> None:
            for raw in lines.feed(chunk).splitlines():
                e = parse_counted(raw, stats)
                if e is None:
                    continue
                ip = client_ip.get(e.orig.get("src"))
                if ip is None or e.proto != "tcp" or "dport" not in e.reply:
                    continue
                n = index_of(ip, e.orig["sport"])
                if n < 0:
                    continue
                expected.learned_ip[n] = int(ipaddress.IPv4Address(e.reply["dst"]))
                expected.learned_port[n] = e.reply["dport"]
                learned[0] += 1
                if e.reply["dport"] != e.orig["sport"] and len(odd) < 5:
                    odd.append(f"{e.orig['src']}:{e.orig['sport']} -> {e.reply['dst']}:{e.reply['dport']}")

        self.dump(C.unreplied_argv(sp.servers, self.conntrack), take, expected_entries=sp.total,
                  timeout=timeout)
        return learned[0], odd


class CountPoller(threading.Thread):
    """Polls the DUT's conntrack count over its own SSH channel, off the timing path."""

    def __init__(self, dut: DutSession, interval: float):
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


def plan_facts(dut, health: Health, sc, *, reserved: int = 0) -> DutFacts:
    """The facts a plan of ``sc`` needs from the DUT's ``health``. When the table looks too
    small, the test's own entries (which ``dut.clear: test`` removes before sending) are
    counted on ``dut`` too, so a run that fits after its own clear is not refused."""
    own = 0
    if sc.dut.clear == "test" and health.free is not None and sc.connections.count + reserved > health.free:
        own = dut.count_test_space(Servers.of(sc.connections))
    facts = health.facts(f"read from the DUT {dut.where}", own_entries=own, clear=sc.dut.clear)
    return replace(facts, reserved=reserved) if reserved else facts


def read_after_traffic(dut, expected, fresh, warnings: list[str]) -> tuple[Health, Verdict, dict]:
    """The DUT's health and the verdict after the traffic. A dropped SSH connection is retried
    once (after a reconnect), with a warning; a second drop is a DutError."""
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
    if sc.dut.clear_after == "none" or keep:
        return None, "kept (--keep-entries)" if keep else "kept (dut.clear_after: none)", None
    servers = Servers.of(sc.connections)
    try:
        t0 = time.monotonic()
        n = dut.clear(servers, "test")
        t1 = time.monotonic()
        dut.clear(servers, "test")
        empty = time.monotonic() - t1
    except OstinatoTcpError as exc:
        warnings.append(f"the test's entries could not be removed from the DUT after the run: {exc}")
        return None, "not removed", None
    took = (t1 - t0) - empty
    # unresolved (the deletes took less than the command's own start-up and round trip): no figure
    rate = Rate(n, took, empty) if n > 0 and took > empty else None
    return n, f"{n} removed (dut.clear_after: test; --keep-entries keeps them)", rate
