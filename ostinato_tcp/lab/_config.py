"""The built-in lab's configuration, names and endpoints."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ostinato_tcp.errors import LabError
from ostinato_tcp.scenario import LAB_PREFIX_RE

STATE_ROOT = Path("/run/ostinato-tcp")
DEFAULT_PREFIX = "ostcp"

_PREFIX_RE = re.compile(LAB_PREFIX_RE)
_NAT_RE = re.compile(r"^(masquerade|snat:\d{1,3}(\.\d{1,3}){3})$")

PORT_A = "porta"
PORT_B = "portb"
DUT_A = "dut-a"
DUT_B = "dut-b"
MGMT = "mgmt"
JMP_DUT = "jmp"  # the DUT's link to the jump host (in the DUT's namespace)
JMP_SIDE = "dutlink"  # the jump host's link to the DUT
NFT_TABLE = "ostinato_tcp_lab"
OVS_ZONE = 7  # the conntrack zone of an Open vSwitch DUT's flows (lab dut ovs)
MAX_LAB_PAIRS = 8
NFT_NAT_TABLE = "ostinato_tcp_lab_nat"

# Sysctls of the DUT namespace the lab config may set, by config attribute.
_NS_SYSCTLS = {
    "tcp_loose": "net.netfilter.nf_conntrack_tcp_loose",
    "timestamps": "net.netfilter.nf_conntrack_timestamp",
    "syn_sent_timeout": "net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
    "syn_recv_timeout": "net.netfilter.nf_conntrack_tcp_timeout_syn_recv",
}
# Sysctls that only the initial namespace may write: they are global to the host,
# so the lab records the old value and puts it back on ``down``.
_GLOBAL_SYSCTLS = {
    "conntrack_max": "net.netfilter.nf_conntrack_max",
    "conntrack_buckets": "net.netfilter.nf_conntrack_buckets",
}


DUT_KINDS = ("conntrack", "procfs", "ovs", "none")
# the PATH of a procfs DUT's SSH logins: no sbin, so no conntrack-tools (nor sysctl, nor ip)
PROCFS_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class LabConfig:
    prefix: str = DEFAULT_PREFIX
    mgmt_net: str = "198.18.0.0/24"
    drone_port: int = 7878
    two_drones: bool = False
    client_gateway: str = "10.1.1.1/24"
    server_gateway: str = "10.2.2.1/24"
    ipv6: bool = False  # IPv6 on the DUT's side of the test wires (off: no IPv6 frame on the wires)
    client_gateway6: str = "fd00:1::1/64"  # the DUT's IPv6 address on the A side (pair i: fd00:<2i-1>::1)
    server_gateway6: str = "fd00:2::1/64"
    tcp_loose: int = 0
    timestamps: bool = True  # nf_conntrack_timestamp: entries carry their age, the run's per-entry freshness proof
    syn_sent_timeout: int | None = None
    syn_recv_timeout: int | None = None
    conntrack_max: int | None = None
    conntrack_buckets: int | None = None
    nat: str | None = None
    sudo_user: bool = False
    jump_host: bool = False  # an SSH bastion namespace: the DUT's sshd is also reachable only through it
    dut_netns: bool = False  # the DUT forwards in a namespace one level deeper than its sshd
    pairs: int = 1  # port pairs: pair i (from 2) is porta<i>/portb<i> --- dut-a<i>/dut-b<i>
    drone_per_pair: bool = False  # pairs from 2 each on a Drone of their own (namespace <prefix>-p<i>)
    dut: str = "conntrack"  # what the DUT's SSH login offers: conntrack-tools, or only /proc (procfs)

    def validate(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise LabError(f"lab prefix {self.prefix!r}: use 1-8 lower-case letters or digits, "
                           "starting with a letter")
        try:
            net = ipaddress.IPv4Network(self.mgmt_net)
        except ValueError as exc:
            raise LabError(f"lab mgmt_net {self.mgmt_net!r}: {exc}") from None
        if net.prefixlen > 28:
            raise LabError(f"lab mgmt_net {self.mgmt_net!r}: needs at least a /28")
        if self.jump_host and net.prefixlen > 27:
            raise LabError(f"lab mgmt_net {self.mgmt_net!r}: a lab with a jump host needs at least a /27")
        for name in ("client_gateway", "server_gateway"):
            try:
                ipaddress.IPv4Interface(getattr(self, name))
            except ValueError:
                raise LabError(f"lab {name} {getattr(self, name)!r}: not an IPv4 address/prefix") from None
        if self.dut not in DUT_KINDS:
            raise LabError(f"lab dut {self.dut!r}: choose one of {', '.join(DUT_KINDS)}")
        if self.dut == "procfs" and self.dut_netns:
            raise LabError("lab dut procfs: goes without dut_netns (its login has no 'ip' to enter the namespace)")
        if self.dut == "none" and (self.jump_host or self.sudo_user or self.dut_netns):
            raise LabError("lab dut none: runs no sshd, so it goes without jump_host, sudo_user and dut_netns")
        if self.dut == "ovs":
            kernel_only = [n for n in ("syn_sent_timeout", "syn_recv_timeout", "conntrack_max", "conntrack_buckets")
                           if getattr(self, n) is not None] + [n for n in ("ipv6", "dut_netns", "tcp_loose")
                                                               if getattr(self, n)]
            if kernel_only or self.pairs > 1:
                raise LabError(f"lab dut ovs: goes without {(kernel_only or ['pairs'])[0]} (Open vSwitch's "
                               "conntrack has its own settings; its lab has one IPv4 pair)")
        if self.tcp_loose not in (0, 1):
            raise LabError(f"lab tcp_loose {self.tcp_loose!r}: must be 0 or 1")
        for name in ("syn_sent_timeout", "syn_recv_timeout", "conntrack_max", "conntrack_buckets"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise LabError(f"lab {name} {v!r}: must be a positive integer")
        if not 1 <= self.drone_port <= 65535:
            raise LabError(f"lab drone_port {self.drone_port!r}: not a TCP port")
        if not 1 <= self.pairs <= MAX_LAB_PAIRS:
            raise LabError(f"lab pairs {self.pairs!r}: must be 1 to {MAX_LAB_PAIRS}")
        if self.drone_per_pair and net.num_addresses // 4 < 5 + self.pairs:
            raise LabError(f"lab mgmt_net {self.mgmt_net!r}: {self.pairs} pairs with a Drone each need "
                           f"{5 + self.pairs} /30 links")
        if self.pairs > 1 and (self.two_drones or self.nat):
            raise LabError("lab pairs: more than one pair goes without two_drones and nat (use drone_per_pair for "
                           "a Drone per pair)")
        if self.nat is not None and not _NAT_RE.match(self.nat):
            raise LabError(f"lab nat {self.nat!r}: use 'masquerade' or 'snat:A.B.C.D'")

    # Derived names -------------------------------------------------------
    @property
    def ns_tg(self) -> str:
        return f"{self.prefix}-tg"

    @property
    def ns_tg2(self) -> str:
        return f"{self.prefix}-tg2"

    @property
    def ns_dut(self) -> str:
        return f"{self.prefix}-dut"

    @property
    def ns_jmp(self) -> str:
        return f"{self.prefix}-jmp"

    @property
    def ns_fwd(self) -> str:
        """Where the DUT forwards and tracks: the DUT namespace, or the one nested in it."""
        return f"{self.prefix}-dutin" if self.dut_netns else self.ns_dut

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.prefix

    @property
    def sudo_user_name(self) -> str:
        return f"{self.prefix}-op"

    @property
    def plain_user_name(self) -> str:
        """A second test user: no sudo, for the 'not root and no sudo' refusals."""
        return f"{self.prefix}-ro"

    def mgmt_pair(self, index: int) -> tuple[str, str]:
        """Root-side and namespace-side address of management link ``index``."""
        net = ipaddress.IPv4Network(self.mgmt_net)
        sub = list(net.subnets(new_prefix=30))[index]
        hosts = list(sub.hosts())
        return f"{hosts[0]}/30", f"{hosts[1]}/30"

    def ns_pair(self, i: int) -> str:
        """The traffic generator namespace of pair ``i`` (1-based)."""
        return f"{self.prefix}-p{i}" if i > 1 and self.drone_per_pair else self.ns_tg

    def pair_links(self, i: int) -> dict:
        """Pair ``i``'s port names, DUT interfaces and gateways: pair i uses 10.(2i-1).(2i-1).1/24 on
        the A side and 10.(2i).(2i).1/24 on the B side (pair 1: the lab's two gateways)."""
        if i == 1:
            return {"port_a": PORT_A, "port_b": PORT_B, "dut_a": DUT_A, "dut_b": DUT_B,
                    "client_gateway": self.client_gateway, "server_gateway": self.server_gateway,
                    "client_gateway6": self.client_gateway6, "server_gateway6": self.server_gateway6}
        a, b = 2 * i - 1, 2 * i
        return {"port_a": f"{PORT_A}{i}", "port_b": f"{PORT_B}{i}", "dut_a": f"{DUT_A}{i}", "dut_b": f"{DUT_B}{i}",
                "client_gateway": f"10.{a}.{a}.1/24", "server_gateway": f"10.{b}.{b}.1/24",
                "client_gateway6": f"fd00:{a}::1/64", "server_gateway6": f"fd00:{b}::1/64"}

    def namespaces(self) -> list[str]:
        return ([self.ns_tg, self.ns_dut] + ([self.ns_tg2] if self.two_drones else [])
                + ([self.ns_jmp] if self.jump_host else []) + ([self.ns_fwd] if self.dut_netns else [])
                + [self.ns_pair(i) for i in range(2, self.pairs + 1) if self.drone_per_pair])


@dataclass
class Endpoints:
    """How to reach the lab: what ``lab up --json`` prints."""

    prefix: str
    drone_a: dict
    drone_b: dict
    ssh: dict
    dut: dict
    namespaces: list[str] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)  # every port pair: its Drone, port names, gateways
    lab_file: str | None = None  # the lab as a lab file (inventory) for test profiles

    def to_dict(self) -> dict:
        return asdict(self)


