"""The scenario model: pydantic classes that validate a scenario into typed, frozen objects.

No value from a scenario ever reaches a shell unvalidated: addresses are parsed as
IPv4 or IPv6, ports and counts are integers, names are restricted to safe characters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from ostinato_tcp.scenario._base import IP, IPV6_MIN_FRAME, MAX_PAIRS, CrossFieldError, IPv4, _Model
from ostinato_tcp.scenario._pair_rules import check_pairs, pair_data
from ostinato_tcp.scenario._rules import check_dut_access, check_one_pair

_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,63}$"
_USER_RE = r"^[a-z_][a-z0-9_.-]{0,31}\$?$"
_HOST_RE = r"^[A-Za-z0-9_.:-]{1,253}$"
_CMD_RE = r"^(/[A-Za-z0-9_.+-]+)+$|^[A-Za-z0-9_.+-]{1,64}$"
_NETNS_RE = r"^[A-Za-z0-9_.-]{1,64}$"
_SOCKET_RE = r"^(/[A-Za-z0-9_.+-]+)+$|^[A-Za-z0-9_.-]{1,64}$"  # a socket's path, or a daemon's name
_DP_RE = r"^[a-z]+@[A-Za-z0-9_.-]{1,64}$|^[A-Za-z0-9_.-]{1,64}$"
_ENV_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
LAB_PREFIX_RE = r"^[a-z][a-z0-9]{0,7}$"  # the built-in lab's prefix (ostinato_tcp.lab uses it too)
MAX_SERVER_ENDPOINTS = 1024  # server_ips x server_ports
_MAC_RE = re.compile(r"^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$")



_PATTERN_WORDS = {
    _NAME_RE: "must be 1-64 of letters, digits and _.:@+- (starting with a letter or digit)",
    _USER_RE: "must be a user name: lower-case letters, digits and _.- (starting with a letter or _)",
    _HOST_RE: "must be a host name or IP address: letters, digits and _.:- only",
    _ENV_RE: "must be an environment variable name: letters, digits and _",
    _CMD_RE: "must be a command name or an absolute path: letters, digits and _.+-/ only",
    _NETNS_RE: "must be a network namespace name: 1-64 of letters, digits and _.-",
    LAB_PREFIX_RE: "must be a lab prefix: 1-8 lower-case letters and digits",
}


class DroneEndpoint(_Model):
    host: str = Field(pattern=_HOST_RE)
    port: int = Field(7878, ge=1, le=65535)


class Device(_Model):
    """The emulated device on a port: answers ARP (IPv4) or neighbour solicitations (IPv6) and
    resolves the gateway's MAC."""

    ip: Optional[IP] = None
    gateway: IP
    prefix: int = Field(24, ge=1, le=126)
    mac: Optional[str] = None

    @field_validator("mac")
    @classmethod
    def _mac(cls, v):
        if v is not None and not _MAC_RE.match(v):
            raise ValueError(f"not a MAC address like 00:11:22:33:44:55 (got {v!r})")
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v, info):
        gw = info.data.get("gateway")
        if gw is not None and gw.version == 4 and v > 30:
            raise ValueError(f"must be at most 30 for IPv4 (got {v})")
        return v

    def mac_int(self) -> int | None:
        return None if self.mac is None else int(re.sub("[:-]", "", self.mac), 16)


