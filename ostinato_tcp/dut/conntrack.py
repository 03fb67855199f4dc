"""The conntrack-tools driver: the DUT's table read and changed with ``conntrack`` over one SSH
connection (a netns and sudo as the scenario says), behind :class:`~ostinato_tcp.dut.contract.DutDriver`."""

from __future__ import annotations

import logging
import re
import time
import zlib

from ostinato_tcp.domain.facts import Health
from ostinato_tcp.domain.verdict import ParseStats
from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.contract import DutDriver, EntrySink
from ostinato_tcp.dut.health import parse_health
from ostinato_tcp.dut.reader import EntryReader
from ostinato_tcp.dut.ssh import DutShell, SshTarget
from ostinato_tcp.errors import DutCommandError

log = logging.getLogger(__name__)
_SHOWN_RE = re.compile(r"(\d+) flow entries have been shown")
ENDPOINTS_PER_LOGIN = 400  # conntrack calls per login: each prints about 70 bytes on stderr
_DELETED_RE = re.compile(r"(\d+) flow entries have been deleted")


class ConntrackDriver(DutDriver):
    """The DUT's conntrack over one SSH connection."""

    kind = "conntrack"

    def __init__(self, shell: DutShell, *, compress: str = "auto", conntrack: str = C.CONNTRACK):
        self.shell = shell
        self.compress = compress
        self.conntrack = conntrack
        self._has_gzip: bool | None = None

    @classmethod
    def open(cls, config, *, accept_new_host_key: bool = False, password: str | None = None) -> "ConntrackDriver":
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

    def count_space(self, servers, state: str | None = None) -> int:
        """Entries of the test's address space now (what ``dut.clear: test`` would remove); with
        ``state``, only those in that TCP state. The listing stays on the DUT: only the count
        conntrack prints on stderr crosses SSH."""
        return self._sum_counts(C.count_test_argvs(servers, self.conntrack, state), _SHOWN_RE, "-L", 600)

    def _sum_counts(self, argvs: list[list[str]], pattern, verb: str, timeout: float) -> int:
        """Run conntrack once per server endpoint, :data:`ENDPOINTS_PER_LOGIN` to a login (the
        messages of more would pass the 64 KiB of stderr the shell keeps), and add up the counts
        it prints."""
        total = 0
        for i in range(0, len(argvs), ENDPOINTS_PER_LOGIN):
            part = argvs[i:i + ENDPOINTS_PER_LOGIN]
            res = self.shell.run(part[0], raw=C.sh_c(C.quiet_script(part), sudo=self.sudo, netns=self.netns),
                                 ok_codes=(0, 1), timeout=timeout)
            found = [int(x) for x in pattern.findall(res.stderr)]
            if len(found) != len(part):
                raise DutCommandError(f"'{self.conntrack} {verb}' gave {len(found)} count(s) for {len(part)} server "
                                      f"endpoint(s) on {self.shell.where}: {res.stderr.strip()[-200:] or 'no message'}")
            total += sum(found)
        return total

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

    def own_session(self) -> tuple | None:
        return self.shell.session_tuple()

    def dump_space(self, servers, sink: EntrySink, *, ages: bool = False, state: str | None = None,
                   size_hint: int = 0, timeout: float | None = None) -> tuple[dict, ParseStats]:
        argv = C.dump_argv(servers, self.conntrack, timestamps=ages) + (["--state", state] if state else [])
        reader = EntryReader(sink, ages=ages, family=servers.family)
        info = self.dump(argv, reader.feed, expected_entries=size_hint, timeout=timeout)
        return info, reader.finish()

    def dump(self, argv: list[str], on_text, *, expected_entries: int = 0, timeout: float | None = None,
             script: str | None = None) -> dict:
        """Stream a listing into ``on_text`` (bytes of text): ``argv``, or ``script`` (shell text
        built by :mod:`.commands`, exit status 0 when it listed) where given; returns transfer
        facts. Above 100,000 entries (``dut.compress``) it crosses SSH gzipped."""
        gz = self._use_gzip(expected_entries)
        sent = [0]
        t0 = time.monotonic()
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gz else None

        def take(chunk: bytes) -> None:
            sent[0] += len(chunk)
            on_text(inflater.decompress(chunk) if inflater else chunk)

        if gz:
            piped = C.compressed_dump_script(script if script is not None else argv)
            rc, err = self.shell.stream([], take, raw=C.sh_c(piped, sudo=self.sudo, netns=self.netns),
                                        timeout=timeout)
            on_text(inflater.flush())
            mark = re.search(re.escape(C.EXIT_MARK) + r"(\d+)", err)
            rc = int(mark.group(1)) if mark else rc
        elif script is not None:
            rc, err = self.shell.stream([], take, raw=C.sh_c(script, sudo=self.sudo, netns=self.netns),
                                        timeout=timeout)
        else:
            rc, err = self.shell.stream(argv, take, timeout=timeout)
        if rc != 0:
            what = " ".join(argv) if script is None else "the listing"
            raise DutCommandError(f"'{what}' on {self.shell.where} exited {rc}: "
                                  f"{err.strip().splitlines()[-1] if err.strip() else 'no message'}")
        m = _SHOWN_RE.search(err)
        return {"seconds": time.monotonic() - t0, "bytes_transferred": sent[0], "compressed": gz,
                "entries_shown": int(m.group(1)) if m else None}


DutSession = ConntrackDriver  # the name it had before the contract
