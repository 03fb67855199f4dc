"""The ovs driver: a DUT whose connection tracking is Open vSwitch's userspace conntrack (the
``netdev`` datapath's ``ct()`` action), read and changed with ``ovs-appctl`` over SSH.

What it runs on the DUT (``dut.ovs``: ``appctl``, ``-t target``, the datapath, the ``zone``)::

    dpctl/dump-conntrack -m [dp] zone=N      the table (parsed by :mod:`.ovs_reader`)
    dpctl/flush-conntrack [dp] zone=N TUPLE  clear: one partial original tuple per server endpoint
                                             (ct_nw_dst, ct_nw_proto=6, ct_tp_dst); ``all``: the zone
    dpctl/ct-get-nconns, ct-get-maxconns     the count and the capacity (the whole datapath's)
    coverage/read-counter conntrack_*        the counters a run's deltas come from

Its timeouts are the userspace datapath's default timeout policy (no ``ovs-appctl`` command
prints a zone's policy): SYN_SENT 30 s, SYN_RECV 30 s, ESTABLISHED 24 h, from Open vSwitch's
``lib/conntrack-tp.c``; a zone with a policy of its own (``ovs-vsctl add-zone-tp``) makes them
wrong, and the plan says which it used. Entries carry no age, so the proof that the entries are
the run's is the read-back of the test's space, empty before the first packet.
"""

from __future__ import annotations

import re
import shlex
import time

from ostinato_tcp.ground import addr
from ostinato_tcp.domain.facts import Health
from ostinato_tcp.domain.verdict import ParseStats
from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.conntrack import ConntrackDriver
from ostinato_tcp.dut.contract import EntrySink
from ostinato_tcp.dut.ovs_reader import OvsEntryReader
from ostinato_tcp.dut.ssh import DutShell
from ostinato_tcp.errors import DutCommandError

# the userspace datapath's default timeout policy (lib/conntrack-tp.c), seconds
OVS_TIMEOUTS = {"syn_sent": 30, "syn_recv": 30, "established": 24 * 3600}
_ICMP = re.compile(r"^icmp,orig=\(src=([0-9.]+),dst=([0-9.]+),id=(\d+),type=(\d+),code=(\d+)\)", re.M)
FLUSH_ROUND = 8  # flush-conntrack calls per endpoint between two read-backs
FLUSH_MAX_CALLS = 64
OVS_COUNTERS = ("conntrack_full", "conntrack_l3csum_err", "conntrack_l4csum_err")


class OvsSettings:
    """What the driver needs of ``dut.ovs`` (the defaults when the section is left out)."""

    def __init__(self, appctl: str = "ovs-appctl", target: str | None = None, datapath: str | None = None,
                 zone: int = 0):
        self.appctl, self.target, self.datapath, self.zone = appctl, target, datapath, int(zone)

    @classmethod
    def of(cls, config) -> "OvsSettings":
        o = getattr(config, "ovs", None)
        return cls() if o is None else cls(o.appctl, o.target, o.datapath, o.zone)

    def command(self, verb: str, *args: str, options: tuple[str, ...] = (), dp: bool = True) -> str:
        """One ovs-appctl call as shell text (every part quoted): the verb, its options, the
        datapath (when named), then the arguments."""
        argv = [self.appctl] + (["-t", self.target] if self.target else []) + [verb, *options]
        if dp and self.datapath:
            argv.append(self.datapath)
        return " ".join(shlex.quote(a) for a in argv + list(args))


def _endpoint_tuples(servers, proto: int = 6) -> list[str]:
    """A partial original tuple per server endpoint (flush-conntrack's syntax), from parsed values
    (the family is the space's: a small IPv6 address is still IPv6)."""
    nw = "ct_ipv6_dst" if servers.family == 6 else "ct_nw_dst"
    return [f"{nw}={addr.text(ip, servers.family)},ct_nw_proto={proto},ct_tp_dst={int(port)}"
            for ip, port in servers.endpoints()]