class PortSpec(_Model):
    """One Drone port: its ``interface`` name as Drone lists it (any name, e.g. Windows'
    ``\\Device\\NPF_{...}``; only ever matched against Drone's own list) or its ``port_id``."""

    drone: str = Field(pattern=_NAME_RE)
    interface: Optional[str] = Field(None, min_length=1, max_length=256)
    port_id: Optional[int] = Field(None, ge=0, le=2**32 - 1)
    device: Device

    @field_validator("interface")
    @classmethod
    def _printable(cls, v):
        if v is not None and not v.isprintable():
            raise ValueError(f"has control characters ({v!r}); use the name 'ostinato-tcp ports' prints")
        return v

    @model_validator(mode="after")
    def _one_ref(self):
        if (self.interface is None) == (self.port_id is None):
            raise ValueError("give either 'interface' (the name 'ostinato-tcp ports' lists) or 'port_id', not "
                             + ("both" if self.interface is not None else "neither"))
        return self

    @property
    def ref(self) -> str | int:
        """What to look the port up by in Drone's list: the name, else the id."""
        return self.interface if self.interface is not None else self.port_id

    @property
    def ref_field(self) -> str:
        """The field the port is named by, for messages."""
        return "interface" if self.interface is not None else "port_id"


class Ports(_Model):
    a: PortSpec
    b: PortSpec


class Pair(_Model):
    """One port pair of a run over several (``ports:`` as a list): its own client and server
    addresses (the first pair may leave them to ``connections``)."""

    a: PortSpec
    b: PortSpec
    client_ip: Optional[IP] = None
    server_ip: Optional[IP] = None


class Connections(_Model):
    client_ip: IP
    client_ips: Union[int, Literal["auto"]] = 1
    server_ip: IP
    server_port: int = Field(ge=1, le=65535)
    server_ips: int = Field(1, ge=1, le=MAX_SERVER_ENDPOINTS,
                            description="server addresses from server_ip, every server_ip_step")
    server_ip_step: int = Field(1, ge=1, le=65536)
    server_ports: int = Field(1, ge=1, le=MAX_SERVER_ENDPOINTS,
                              description="server ports from server_port, every server_port_step")
    server_port_step: int = Field(1, ge=1, le=65535)
    first_client_port: int = Field(ge=1, le=65535)
    count: int = Field(ge=1, le=16_000_000)
    step: int = Field(1, ge=1, le=65535)

    @model_validator(mode="after")
    def _servers(self):
        endpoints = self.server_ips * self.server_ports
        if endpoints > MAX_SERVER_ENDPOINTS:
            raise CrossFieldError(("connections", "server_ports"), f"{self.server_ips} server_ips x {self.server_ports} "
                                  f"server_ports = {endpoints} endpoints, more than {MAX_SERVER_ENDPOINTS} (each is "
                                  "a stream per client IP and leg)")
        if self.server_ip.version != self.client_ip.version:
            raise CrossFieldError(("connections", "server_ip"), f"{self.server_ip} is IPv{self.server_ip.version} but "
                                  f"client_ip {self.client_ip} is IPv{self.client_ip.version}: one run is one family "
                                  "(list port pairs to mix them)")
        last_ip = int(self.server_ip) + (self.server_ips - 1) * self.server_ip_step
        if last_ip > (0xFFFFFFFF if self.server_ip.version == 4 else 2**128 - 1):
            raise CrossFieldError(("connections", "server_ips"), f"{self.server_ips} addresses from {self.server_ip} every "
                                  f"{self.server_ip_step} run past the last address")
        last_port = self.server_port + (self.server_ports - 1) * self.server_port_step
        if last_port > 65535:
            raise CrossFieldError(("connections", "server_ports"), f"{self.server_ports} ports from {self.server_port} every "
                                  f"{self.server_port_step} run past 65535 (last {last_port})")
        return self

    @property
    def server_endpoints(self) -> int:
        return self.server_ips * self.server_ports

    @property
    def family(self) -> int:
        return self.client_ip.version

    def server_ip_list(self) -> list:
        kind = type(self.server_ip)
        return [kind(int(self.server_ip) + i * self.server_ip_step) for i in range(self.server_ips)]

    @field_validator("client_ips")
    @classmethod
    def _ips(cls, v):
        if v != "auto" and not 1 <= v <= 65536:
            raise ValueError(f"must be 'auto' or 1..65536 (got {v})")
        return v


