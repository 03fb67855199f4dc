"""The bad-input catalogue: every case through ``ostinato-tcp run`` against the real lab.

Each case asserts:

* the exit code (2 for input, 3 for infrastructure);
* exactly one line on stderr, ``ostinato-tcp: error: ...``, naming the field and the
  value, with no traceback;
* nothing was sent or changed: the DUT's A and B links received no packet, a
  sentinel entry in the test's address space is still there (so no clear ran) and
  no entry was added; on Drone, every port's streams, device groups, user name and
  transmit mode are as before.

The catalogue table in docs/errors.md is checked against the messages printed here
(``make catalogue`` rewrites it from a lab run).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml

from ostinato_tcp.scenario import with_changes

from ..conftest import LAB_SLOTS, TEST_LAB
from ..unit.fake_drone import FakePeer
from .conftest import lab_drone, port_view, set_port

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "errors.md"  # the catalogue's page
BEGIN, END = "<!-- catalogue:begin -->", "<!-- catalogue:end -->"
SENTINEL = ("10.1.1.250", 999)
ROWS: dict[str, tuple[str, str, int]] = {}


@dataclass
class Case:
    id: str
    input: str  # what the user got wrong, as the catalogue table says it
    exit: int
    field: str  # must appear in the message
    value: str  # must appear in the message
    changes: dict | Callable = field(default_factory=dict)  # dotted scenario changes, or ctx -> changes
    text: str | None = None  # the scenario file's whole text instead
    args: tuple = ()
    env: dict = field(default_factory=dict)
    setup: Callable | None = None  # ctx -> undo function
    volatile: tuple = ()  # regexes of host-specific parts of the message, for the catalogue


def base_scenario(lab) -> dict:
    """A scenario with explicit endpoints (no 'lab:'), as a user of their own lab writes it."""
    return {
        "name": "catalogue",
        "drones": {"main": {"host": lab.drone_a["host"], "port": lab.drone_a["port"]}},
        "ports": {"a": {"drone": "main", "interface": "porta", "device": {"prefix": 24, "gateway": "10.1.1.1"}},
                  "b": {"drone": "main", "interface": "portb", "device": {"prefix": 24, "gateway": "10.2.2.1"}}},
        "connections": {"client_ip": "10.1.1.100", "server_ip": "10.2.2.100", "server_port": 8080,
                        "first_client_port": 23420, "count": 200},
        "traffic": {"rate": 200},
        "dut": {"host": lab.ssh["host"], "user": "root", "key_file": lab.ssh["key_file"],
                "known_hosts": lab.ssh["known_hosts"], "ssh_config": False},
    }


V6 = {"connections.client_ip": "fd00:1::100", "connections.server_ip": "fd00:2::100",
      "ports.a.device.gateway": "fd00:1::1", "ports.a.device.prefix": 64,
      "ports.b.device.gateway": "fd00:2::1", "ports.b.device.prefix": 64}


def two_pairs(ctx, client_ip: str | None = "10.3.3.100", a_interface: str = "porta2") -> list[dict]:
    """The catalogue's pair and a second one (ports the lab's Drone does not have: the
    scenario's checks refuse first), with one thing changed."""
    second = {"a": {"drone": "main", "interface": a_interface, "device": {"prefix": 24, "gateway": "10.3.3.1"}},
              "b": {"drone": "main", "interface": "portb2", "device": {"prefix": 24, "gateway": "10.4.4.1"}},
              "server_ip": "10.4.4.100"}
    if client_ip is not None:
        second["client_ip"] = client_ip
    return [base_scenario(ctx.lab)["ports"], second]


# ----------------------------------------------------------------------------- setups
def foreign_stream(ctx):
    with lab_drone(ctx.lab) as d:
        pid = d.find_port("porta")
        d.addStream(d.stream_id_list(pid, [900]))
        cfg = d.pb.StreamConfigList()
        cfg.port_id.id = pid
        s = cfg.stream.add()
        s.stream_id.id = 900
        s.core.name = "someone-elses-stream"
        s.core.is_enabled = True
        d.modifyStream(cfg)

    def undo():
        with lab_drone(ctx.lab) as d:
            d.deleteStream(d.stream_id_list(d.find_port("porta"), [900]))
    return undo


