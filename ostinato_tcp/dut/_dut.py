"""The DUT: capacity and health, clearing the test's entries, dumping and judging."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import zlib
from array import array
from dataclasses import asdict, dataclass, field

from ..errors import DutCommandError
from ..plan import DutFacts
from . import commands as C
from .conntrack import LineSplitter, ParseStats, parse_counted, parse_stats_output
from .ssh import DutShell
from .verdict import Expected, Judge, Verdict

log = logging.getLogger(__name__)
_SHOWN_RE = re.compile(r"(\d+) flow entries have been shown")
_DELETED_RE = re.compile(r"(\d+) flow entries have been deleted")


@dataclass
class Health:
    """The DUT's conntrack capacity, settings and counters at one moment."""

    count: int | None = None
    max: int | None = None
    buckets: int | None = None
    tcp_loose: int | None = None
    syn_sent_timeout: int | None = None
    syn_recv_timeout: int | None = None
    established_timeout: int | None = None
    kernel: str | None = None
    uid: int | None = None
    has_conntrack: bool | None = None
    counters: dict[str, int] = field(default_factory=dict)  # conntrack -S, summed over CPUs
    taken_at: float = 0.0

    @property
    def free(self) -> int | None:
        return None if self.max is None or self.count is None else self.max - self.count

    def deltas(self, later: "Health") -> dict[str, int]:
        keys = sorted(set(self.counters) | set(later.counters))
        return {k: later.counters.get(k, 0) - self.counters.get(k, 0) for k in keys}

    def facts(self, source: str) -> DutFacts:
        return DutFacts(syn_sent_timeout=self.syn_sent_timeout or 120, syn_recv_timeout=self.syn_recv_timeout or 60,
                        conntrack_max=self.max, conntrack_count=self.count, tcp_loose=self.tcp_loose, source=source)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["free"] = self.free
        return d


_HEALTH_KEYS = {
    "nf_conntrack_count": "count", "nf_conntrack_max": "max", "nf_conntrack_buckets": "buckets",
    "nf_conntrack_tcp_loose": "tcp_loose", "nf_conntrack_tcp_timeout_syn_sent": "syn_sent_timeout",
    "nf_conntrack_tcp_timeout_syn_recv": "syn_recv_timeout",
    "nf_conntrack_tcp_timeout_established": "established_timeout",
}


def parse_health(text: str) -> Health:
    h = Health(taken_at=time.time())
    stats_lines = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in _HEALTH_KEYS:
            if value.strip().isdigit():
                setattr(h, _HEALTH_KEYS[key], int(value))
        elif sep and key == "kernel":
            h.kernel = value.strip() or None
        elif sep and key == "uid" and value.strip().isdigit():
            h.uid = int(value)
        elif sep and key == "conntrack":
            h.has_conntrack = value.strip() == "yes"
        elif line.startswith("cpu="):
            stats_lines.append(line)
    h.counters = parse_stats_output("\n".join(stats_lines))
    return h


class Dut:
    """Operations on the DUT's conntrack over one SSH connection."""

    def __init__(self, shell: DutShell, *, compress: str = "auto", conntrack: str = C.CONNTRACK):
        self.shell = shell
        self.compress = compress
        self.conntrack = conntrack
        self._has_gzip: bool | None = None

    @property
    def sudo(self) -> bool:
        return self.shell.target.sudo

    def health(self) -> Health:
        """Capacity, timeouts and counters; refuses a DUT where the tool cannot work, naming
        the scenario field to change (dut.sudo, dut.user, dut.conntrack)."""
        res = self.shell.run([], raw=C.sh_c(C.health_script(self.conntrack), sudo=self.sudo), check=False,
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
        return int(self.shell.run(C.count_argv(), sudo=False, timeout=15).stdout.strip())

    def clear(self, server_ip, server_port, mode: str) -> int:
        """Delete the test's entries (``test``), everything (``all``) or nothing (``none``)."""
        if mode == "none":
            return 0
        if mode == "all":
            self.shell.run(C.flush_argv(self.conntrack), timeout=600)
            return -1
        res = self.shell.run(C.clear_test_argv(server_ip, server_port, self.conntrack), ok_codes=(0, 1), timeout=3600)
        m = _DELETED_RE.search(res.stderr)
        if res.rc == 1 and not m:
            raise DutCommandError(f"'conntrack -D' failed on {self.shell.where}: {res.stderr.strip()[-200:]}")
        return int(m.group(1)) if m else 0

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

            rc, err = self.shell.stream([], take, raw=C.sh_c(C.compressed_dump_script(argv), sudo=self.sudo),
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

    def verify(self, expected: Expected, *, timeout: float | None = None) -> tuple[Verdict, dict]:
        """Dump the test's address space and judge every expected connection."""
        session = self.shell.session_tuple()
        if session:
            expected.exclude.add(session)
        judge = Judge(expected)  # after the exclusions: the Judge copies them
        info = self.dump(C.dump_argv(expected.server_ip, expected.space.server_port, self.conntrack), judge.feed,
                         expected_entries=expected.space.total, timeout=timeout)
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

        self.dump(C.unreplied_argv(expected.server_ip, sp.server_port, self.conntrack), take, expected_entries=sp.total,
                  timeout=timeout)
        return learned[0], odd