def flush_script(o: "OvsSettings", zone: int, tuples: list[str], rounds: int) -> str:
    """``rounds`` flush-conntrack calls per tuple, as one shell loop (its text stays short
    whatever the number of endpoints; each tuple once)."""
    flush = o.command("dpctl/flush-conntrack", f"zone={zone}")
    quoted = " ".join(shlex.quote(t) for t in tuples)
    return (f"i=0; while [ $i -lt {int(rounds)} ]; do for t in {quoted}; do {flush} \"$t\" || exit 1; done; "
            "i=$((i+1)); done")


def health_script(o: OvsSettings) -> str:
    """Prints ``key=value`` lines: uid, kernel, version, nconns, maxconns, then each counter."""
    lines = ["echo uid=$(id -u)", "echo kernel=$(uname -r)",
             f"echo version=$({o.command('version', dp=False)} 2>&1 | head -n 1)",
             f"echo nconns=$({o.command('dpctl/ct-get-nconns')} 2>&1)",
             f"echo maxconns=$({o.command('dpctl/ct-get-maxconns')} 2>&1)"]
    lines += [f"echo counter.{c}=$({o.command('coverage/read-counter', c, dp=False)} 2>&1)" for c in OVS_COUNTERS]
    return "; ".join(lines)


def parse_ovs_health(text: str) -> tuple[Health, dict[str, str]]:
    """The health script's output as a Health (OVS's timeouts filled in) and the raw values."""
    raw: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            raw[key.strip()] = value.strip()

    def num(key):
        v = raw.get(key, "")
        return int(v) if v.isdigit() else None

    h = Health(count=num("nconns"), max=num("maxconns"), uid=num("uid"), kernel=raw.get("kernel") or None,
               syn_sent_timeout=OVS_TIMEOUTS["syn_sent"], syn_recv_timeout=OVS_TIMEOUTS["syn_recv"],
               established_timeout=OVS_TIMEOUTS["established"], timestamp=0, taken_at=time.time())
    h.counters = {c: num(f"counter.{c}") for c in OVS_COUNTERS if num(f"counter.{c}") is not None}
    return h, raw