def other_run_owns_portb(ctx):
    # a live process of this host (the test itself) holds the port
    set_port(ctx.lab, "portb", user_name=f"ostinato-tcp run pid {os.getpid()} on {socket.gethostname()} by root "
                                      "(scenario nightly)")
    return lambda: set_port(ctx.lab, "portb", user_name="")


def reserved_porta(ctx):
    set_port(ctx.lab, "porta", user_name="alice")
    return lambda: set_port(ctx.lab, "porta", user_name="")


def interleaved_porta(ctx):
    set_port(ctx.lab, "porta", transmit_mode=1)
    return lambda: set_port(ctx.lab, "porta", transmit_mode=0)


def incompatible_drone(ctx):
    from ostinato_tcp.drone._pb import ostproto_pb2 as pb

    def handler(peer, conn, n):
        peer.read_request(conn)
        peer.send(conn, 2, 15, pb.VersionCompatibility(result=pb.VersionCompatibility.kIncompatible,
                                                       notes="Drone needs controller version 2.0.x")
                  .SerializeToString())

    peer = FakePeer(handler)
    ctx.values["fake_port"] = peer.port
    return peer.close


def _ssh_keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def unauthorized_key(ctx):
    _ssh_keygen(ctx.tmp / "stranger")
    return None


def changed_host_key(ctx):
    _ssh_keygen(ctx.tmp / "otherhost")
    pub = (ctx.tmp / "otherhost.pub").read_text().split()
    (ctx.tmp / "known_hosts_changed").write_text(f"{ctx.lab.ssh['host']} {pub[0]} {pub[1]}\n")
    return None


def empty_known_hosts(ctx):
    (ctx.tmp / "known_hosts_empty").write_text("")
    return None


def conntrack_max(ctx) -> int:
    return int(subprocess.run(["ip", "netns", "exec", ctx.lab.dut["namespace"], "cat",
                               "/proc/sys/net/netfilter/nf_conntrack_max"], capture_output=True, text=True).stdout)


HOSTILE_HOST = "$(touch /tmp/ostinato-tcp-hostile)"