class Traffic(_Model):
    rate: Union[Annotated[float, Field(gt=0, le=10_000_000)], Literal["max"]] = Field(
        description="packets per second of each stream; max: the highest rate Drone's ports keep here, from "
                    "the send ceiling the run measures before its first packet")
    above_ceiling: Literal["refuse", "lower"] = Field(
        "refuse", description="a rate above what Drone's ports keep (measured before the first packet): refuse "
                              "(exit 2, naming the measured ceiling) or lower (the run sends at the ceiling)")
    delay: Union[float, Literal["auto"]] = "auto"
    mode: Literal["auto", "pipelined", "phased"] = "auto"
    batches: Union[Literal["auto", "off"], int] = "auto"
    client_isn: int = Field(100, ge=0, le=0xFFFFFFFF)
    server_isn: int = Field(200, ge=0, le=0xFFFFFFFF)
    window: int = Field(1024, ge=0, le=65535)
    frame_length: int = Field(64, ge=60, le=9000)
    min_margin: float = Field(0.2, ge=0, description="seconds each ordering margin must keep at least")
    rate_tolerance: float = Field(0.10, ge=0, le=1, description="a port slower than rate by more than this lags")
    drone_build: Literal["auto", "fast", "resolve"] = Field(
        "auto", description="fast: fixed MACs and given checksums (5-9x faster builds); resolve: Drone resolves "
                            "MACs and computes checksums per frame; auto: fast, checked on a captured probe first, "
                            "resolve when the probe shows wrong frames")
    build_seconds_per_packet: Union[float, Literal["auto"]] = Field(
        "auto", description="Drone's build cost per packet for the plan; auto: measured on each Drone at the start "
                            "of a run (the plan before that uses a typical figure)")
    max_build_seconds: float = Field(120, gt=0, description="a larger batch is split")
    teardown: Literal["none", "rst", "fin"] = Field(
        "none", description="after the verdict (and the hold), close every connection and prove each one's state: "
                            "rst: one RST from port A (entries go to CLOSE); fin: FIN, FIN-ACK, last ACK, ordered "
                            "like the handshake (entries go to TIME_WAIT); none: entries stay until dut.clear_after")
    keepalive: Optional[float] = Field(None, description="during expect.hold, port A sends every connection's ACK "
                                                         "again every this many seconds (refreshes the DUT's "
                                                         "established timeout); none: the connections stay idle")

    @field_validator("keepalive", mode="before")
    @classmethod
    def _keepalive(cls, v):
        if v is None:
            return v
        secs = duration_seconds(v)
        if secs <= 0:
            raise ValueError(f"must be a duration > 0 (got {v!r})")
        return secs

    @field_validator("build_seconds_per_packet")
    @classmethod
    def _build_cost(cls, v):
        if v != "auto" and v <= 0:
            raise ValueError(f"must be 'auto' or a number of seconds > 0 (got {v})")
        return v

    @field_validator("delay")
    @classmethod
    def _delay(cls, v):
        if v != "auto" and v <= 0:
            raise ValueError(f"must be 'auto' or a number of seconds > 0 (got {v})")
        return v

    @field_validator("batches")
    @classmethod
    def _batches(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"must be 'auto', 'off' or a batch size >= 1 (got {v})")
        return v


class JumpHost(_Model):
    """One SSH hop on the way to the DUT (its host key is checked like the DUT's)."""

    host: str = Field(pattern=_HOST_RE)
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = Field(None, pattern=_USER_RE)
    key_file: Optional[Path] = None
    known_hosts: Optional[Path] = None


class OvsConfig(_Model):
    """How to reach Open vSwitch's userspace conntrack on the DUT (``dut.ovs``, for ``dut.kind: ovs``)."""

    appctl: str = Field("ovs-appctl", pattern=_CMD_RE, description="ovs-appctl's name or absolute path on the DUT")
    target: Optional[str] = Field(None, pattern=_SOCKET_RE, description="ovs-appctl -t (socket or daemon name)")
    datapath: Optional[str] = Field(None, pattern=_DP_RE, description="the datapath (e.g. netdev@ovs-netdev); "
                                                                      "none: the only one")
    zone: int = Field(0, ge=0, le=65535, description="the conntrack zone the test's flows commit to (ct(zone=N))")