class OvsDriver(ConntrackDriver):
    """Open vSwitch's userspace conntrack over the DUT's SSH login (sudo as the scenario says)."""

    kind = "ovs"

    def __init__(self, shell: DutShell, *, compress: str = "auto", conntrack: str = "conntrack",
                 ovs: OvsSettings | None = None):
        super().__init__(shell, compress=compress, conntrack=conntrack)
        self.ovs = ovs or OvsSettings()
        self.version: str | None = None

    @property
    def zone(self) -> int:
        return self.ovs.zone

    def _sh(self, script: str, *, timeout: float, check: bool = True, ok_codes=(0,)):
        return self.shell.run([], raw=self._wrap(script), check=check, ok_codes=ok_codes, timeout=timeout)

    def _wrap(self, script: str) -> str:
        return C.sh_c(script, sudo=self.sudo, netns=self.netns)

    def health(self) -> Health:
        res = self._sh(health_script(self.ovs), timeout=60, check=False)
        h, raw = parse_ovs_health(res.stdout)
        if h.count is None or h.max is None:
            said = raw.get("nconns") or res.stderr.strip()[-200:] or "no message"
            raise DutCommandError(f"dut.kind: ovs: '{self.ovs.command('dpctl/ct-get-nconns')}' on {self.where} "
                                  f"gave no count ({said}): is ovs-vswitchd running, is dut.ovs.target its "
                                  "control socket, and may dut.user use it (root or dut.sudo)?")
        self.version = raw.get("version")
        return h

    def count(self) -> int:
        res = self._sh(self.ovs.command("dpctl/ct-get-nconns"), timeout=15)
        return int(res.stdout.strip())

    def clear(self, servers, mode: str, *, also=None) -> int:
        """``test``: the zone's entries to each server endpoint go (a partial tuple each);
        ``all``: the whole zone is flushed (-1). Returns the entries deleted, counted before and
        after. A flush by partial tuple removes only part of what matches on Open vSwitch 3.1
        (about half per call: 1000 -> 254 -> 126 -> 61 ... measured), so the flushes repeat, in
        rounds of :data:`FLUSH_ROUND` calls, until the space reads back empty."""
        if mode == "none" and also is None:
            return 0
        if mode == "all":
            self._sh(self.ovs.command("dpctl/flush-conntrack", f"zone={self.zone}"), timeout=600)
            return -1
        spaces = ([servers] if mode == "test" else []) + ([also] if also is not None else [])
        script = flush_script(self.ovs, self.zone, [t for s in spaces for t in _endpoint_tuples(s)], FLUSH_ROUND)
        before = left = sum(self.count_space(s) for s in spaces)
        calls = 0
        while left and calls < FLUSH_MAX_CALLS:
            self._sh(script, timeout=3600)
            calls += FLUSH_ROUND
            now = sum(self.count_space(s) for s in spaces)
            if now >= left:
                break  # no progress: something keeps making them, or the flush does not match them
            left = now
        if left:
            raise DutCommandError(f"dut.kind: ovs: {left} of the test's {before} entries in zone {self.zone} are still "
                                  f"there after {calls} flush-conntrack call(s) per server endpoint on {self.where}")
        return before

    def clear_measured(self, servers) -> tuple[int, None]:
        """Deletes the test's entries; no delete rate: the flushes repeat and read the space back
        between rounds, so their time is not the datapath's delete time."""
        return self.clear(servers, "test"), None

    def count_space(self, servers, state: str | None = None) -> int:
        n = [0]

        def take(entries) -> None:
            n[0] += sum(1 for e in entries if state is None or e[0] == state.encode())

        self.dump_space(servers, take)
        return n[0]

    def icmp_entries(self, client_ip, server_ip, *, delete: bool = False) -> int:
        """ICMP entries of the zone from ``client_ip`` to ``server_ip``; ``delete`` flushes each by
        its whole tuple (a partial ICMP tuple matches nothing)."""
        res = self._sh(self.ovs.command("dpctl/dump-conntrack", f"zone={self.zone}"), timeout=60)
        found = [m.groups() for m in _ICMP.finditer(res.stdout)
                 if m.group(1) == str(client_ip) and m.group(2) == str(server_ip)]
        if delete and found:
            self._sh(" && ".join(self.ovs.command("dpctl/flush-conntrack", f"zone={self.zone}",
                                                  f"ct_nw_src={s},ct_nw_dst={d},ct_nw_proto=1,icmp_id={int(i)},"
                                                  f"icmp_type={int(t)},icmp_code={int(c)}")
                                 for s, d, i, t, c in found), timeout=30)
        return len(found)

    def own_session(self) -> tuple | None:
        return None  # the SSH login does not cross the bridge's conntrack zone

    def dump_space(self, servers, sink: EntrySink, *, ages: bool = False, state: str | None = None,
                   size_hint: int = 0, timeout: float | None = None) -> tuple[dict, ParseStats]:
        """The zone's TCP entries to the test's server endpoints (filtered here: the listing has
        no filter but the zone), in ``state`` when given."""
        if ages:
            raise DutCommandError("dut.kind: ovs: Open vSwitch's conntrack gives no entry ages")
        wanted = {(addr.text(ip, servers.family).encode(), str(int(port)).encode()) for ip, port in servers.endpoints()}
        want_state = state.encode() if state else None

        def take(entries) -> None:
            kept = [e for e in entries if (e[2], e[4]) in wanted and (want_state is None or e[0] == want_state)]
            if kept:
                sink(kept)

        reader = OvsEntryReader(take, family=servers.family, zone=self.zone)
        info = self.dump([], reader.feed, expected_entries=size_hint, timeout=timeout,
                         script=self.ovs.command("dpctl/dump-conntrack", f"zone={self.zone}", options=("-m",)))
        return info, reader.finish()