CASES = [
    # --- the file itself
    Case("yaml-syntax", "malformed YAML (an unclosed bracket)", 2, ":4:", "YAML syntax",
         text="name: x\ndrones:\n  main: {host: 192.0.2.1\nports: {}\n"),
    Case("empty-file", "an empty file", 2, "catalogue.yaml", "the file is empty", text=""),
    Case("not-a-mapping", "a list at the top instead of key: value lines", 2, "catalogue.yaml:1", "mapping",
         text="- name: x\n- count: 3\n"),
    Case("missing-file", "a scenario path that does not exist", 2, "nosuch.yaml", "No such file",
         args=("NOSUCH",)),
    Case("unknown-top-key", "unknown key, misspelt (conections)", 2, "conections", "did you mean 'connections'",
         changes={"conections": {"count": 5}}),
    Case("unknown-nested-key", "unknown key in a section (traffic.rat)", 2, "traffic.rat", "did you mean 'rate'",
         changes={"traffic.rat": 100}),
    Case("duplicate-key", "the same key twice", 2, "traffic", "duplicate key",
         text="TEMPLATE\ntraffic:\n  rate: 5\n"),
    Case("missing-field", "a required field left out (connections.server_port)", 2, "connections.server_port",
         "required field is missing", changes={"connections.server_port": None}),
    # --- types and ranges
    Case("count-type", "count is not a number", 2, "connections.count", "'many'",
         changes={"connections.count": "many"}),
    Case("rate-type", "rate is a list", 2, "traffic.rate", "list", changes={"traffic.rate": [1, 2]}),
    Case("count-zero", "count 0", 2, "connections.count", "(got 0)", changes={"connections.count": 0}),
    Case("count-negative", "count negative", 2, "connections.count", "(got -5)", changes={"connections.count": -5}),
    Case("count-boolean", "count: yes (YAML reads yes as a boolean)", 2, "connections.count", "not the boolean true",
         changes={"connections.count": True}),
    Case("rate-zero", "rate 0", 2, "traffic.rate", "(got 0)", changes={"traffic.rate": 0}),
    Case("rate-negative", "rate negative", 2, "traffic.rate", "(got -100)", changes={"traffic.rate": -100}),
    Case("rate-absurd", "rate absurd (10^12 packets/s)", 2, "traffic.rate", "1000000000000",
         changes={"traffic.rate": 10**12}),
    Case("delay-negative", "delay negative", 2, "traffic.delay", "(got -1.0)", changes={"traffic.delay": -1}),
    Case("delay-outside-window", "delay beyond the window (30 s for 200 connections at 200/s)", 2, "traffic.delay",
         "30 s", changes={"traffic.delay": 30}),
    Case("server-port-range", "server port 70000", 2, "connections.server_port", "70000",
         changes={"connections.server_port": 70000}),
    Case("port-overflow", "first client port + count beyond 65535", 2, "connections", "65000",
         changes={"connections.first_client_port": 65000, "connections.count": 1000}),
    Case("teardown-unknown", "a tear-down that is not rst, fin or none", 2, "traffic.teardown", "'close'",
         changes={"traffic.teardown": "close"}),
    Case("teardown-fin-nat-learn", "a FIN close with NAT learn", 2, "traffic.teardown", "use rst",
         changes={"traffic.teardown": "fin", "nat.mode": "learn"}),
    Case("hold-not-a-duration", "a hold that is not a duration", 2, "expect.hold", "'soon'",
         changes={"expect.hold": "soon"}),
    Case("keepalive-without-hold", "keep-alive ACKs without a hold", 2, "traffic.keepalive", "needs expect.hold",
         changes={"traffic.keepalive": 5}),
    Case("keepalive-too-short", "keep-alive rounds shorter than sending them", 2, "traffic.keepalive",
         "is not longer than sending", changes={"expect.hold": 30, "traffic.keepalive": 1}),
    # --- addresses
    Case("ip-invalid", "client IP 10.1.1.300", 2, "connections.client_ip", "10.1.1.300",
         changes={"connections.client_ip": "10.1.1.300"}),
    Case("ip-v6", "an IPv6 server address with an IPv4 client", 2, "connections.server_ip", "fe80::1",
         changes={"connections.server_ip": "fe80::1"}),
    # --- IPv6
    Case("v6-gateway-family", "IPv6 addresses with an IPv4 gateway", 2, "ports.a.device.gateway", "10.1.1.1",
         changes={**V6, "ports.a.device.gateway": "10.1.1.1", "ports.a.device.prefix": 24}),
    Case("v6-nat", "IPv6 with a NAT mode (NAT66 is not supported)", 2, "nat.mode", "preserve-ports",
         changes={**V6, "nat.mode": "preserve-ports", "nat.address": "10.2.2.1"}),
    Case("v6-fast", "IPv6 with drone_build fast", 2, "traffic.drone_build", "fast",
         changes={**V6, "traffic.drone_build": "fast"}),
    Case("v6-frame", "IPv6 frames too short for IPv6 + TCP", 2, "traffic.frame_length", "64",
         changes={**V6, "traffic.frame_length": 64}),
    Case("v6-low-bits", "IPv6 client addresses whose low 32 bits would carry over", 2, "connections", "low 32 bits",
         changes={**V6, "connections.client_ip": "fd00:1::ffff:fffe", "connections.client_ips": 4}),
    # --- server ranges
    Case("server-ips-outside", "server addresses beyond port B's subnet", 2, "connections.server_ips", "200",
         changes={"connections.server_ips": 200}),
    Case("server-ports-past", "server ports past 65535", 2, "connections.server_ports", "65535",
         changes={"connections.server_ports": 3, "connections.server_port_step": 30000}),
    Case("server-endpoints", "more than 1024 server endpoints", 2, "connections.server_ports", "4096 endpoints",
         changes={"connections.server_ips": 64, "connections.server_ports": 64}),
    Case("server-nat-learn", "server ranges with nat.mode learn", 2, "nat.mode", "learn",
         changes={"connections.server_ips": 2, "nat.mode": "learn"}),
    # --- port pairs
    Case("pair-no-address", "a second port pair without its own client_ip", 2, "ports.1.client_ip", "pair 2",
         changes=lambda ctx: {"ports": two_pairs(ctx, client_ip=None)}),
    Case("pair-same-address", "two port pairs with the same client address", 2, "ports.1.client_ip", "10.1.1.100",
         changes=lambda ctx: {"ports": two_pairs(ctx, client_ip="10.1.1.100")}),
    Case("pair-same-port", "a Drone port in two pairs", 2, "ports.1.a.interface", "'porta'",
         changes=lambda ctx: {"ports": two_pairs(ctx, a_interface="porta")}),
    Case("prefix-range", "prefix length 33", 2, "ports.a.device.prefix", "33",
         changes={"ports.a.device.prefix": 33}),
    Case("gateway-outside", "gateway outside the client's prefix", 2, "ports.a.device.gateway", "10.9.9.1",
         changes={"ports.a.device.gateway": "10.9.9.1"}),
    Case("device-ip-mismatch", "device IP differs from the client IP", 2, "ports.a.device.ip", "10.1.1.5",
         changes={"ports.a.device.ip": "10.1.1.5"}),
    Case("same-ip", "server IP equal to the client IP", 2, "connections.server_ip", "must differ",
         changes={"connections.server_ip": "10.1.1.100", "ports.b.device.gateway": "10.1.1.1"}),
    Case("mac-invalid", "a malformed MAC address", 2, "ports.a.device.mac", "00:11:22:33:44",
         changes={"ports.a.device.mac": "00:11:22:33:44"}),
    # --- ports and Drones
    Case("same-port", "the same Drone port for A and B", 2, "ports.b.interface", "port B must differ",
         changes={"ports.b.interface": "porta"}),
    Case("unknown-drone-name", "ports.a names a Drone not under drones", 2, "ports.a.drone", "'nosuch'",
         changes={"ports.a.drone": "nosuch"}),
    Case("unknown-port-name", "a port name Drone does not have", 2, "ports.a.interface", "'nosuch0'",
         changes={"ports.a.interface": "nosuch0"}),
    Case("drone-unreachable", "nothing listens at the Drone address", 3, "drones.main", ":7879",
         changes={"drones.main.port": 7879}),
    Case("drone-incompatible", "a Drone of another major version (2.x)", 3, "drones.main", "2.0.x",
         setup=incompatible_drone,
         changes=lambda ctx: {"drones.main": {"host": "127.0.0.1", "port": ctx.values["fake_port"]}},
         volatile=(r"(?<=127\.0\.0\.1:)\d+",)),
    Case("foreign-streams", "a port carrying streams ostinato-tcp did not create", 2, "porta",
         "someone-elses-stream", setup=foreign_stream),
    Case("port-owned", "a port another ostinato-tcp run is using", 2, "portb", "scenario nightly",
         setup=other_run_owns_portb, volatile=(r"(?<=pid )\d+ on \S+(?= by)",)),
    Case("port-reserved", "a port someone reserved (its user name is set)", 2, "porta", "'alice'",
         setup=reserved_porta),
    Case("interleaved", "a port in interleaved transmit mode", 2, "porta", "interleaved",
         setup=interleaved_porta),
    # --- DUT and SSH
    Case("dut-unreachable", "nothing listens at the DUT's SSH port", 3, "dut.host", ":2222",
         changes={"dut.port": 2222}),
    Case("ssh-auth", "an SSH key the DUT does not accept", 3, "dut.user", "stranger",
         setup=unauthorized_key, changes=lambda ctx: {"dut.key_file": str(ctx.tmp / "stranger")}),
    Case("ssh-wrong-password", "a wrong SSH password", 3, "dut.user", "OT_CATALOGUE_PW",
         env={"OT_CATALOGUE_PW": "not-the-password"},
         changes=lambda ctx: {"dut.user": ctx.lab.ssh["sudo_user"], "dut.key_file": None,
                              "dut.password_env": "OT_CATALOGUE_PW"}),
    Case("password-env-unset", "dut.password_env names an unset variable", 2, "dut.password_env", "OT_NOT_SET",
         changes={"dut.password_env": "OT_NOT_SET", "dut.key_file": None}),
    Case("password-in-yaml", "a password written in the scenario", 2, "dut.password", "never read",
         changes={"dut.password": "hunter2"}),
    Case("key-file-missing", "a key file that does not exist", 2, "dut.key_file", "/nonexistent/id_ed25519",
         changes={"dut.key_file": "/nonexistent/id_ed25519"}),
    Case("host-key-unknown", "the DUT's host key is not in known_hosts", 3, "dut.known_hosts", "unknown SSH host key",
         setup=empty_known_hosts, changes=lambda ctx: {"dut.known_hosts": str(ctx.tmp / "known_hosts_empty")},
         volatile=(r"SHA256:[^,)\s]+",)),
    Case("host-key-changed", "the DUT's host key changed", 3, "dut.known_hosts", "CHANGED",
         setup=changed_host_key, changes=lambda ctx: {"dut.known_hosts": str(ctx.tmp / "known_hosts_changed")},
         volatile=(r"SHA256:[^,)]+",)),
    Case("conntrack-missing", "conntrack not installed on the DUT", 3, "dut.conntrack", "/usr/sbin/conntrack-none",
         changes={"dut.conntrack": "/usr/sbin/conntrack-none"}),
    Case("not-root", "a DUT user that is not root, without sudo", 3, "dut.user", f"{TEST_LAB['prefix']}-ro",
         changes=lambda ctx: {"dut.user": ctx.lab.ssh["plain_user"]}),
    Case("sudo-refused", "dut.sudo for a user sudo refuses", 3, "dut.sudo", f"{TEST_LAB['prefix']}-ro",
         changes=lambda ctx: {"dut.user": ctx.lab.ssh["plain_user"], "dut.sudo": True}),
    Case("table-too-small", "more connections than the DUT's table holds", 2, "connections.count", "nf_conntrack_max",
         changes=lambda ctx: {"connections.count": conntrack_max(ctx) + 1000, "connections.client_ips": "auto",
                              "connections.first_client_port": 1024, "traffic.rate": 100000},
         volatile=(r"(?<=connections.count )\d+", r"(?<=nf_conntrack_max )\d+", r"(?<=nf_conntrack_count )\d+",
                   r"\d+(?= free)")),
    # --- hostile strings (never reach a shell)
    Case("hostile-host", "shell text in dut.host", 2, "dut.host", HOSTILE_HOST, changes={"dut.host": HOSTILE_HOST}),
    Case("hostile-user", "shell text in dut.user", 2, "dut.user", "root; rm -rf /",
         changes={"dut.user": "root; rm -rf /"}),
    Case("hostile-conntrack", "shell text in dut.conntrack", 2, "dut.conntrack", "conntrack;reboot",
         changes={"dut.conntrack": "conntrack;reboot"}),
    Case("hostile-interface", "shell text in a port name (names are only matched against Drone's list)", 2,
         "ports.a.interface", "porta;touch /tmp/ostinato-tcp-hostile",
         changes={"ports.a.interface": "porta;touch /tmp/ostinato-tcp-hostile"}),
    Case("hostile-netns", "shell text in dut.netns", 2, "dut.netns", "x;reboot", changes={"dut.netns": "x;reboot"}),
    Case("unknown-port-id", "a port_id Drone does not have", 2, "ports.b.port_id", "no port with id 99",
         changes={"ports.b.interface": None, "ports.b.port_id": 99}),
]


