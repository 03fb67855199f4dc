"""The commands ostinato-tcp runs on the DUT, built only from validated values.

Every argument is an IPv4 or IPv6 address (parsed), an integer, or a constant of this
module; :meth:`DutShell.command_line` quotes each word. The few commands that
need a pipe are built here from quoted words too.
"""

from __future__ import annotations

import ipaddress
import shlex

SYSCTL_DIR = "/proc/sys/net/netfilter"
FORWARDING = "/proc/sys/net/ipv4/ip_forward"
FORWARDING6 = "/proc/sys/net/ipv6/conf/all/forwarding"
SYSCTLS = ("nf_conntrack_count", "nf_conntrack_max", "nf_conntrack_buckets", "nf_conntrack_tcp_loose",
           "nf_conntrack_tcp_timeout_syn_sent", "nf_conntrack_tcp_timeout_syn_recv",
           "nf_conntrack_tcp_timeout_established", "nf_conntrack_timestamp", "nf_conntrack_tcp_be_liberal",
           "nf_conntrack_tcp_max_retrans", "nf_conntrack_tcp_ignore_invalid_rst")
EXIT_MARK = "ostinato-tcp-exit="
CONNTRACK = "conntrack"  # dut.conntrack: a command name or an absolute path, validated by the scenario


def _ip(value) -> str:
    """An address (IPv4 or IPv6; an integer above 2**32 is IPv6) as text: never anything else."""
    if isinstance(value, int):
        return str(ipaddress.IPv4Address(value) if value < 2**32 else ipaddress.IPv6Address(value))
    return str(ipaddress.ip_address(value))


def _port(value) -> str:
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError(f"not a TCP port: {value!r}")
    return str(port)


def _servers(servers) -> list[tuple[str, int]]:
    """(address as text, port) of each endpoint: a Servers (its family says how to read the
    integers) or one (address, port)."""
    if hasattr(servers, "endpoints"):
        kind = ipaddress.IPv6Address if servers.family == 6 else ipaddress.IPv4Address
        return [(str(kind(ip)), port) for ip, port in servers.endpoints()]
    return [servers]


def test_space_filter(servers) -> list[str]:
    """conntrack filter for entries whose original direction goes to the test's servers:
    ``servers`` is a :class:`~ostinato_tcp.domain.tuples.Servers` or one (address, port). Several
    addresses are covered by one network and mask, several ports by no port filter: the
    verdict sorts out what is not the test's."""
    eps = _servers(servers)
    addrs = [ipaddress.ip_address(_ip(ip)) for ip, _ in eps]
    v6 = addrs[0].version == 6
    ips = sorted({int(a) for a in addrs})
    ports = sorted({int(p) for _, p in eps})
    argv = ["-f", "ipv6", "-p", "tcp"] if v6 else ["-p", "tcp"]
    kind = ipaddress.IPv6Address if v6 else ipaddress.IPv4Address
    if len(ips) == 1:
        argv += ["--orig-dst", str(kind(ips[0]))]
    else:
        width = 128 if v6 else 32
        bits = (ips[0] ^ ips[-1]).bit_length()
        mask = ((1 << width) - 1) ^ ((1 << bits) - 1)
        argv += ["--orig-dst", str(kind(ips[0] & mask)), "--mask-dst", str(kind(mask))]
    if len(ports) == 1:
        argv += ["--orig-port-dst", _port(ports[0])]
    return argv


def endpoint_filters(servers) -> list[list[str]]:
    """One exact filter per server endpoint (deleting needs exactness: entries of other
    ports or addresses stay)."""
    out = []
    for ip, port in _servers(servers):
        text = _ip(ip)
        family = ["-f", "ipv6"] if ":" in text else []
        out.append(family + ["-p", "tcp", "--orig-dst", text, "--orig-port-dst", _port(port)])
    return out


def dump_argv(servers, ct: str = CONNTRACK, *, timestamps: bool = False) -> list[str]:
    """The test's entries; with ``timestamps`` each line carries ``delta-time=`` (its age in seconds)."""
    return [ct, "-L"] + test_space_filter(servers) + (["-o", "ktimestamp"] if timestamps else [])


def unreplied_argv(servers, ct: str = CONNTRACK) -> list[str]:
    return [ct, "-L"] + test_space_filter(servers) + ["--state", "SYN_SENT"]


def icmp_argv(client_ip, server_ip, ct: str = CONNTRACK, *, delete: bool = False) -> list[str]:
    """ICMP entries from ``client_ip`` to ``server_ip`` (listed, or deleted)."""
    return [ct, "-D" if delete else "-L", "-p", "icmp", "--orig-src", _ip(client_ip), "--orig-dst", _ip(server_ip)]


def clear_test_argvs(servers, ct: str = CONNTRACK) -> list[list[str]]:
    return [[ct, "-D"] + f for f in endpoint_filters(servers)]


def count_test_argvs(servers, ct: str = CONNTRACK, state: str | None = None) -> list[list[str]]:
    return [[ct, "-L"] + f + (["--state", state] if state else []) for f in endpoint_filters(servers)]


def flush_argv(ct: str = CONNTRACK) -> list[str]:
    return [ct, "-F"]


def count_argv() -> list[str]:
    return ["cat", f"{SYSCTL_DIR}/nf_conntrack_count"]