class DutConfig(_Model):
    """How to reach and read the DUT (the ``dut`` section)."""

    host: Optional[str] = Field(None, pattern=_HOST_RE, description="the DUT's SSH address (required unless "
                                                                     "dut.kind: none)")
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = Field(None, pattern=_USER_RE)
    key_file: Optional[Path] = None
    known_hosts: Optional[Path] = None
    accept_new_host_key: bool = False
    password_env: Optional[str] = Field(None, pattern=_ENV_RE)
    ssh_config: bool = True
    sudo: bool = False
    clear: Literal["test", "all", "none"] = "test"
    clear_after: Literal["test", "none"] = Field(
        "test", description="after the verdict, delete the test's entries (test) or keep them (none)")
    poll_interval: float = Field(1.0, ge=0, description="seconds between conntrack count polls; 0 = off")
    connect_timeout: float = Field(10, gt=0)
    command_timeout: float = Field(300, gt=0)
    compress: Literal["auto", "on", "off"] = "auto"
    kind: Literal["auto", "conntrack", "procfs", "ovs", "none"] = Field(
        "auto", description="how the DUT's table is read: conntrack, procfs (/proc, read only), ovs (Open "
                            "vSwitch's conntrack), none (not read: the traffic proof alone) or auto")
    conntrack: str = Field("conntrack", pattern=_CMD_RE, description="conntrack's name or absolute path on the DUT")
    netns: Optional[str] = Field(None, pattern=_NETNS_RE,
                                 description="the network namespace where the DUT forwards (ip netns exec NAME ...)")
    jump: list[JumpHost] = Field(default_factory=list, description="SSH hops to reach the DUT, first to last")
    ovs: Optional[OvsConfig] = Field(None, description="Open vSwitch's conntrack (dut.kind ovs)")

    @model_validator(mode="after")
    def _ovs_kind(self):
        if self.ovs is not None and self.kind in ("conntrack", "procfs", "none"):
            raise ValueError(f"dut.ovs is given but dut.kind is {self.kind}: set dut.kind: ovs (or auto), or drop "
                             "dut.ovs")
        return self


class Nat(_Model):
    mode: Literal["none", "preserve-ports", "learn"] = "none"
    address: Optional[IPv4] = None

    @model_validator(mode="after")
    def _addr(self):
        if self.mode == "preserve-ports" and self.address is None:
            raise ValueError("mode preserve-ports needs 'address' (the DUT's translated source address)")
        return self


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_DURATION_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600}


def duration_seconds(v) -> float:
    """A duration: a number of seconds, or a string like '30s', '5m', '1h'."""
    if isinstance(v, bool):
        raise ValueError(f"must be a duration such as 30, '30s', '5m' or '1h' (got {v!r})")
    if isinstance(v, (int, float)):
        return float(v)
    m = _DURATION_RE.match(str(v))
    if not m:
        raise ValueError(f"must be a duration such as 30, '30s', '5m' or '1h' (got {v!r})")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


class Expect(_Model):
    state: Literal["ESTABLISHED"] = "ESTABLISHED"
    assured: bool = True
    hold: float = Field(0, description="seconds the connections stay idle after the verdict, then every one is "
                                       "checked again (30, '30s', '5m'); 0: no hold")
    proof: list[Literal["table", "traffic"]] = Field(
        default_factory=lambda: ["table"],
        description="what a pass rests on: 'table' (every connection ESTABLISHED+ASSURED in the DUT's table) and "
                    "'traffic' (after the handshake a data segment each way crossed the DUT for every connection, "
                    "as Drone's captures show)")

    @field_validator("proof", mode="before")
    @classmethod
    def _proof(cls, v):
        items = [v] if isinstance(v, str) else v
        if isinstance(items, list):
            if not items:
                raise ValueError("needs at least one proof: [table], [table, traffic], or [traffic] (dut.kind none)")
            if len(set(items)) != len(items):
                raise ValueError(f"names a proof twice (got {v!r})")
        return items

    @field_validator("hold", mode="before")
    @classmethod
    def _hold(cls, v):
        secs = duration_seconds(v)
        if secs < 0 or secs > 7 * 86400:
            raise ValueError(f"must be between 0 and 7 days (got {v!r})")
        return secs