# ----------------------------------------------------------------------------- observation
class Ctx:
    def __init__(self, lab, tmp: Path):
        self.lab, self.tmp, self.values = lab, tmp, {}


def _dut(lab, *args) -> str:
    return subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], *args], capture_output=True, text=True,
                          check=True).stdout


def dut_state(lab) -> dict:
    links = {x["ifname"]: x["stats64"]["rx"]["packets"] for x in json.loads(_dut(lab, "ip", "-s", "-j", "link"))}
    entries = _dut(lab, "conntrack", "-L", "-p", "tcp", "--orig-dst", "10.2.2.100", "--orig-port-dst", "8080")
    # an entry as its state and tuples (its timeout counts down)
    return {"rx_a": links["dut-a"], "rx_b": links["dut-b"],
            "entries": sorted(" ".join([line.split()[3]] + [w for w in line.split() if w.startswith(("src=", "dst=",
                                                                                                     "sport=", "dport="))])
                              for line in entries.splitlines() if line.strip())}


def drone_state(lab) -> dict:
    """Every port's streams (id, name, enabled), device groups, user name and mode."""
    return {name: {"streams": sorted((i, x.core.name, x.core.is_enabled) for i, x in v["streams"].items()),
                   "groups": v["groups"], "user_name": v["user_name"], "mode": v["mode"]}
            for name, v in port_view(lab).items()}