def sh_c(script: str, *, sudo: bool, netns: str | None = None) -> str:
    """``sh -c SCRIPT`` (in ``ip netns exec NETNS``, under ``sudo -n`` when configured), whatever
    the login shell is."""
    words = ["sh", "-c", script]
    if netns:
        words = ["ip", "netns", "exec", netns] + words
    if sudo:
        words = ["sudo", "-n", "--"] + words
    return shlex.join(words)


def health_script(ct: str = CONNTRACK) -> str:
    """Prints ``name=value`` for each sysctl, the kernel release, the user id, whether
    conntrack is there, then ``conntrack -S``."""
    q = shlex.quote(ct)
    return (f"{_settings_script()}; "
            f"if command -v {q} >/dev/null 2>&1; then echo conntrack=yes; {q} -S; else echo conntrack=no; fi")


def _settings_script() -> str:
    """Prints ``name=value`` for each sysctl, forwarding, the kernel release and the user id."""
    reads = "; ".join(f'printf "{name}=%s\\n" "$(cat {SYSCTL_DIR}/{name} 2>/dev/null)"' for name in SYSCTLS)
    return (f"{reads}; echo ip_forward=$(cat {FORWARDING} 2>/dev/null); "
            f"echo ip6_forward=$(cat {FORWARDING6} 2>/dev/null); echo kernel=$(uname -r); echo uid=$(id -u)")


def quiet_script(argv: list[str] | list[list[str]]) -> str:
    """``argv`` (or several, one after another) with standard output dropped on the DUT
    (``conntrack -D`` prints every entry it deletes: a million of them would cross SSH for
    nothing); the messages stay on stderr."""
    argvs = argv if argv and isinstance(argv[0], list) else [argv]
    return "; ".join(f"{shlex.join(a)} >/dev/null" for a in argvs)


def compressed_dump_script(listing: list[str] | str) -> str:
    """``listing | gzip -1`` (an argv, or shell text built here), with the listing's exit status
    reported on stderr (a pipe hides it)."""
    text = listing if isinstance(listing, str) else shlex.join(listing)
    return f"{{ {text}; echo {EXIT_MARK}$? >&2; }} | gzip -1"


def gzip_probe_script() -> str:
    return "command -v gzip >/dev/null && echo yes || echo no"


# ----------------------------------------------------------------------------- /proc (read only)
PROC_TABLE = "/proc/net/nf_conntrack"
PROC_STATS = "/proc/net/stat/nf_conntrack"


def detect_script(ct: str = CONNTRACK, ovs_dps: str | None = None) -> str:
    """Prints which driver can read this DUT: ``ovs`` (``ovs_dps``, shell text of an
    ``ovs-appctl dpctl/dump-dps`` call, lists a ``netdev@`` datapath: Open vSwitch's userspace
    conntrack tracks there, whatever the kernel has), ``conntrack`` (conntrack-tools found),
    ``procfs`` (only ``/proc/net/nf_conntrack`` readable) or ``none``."""
    q = shlex.quote(ct)
    ovs = f"if {ovs_dps} 2>/dev/null | grep -q '^netdev@'; then echo driver=ovs; el" if ovs_dps else ""
    return (f"{ovs}if command -v {q} >/dev/null 2>&1; then echo driver=conntrack; "
            f"elif [ -r {PROC_TABLE} ]; then echo driver=procfs; else echo driver=none; fi")


def proc_health_script() -> str:
    """The health script of a DUT read through /proc: the sysctls as :func:`health_script`
    prints them, then the per-CPU statistics table (hexadecimal columns under a header)."""
    return (f"{_settings_script()}; "
            f"if [ -r {PROC_TABLE} ]; then echo procfs=yes; else echo procfs=no; fi; "
            f"echo stats-begin; cat {PROC_STATS} 2>/dev/null; echo stats-end")


def proc_space_pattern(servers, state: str | None = None) -> str:
    """An extended regular expression taking the /proc lines of TCP entries whose original
    direction goes to one of the test's server endpoints (in ``state`` when given). Built from
    parsed addresses and integer ports only."""
    eps = _servers(servers)
    fam = "ipv6 +10" if ":" in _ip(eps[0][0]) else "ipv4 +2"
    dsts = sorted({_ip(ip).replace(".", "\\.") for ip, _ in eps})
    ports = sorted({_port(p) for _, p in eps})
    st = state if state and state.replace("_", "").isalpha() and state.isupper() else "[A-Z_]+"
    return (f"^{fam} +tcp +6 +[0-9]+ +{st} +src=[^ ]+ dst=({'|'.join(dsts)}) sport=[0-9]+ "
            f"dport=({'|'.join(ports)}) ")


def proc_dump_script(servers, state: str | None = None) -> str:
    """The test's entries from /proc/net/nf_conntrack; grep's 'nothing matched' (1) is no error."""
    pat = shlex.quote(proc_space_pattern(servers, state))
    return f"grep -E {pat} {PROC_TABLE}; rc=$?; [ $rc -le 1 ]"


def proc_count_script(servers, state: str | None = None) -> str:
    pat = shlex.quote(proc_space_pattern(servers, state))
    return f"grep -c -E {pat} {PROC_TABLE}; rc=$?; [ $rc -le 1 ]"


def proc_icmp_script(client_ip, server_ip) -> str:
    pat = shlex.quote(f"^ipv4 +2 +icmp +1 +[0-9]+ +src={_ip(client_ip)} dst={_ip(server_ip)} ".replace(".", "\\."))
    return f"grep -c -E {pat} {PROC_TABLE}; rc=$?; [ $rc -le 1 ]"
