"""The procfs driver: a DUT read through ``/proc/net/nf_conntrack`` over SSH, for boxes without
conntrack-tools (OpenWrt, BusyBox images). The table is filtered on the DUT with ``grep -E`` and
parsed by the same reader as a ``conntrack -L`` listing; the counters come from
``/proc/net/stat/nf_conntrack``.

It is read only: it deletes nothing. A run on it keeps ``dut.clear: none`` and
``dut.clear_after: none``, so the proof that the entries are the run's own is the read-back of
the test's space (empty before the first packet) and, when the DUT keeps start timestamps, each
entry's age (``delta-time=`` in the /proc lines).
"""

from __future__ import annotations

from ostinato_tcp.domain.facts import Health
from ostinato_tcp.domain.verdict import ParseStats
from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.conntrack import ConntrackDriver
from ostinato_tcp.dut.contract import EntrySink
from ostinato_tcp.dut.entries import parse_proc_stats
from ostinato_tcp.dut.health import parse_health
from ostinato_tcp.dut.reader import EntryReader
from ostinato_tcp.errors import DutCommandError, UsageError


class ProcfsDriver(ConntrackDriver):
    """The DUT's conntrack table as /proc shows it, over the same SSH connection as the
    conntrack driver (a netns and sudo as the scenario says)."""

    kind = "procfs"
    can_delete = False

    def health(self) -> Health:
        res = self.shell.run([], raw=C.sh_c(C.proc_health_script(), sudo=self.sudo, netns=self.netns), check=False,
                             timeout=60)
        out, err = res.stdout, res.stderr.strip()
        head, _, rest = out.partition("stats-begin")
        stats, _, _ = rest.partition("stats-end")
        h = parse_health(head)
        if h.count is None:
            raise DutCommandError(f"cannot read conntrack sysctls on {self.shell.where} (is nf_conntrack loaded? "
                                  f"exit {res.rc}: {err[-200:]})")
        if "procfs=yes" not in head:
            raise DutCommandError(f"dut.kind: procfs: {C.PROC_TABLE} is not readable on {self.shell.where}"
                                  + (" (only root may read it: log in as root or set dut.sudo: true)"
                                     if h.uid not in (None, 0) else ""))
        h.has_conntrack = None  # not asked: this driver does without it
        h.counters = parse_proc_stats(stats)
        if not h.counters:
            raise DutCommandError(f"{C.PROC_STATS} gave no counters on {self.shell.where}")
        return h

    def clear(self, servers, mode: str, *, also=None) -> int:
        """Deletes nothing (``also`` is let be: the probe's entries expire by themselves)."""
        if mode != "none":
            raise UsageError(f"dut.clear: {mode}: the procfs driver reads {C.PROC_TABLE} and cannot delete "
                             "entries; set dut.clear: none and dut.clear_after: none")
        return 0

    def count_space(self, servers, state: str | None = None) -> int:
        res = self.shell.run([], raw=C.sh_c(C.proc_count_script(servers, state), sudo=self.sudo, netns=self.netns),
                             timeout=600)
        return int(res.stdout.strip() or 0)

    def icmp_entries(self, client_ip, server_ip, *, delete: bool = False) -> int:
        res = self.shell.run([], raw=C.sh_c(C.proc_icmp_script(client_ip, server_ip), sudo=self.sudo,
                                            netns=self.netns), timeout=30)
        return int(res.stdout.strip() or 0)  # ``delete`` cannot be honoured: they expire (30 s)

    def dump_space(self, servers, sink: EntrySink, *, ages: bool = False, state: str | None = None,
                   size_hint: int = 0, timeout: float | None = None) -> tuple[dict, ParseStats]:
        reader = EntryReader(sink, ages=ages, family=servers.family)
        info = self.dump([], reader.feed, expected_entries=size_hint, timeout=timeout,
                         script=C.proc_dump_script(servers, state))
        return info, reader.finish()