def _net_head(mgmt_net: str) -> str:
    return mgmt_net.split("/")[0].rsplit(".", 1)[0] + "."  # 198.18.2.0/24 -> 198.18.2.


def normalise(message: str, case: Case, tmp: Path) -> str:
    """The message as the catalogue shows it: temporary paths and host-specific parts replaced, and
    the names of this worker's test lab as the first test lab's (the catalogue's lab)."""
    msg = message.replace(str(tmp), "<tmp>")
    prefix, mgmt_net = LAB_SLOTS[0]
    if TEST_LAB["prefix"] != prefix:
        msg = msg.replace(f"{TEST_LAB['prefix']}-", f"{prefix}-")
        msg = msg.replace(_net_head(TEST_LAB["mgmt_net"]), _net_head(mgmt_net))
    for rx in case.volatile:
        msg = re.sub(rx, "<varies>", msg)
    return msg


@pytest.fixture(scope="module")
def sentinel(lab_handle):
    lab = lab_handle.endpoints()
    subprocess.run(["ip", "netns", "exec", lab.dut["namespace"], "conntrack", "-D", "-p", "tcp", "--orig-dst",
                    "10.2.2.100", "--orig-port-dst", "8080"], capture_output=True)
    _dut(lab, "conntrack", "-I", "-p", "tcp", "-s", SENTINEL[0], "-d", "10.2.2.100", "--sport", str(SENTINEL[1]),
         "--dport", "8080", "--state", "ESTABLISHED", "-u", "ASSURED", "-t", "3600")
    yield
    _dut(lab, "conntrack", "-D", "-p", "tcp", "--orig-dst", "10.2.2.100", "--orig-port-dst", "8080")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, lab, sentinel, tmp_path):
    ctx = Ctx(lab, tmp_path)
    undo = case.setup(ctx) if case.setup else None
    try:
        path = tmp_path / "catalogue.yaml"
        base = base_scenario(lab)
        if case.text is not None:
            path.write_text(case.text.replace("TEMPLATE", yaml.safe_dump(base, sort_keys=False)))
        else:
            changes = case.changes(ctx) if callable(case.changes) else case.changes
            path.write_text(yaml.safe_dump(with_changes(base, changes), sort_keys=False))
        args = [str(tmp_path / "nosuch.yaml") if a == "NOSUCH" else a for a in case.args] or [str(path)]
        before_dut, before_drone = dut_state(lab), drone_state(lab)
        env = dict(os.environ, OSTINATO_TCP_HISTORY=str(tmp_path / "h.sqlite"), **case.env)
        p = subprocess.run([sys.executable, "-m", "ostinato_tcp", "run", "-q", *args], capture_output=True,
                           text=True, env=env, timeout=120)
        after_dut, after_drone = dut_state(lab), drone_state(lab)
    finally:
        if undo:
            undo()
    lines = p.stderr.strip().splitlines()
    assert p.returncode == case.exit, p.stdout + p.stderr
    assert len(lines) == 1 and lines[0].startswith("ostinato-tcp: error: "), p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""
    message = lines[0][len("ostinato-tcp: error: "):]
    assert case.field in message and case.value in message, message
    # nothing sent, nothing changed
    assert after_dut == before_dut, "the DUT saw packets or its test entries changed"
    assert f"src={SENTINEL[0]} dst=10.2.2.100 sport={SENTINEL[1]} dport=8080" in " ".join(after_dut["entries"])
    assert after_drone == before_drone, "Drone's ports changed"
    assert not Path("/tmp/ostinato-tcp-hostile").exists()
    ROWS[case.id] = (case.input, normalise(message, case, tmp_path), case.exit)