def table_settings(entries: int) -> dict[str, int]:
    """The host's table sized for runs of ``entries`` connections (``lab up --table``): room for
    them and the tool's own sessions, and the buckets the hash-chain forecast asks for (at least
    the kernel's default)."""
    from ostinato_tcp.domain.hash_chains import CHAIN_WARN, buckets_for

    return {"conntrack_max": max(entries + entries // 10 + 1000, 262144),
            "conntrack_buckets": buckets_for(1000, entries, limit=CHAIN_WARN / 100, at_least=262144)}


def endpoints_of(c: LabConfig) -> Endpoints:
    """How to reach the lab of config ``c``: what ``lab up --json`` prints."""
    sd = c.state_dir
    drone_a_host = c.mgmt_pair(0)[1].split("/")[0]
    drone_b_host = c.mgmt_pair(2)[1].split("/")[0] if c.two_drones else drone_a_host
    ssh_host = c.mgmt_pair(1)[1].split("/")[0]
    jump = None
    if c.jump_host:
        jump = {"host": c.mgmt_pair(3)[1].split("/")[0], "port": 22, "user": "root",
                "dut_host": c.mgmt_pair(4)[1].split("/")[0], "namespace": c.ns_jmp}
    return Endpoints(
        prefix=c.prefix,
        drone_a={"host": drone_a_host, "port": c.drone_port, "port_name": PORT_A,
                 "namespace": c.ns_tg},
        drone_b={"host": drone_b_host, "port": c.drone_port, "port_name": PORT_B,
                 "namespace": c.ns_tg2 if c.two_drones else c.ns_tg},
        ssh={"host": ssh_host, "port": 22, "user": "root", "key_file": str(sd / "id_ed25519"),
             "known_hosts": str(sd / "known_hosts"),
             "sudo_user": c.sudo_user_name if c.sudo_user else None,
             "plain_user": c.plain_user_name if c.sudo_user else None,
             "sudo_user_password_file": str(sd / "sudo-user-password") if c.sudo_user else None,
             "jump": jump},
        dut={"namespace": c.ns_fwd, "ssh_namespace": c.ns_dut, "netns": c.ns_fwd if c.dut_netns else None,
             "client_gateway": c.client_gateway,
             "server_gateway": c.server_gateway, "ipv6": c.ipv6,
             "client_gateway6": c.client_gateway6 if c.ipv6 else None,
             "server_gateway6": c.server_gateway6 if c.ipv6 else None, "client_interface": DUT_A,
             "server_interface": DUT_B, "nat": c.nat, "tcp_loose": c.tcp_loose, "timestamps": c.timestamps,
             "conntrack_max": c.conntrack_max, "syn_sent_timeout": c.syn_sent_timeout,
             "syn_recv_timeout": c.syn_recv_timeout, "kind": c.dut,
             "ovs": ({"target": str(sd / "ovs" / "ovs-vswitchd.ctl"), "zone": OVS_ZONE} if c.dut == "ovs"
                     else None)},
        namespaces=c.namespaces(),
        pairs=[_pair_endpoint(c, i, drone_a_host) for i in range(1, c.pairs + 1)],
        lab_file=str(sd / "lab.yaml"),
    )


def _pair_endpoint(c: LabConfig, i: int, first_drone: str) -> dict:
    links = c.pair_links(i)
    own = i > 1 and c.drone_per_pair
    host = c.mgmt_pair(4 + i)[1].split("/")[0] if own else first_drone
    a, b = links["client_gateway"].split("/")[0], links["server_gateway"].split("/")[0]
    return {"pair": i, "drone": {"host": host, "port": c.drone_port, "namespace": c.ns_pair(i)},
            "port_a": links["port_a"], "port_b": links["port_b"], "client_gateway": links["client_gateway"],
            "server_gateway": links["server_gateway"], "client_gateway6": links["client_gateway6"],
            "server_gateway6": links["server_gateway6"], "client_ip": a.rsplit(".", 1)[0] + ".100",
            "server_ip": b.rsplit(".", 1)[0] + ".100"}


def nft_ruleset(c: LabConfig) -> str:
    """The DUT's ruleset: a forward chain whose ct state rules turn conntrack on, the
    management links kept out of forwarding, and source NAT on request."""
    # on an Open vSwitch DUT the bridge's flows track and translate: the kernel only routes and,
    # with no ct expression in its ruleset, tracks nothing
    tracking = "" if c.dut == "ovs" else """        ct state invalid counter drop
        ct state established,related counter accept
        ct state new counter accept
"""
    rules = f"""table inet {NFT_TABLE}
delete table inet {NFT_TABLE}
table inet {NFT_TABLE} {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname {{ "{MGMT}", "{JMP_DUT}" }} counter drop
        oifname {{ "{MGMT}", "{JMP_DUT}" }} counter drop
{tracking}    }}
}}
table ip {NFT_NAT_TABLE}
delete table ip {NFT_NAT_TABLE}
"""
    if c.nat and c.dut != "ovs":  # the ovs lab translates in its flows
        action = "masquerade" if c.nat == "masquerade" else f"snat to {c.nat.split(':', 1)[1]}"
        rules += f"""table ip {NFT_NAT_TABLE} {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{DUT_B}" counter {action}
    }}
}}
"""
    return rules


def lab_file_data(c: LabConfig, e: Endpoints) -> dict:
    """The lab as a lab file's data: drones, ports with their devices, the DUT."""
    drones = {"lab-a": {"host": e.drone_a["host"], "port": e.drone_a["port"]}}
    if c.two_drones:
        drones["lab-b"] = {"host": e.drone_b["host"], "port": e.drone_b["port"]}
    gw_a, pre_a = c.client_gateway.split("/")
    gw_b, pre_b = c.server_gateway.split("/")
    dut = ({"kind": "none"} if c.dut == "none" else  # no login: the traffic proof alone
           {"host": e.ssh["host"], "port": e.ssh["port"], "user": e.ssh["user"], "key_file": e.ssh["key_file"],
            "known_hosts": e.ssh["known_hosts"], "ssh_config": False})
    data = {"drones": drones,
            "ports": {"a": {"drone": "lab-a", "interface": PORT_A, "device": {"gateway": gw_a, "prefix": int(pre_a)}},
                      "b": {"drone": "lab-b" if c.two_drones else "lab-a", "interface": PORT_B,
                            "device": {"gateway": gw_b, "prefix": int(pre_b)}}},
            "dut": dut}
    if e.dut["netns"]:
        data["dut"]["netns"] = e.dut["netns"]
    if e.dut.get("kind") == "procfs":  # a read-only driver: the run deletes nothing
        data["dut"].update(clear="none", clear_after="none")
    if e.dut.get("ovs"):  # Open vSwitch's conntrack: its control socket and the flows' zone
        data["dut"]["ovs"] = dict(e.dut["ovs"])  # dut.kind auto finds the driver by it
    if c.pairs > 1:
        pairs = [dict(data["ports"])]
        for p in e.pairs[1:]:
            name = f"lab-p{p['pair']}" if c.drone_per_pair else "lab-a"
            drones[name] = {"host": p["drone"]["host"], "port": p["drone"]["port"]}
            ga, pa = p["client_gateway"].split("/")
            gb, pb = p["server_gateway"].split("/")
            pairs.append({"a": {"drone": name, "interface": p["port_a"], "device": {"gateway": ga, "prefix": int(pa)}},
                          "b": {"drone": name, "interface": p["port_b"], "device": {"gateway": gb, "prefix": int(pb)}},
                          "client_ip": p["client_ip"], "server_ip": p["server_ip"]})
        data["ports"] = pairs
    return data