class Scenario(_Model):
    name: str = Field(pattern=_NAME_RE)
    description: str = ""
    lab: Optional[str] = Field(None, pattern=LAB_PREFIX_RE)
    drones: dict[str, DroneEndpoint]
    ports: Union[Ports, list[Pair]]
    connections: Connections
    traffic: Traffic
    dut: DutConfig
    nat: Nat = Nat()
    expect: Expect = Expect()
    # Not from the file: where it came from and its content hash (for history).
    source: Optional[str] = Field(None, exclude=True)
    content_hash: Optional[str] = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _ipv6_frames(cls, data):
        """IPv6 segments need longer frames: the default frame length follows the family; a DUT
        the tool cannot read (dut.kind none) is proven by the traffic alone by default."""
        if isinstance(data, dict):
            d, e = data.get("dut"), data.get("expect")
            if isinstance(d, dict) and d.get("kind") == "none" and (e is None or isinstance(e, dict)) \
                    and "proof" not in (e or {}):
                data = {**data, "expect": {**(e or {}), "proof": ["traffic"]}}
            c, t = data.get("connections"), data.get("traffic")
            if isinstance(c, dict) and ":" in str(c.get("client_ip", "")) and isinstance(t, dict) \
                    and "frame_length" not in t:
                data = {**data, "traffic": {**t, "frame_length": IPV6_MIN_FRAME}}
        return data

    @field_validator("drones")
    @classmethod
    def _drone_names(cls, v):
        if not 1 <= len(v) <= 2 * MAX_PAIRS:
            raise ValueError(f"list 1 to {2 * MAX_PAIRS} Drones (got {len(v)})")
        for key in v:
            if not re.match(_NAME_RE, key):
                raise ValueError(f"Drone name {key!r} has characters outside [A-Za-z0-9_.:@+-]")
        return v

    @model_validator(mode="after")
    def _cross(self):
        check_dut_access(self)
        if isinstance(self.ports, list):
            return self._cross_pairs()
        check_one_pair(self)
        return self

    def _cross_pairs(self):
        check_pairs(self)
        return self

    @property
    def pair_count(self) -> int:
        return len(self.ports) if isinstance(self.ports, list) else 1

    def pair_scenarios(self) -> list["Scenario"]:
        """One single-pair scenario per port pair, the connections shared out (the first pairs
        take one more when the count does not divide); a single-pair scenario is its own."""
        if not isinstance(self.ports, list):
            return [self]
        return [Scenario.model_validate(d).model_copy(update={"source": self.source, "content_hash": self.content_hash})
                for d in pair_data(self)]

    # Derived -------------------------------------------------------------
    def with_changes(self, changes: dict) -> "Scenario":
        """This scenario with values set at dotted paths (``{"traffic.rate": 500}``; None removes a
        key), validated like a scenario file: a bad value raises ScenarioError naming the field."""
        return _changes_hook(self, changes)

    def resolved(self) -> dict:
        """Every value, defaults filled in (for reports and history)."""
        return json.loads(self.model_dump_json(exclude={"source", "content_hash"}))


def _no_loader(sc: Scenario, changes: dict) -> Scenario:
    raise RuntimeError("the scenario loader (ostinato_tcp.scenario._load) is not imported")


# Scenario.with_changes validates like a file, with the loader's line-precise errors: the loader
# (which imports this module) installs itself here, so this module needs nothing above it.
_changes_hook = _no_loader


def install_changes_hook(fn) -> None:
    global _changes_hook
    _changes_hook = fn