def _table(rows) -> str:
    out = ["| input | message (one line on stderr, after `ostinato-tcp: error: `) | exit |", "| --- | --- | --- |"]
    for inp, msg, code in rows:
        out.append(f"| {inp} | {msg.replace('|', '/')} | {code} |")
    return "\n".join(out)


def test_catalogue_matches_the_messages():
    """docs/errors.md's table, row by row, is what the cases above printed."""
    assert ROWS, "no catalogue case ran"
    text = CATALOGUE.read_text()
    assert BEGIN in text and END in text, "docs/errors.md lacks the catalogue markers"
    head, rest = text.split(BEGIN, 1)
    table, tail = rest.split(END, 1)
    ran = [ROWS[c.id] for c in CASES if c.id in ROWS]
    if os.environ.get("OSTINATO_TCP_WRITE_CATALOGUE") == "1" and len(ROWS) == len(CASES):
        CATALOGUE.write_text(f"{head}{BEGIN}\n{_table(ran)}\n{END}{tail}")
        return
    documented = set(table.strip().splitlines()[2:])
    missing = [line for line in _table(ran).splitlines()[2:] if line not in documented]
    assert not missing, ("docs/errors.md's catalogue is out of date (run 'make catalogue'); rows not in it:\n"
                         + "\n".join(missing))
    assert len(documented) == len(CASES), "docs/errors.md's catalogue has rows for cases that no longer exist"
