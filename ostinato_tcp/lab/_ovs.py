"""The lab's Open vSwitch DUT (``lab up --dut ovs``): the DUT forwards through a bridge on the
userspace (``netdev``) datapath whose ``ct()`` flows track, commit and, with ``nat``, translate;
the kernel only routes between the bridge's two internal ports and tracks nothing.

Inside the DUT namespace (the bridge is ``<prefix>-br``)::

    port A ---- dut-a (ofport 1) --+                    +-- dut-b (ofport 2) ---- port B
                                   |  bridge ostcp-br   |
    10.1.1.1/24  gw-a (ofport 3) --+  (netdev)          +-- gw-b (ofport 4)  10.2.2.1/24
                   \\____________ kernel routing __________/

(gw-a accepts packets whose source is the DUT's own address: masquerade translates to 10.2.2.1
before the kernel routes them, which it would otherwise drop as martians.)

    table 0  from dut-a: ct(zone=7, nat) -> table 1     from dut-b: ct(zone=7, nat) -> table 2
             from gw-a: out dut-a, from gw-b: out dut-b, anything else from dut-a/dut-b (ARP): to its gw port
    table 1  new: ct(commit, zone=7[, nat(src=...)]) -> gw-a;  established, related -> gw-a;  else drop
    table 2  established, related -> gw-b;  else drop (nothing from the server side opens a connection)

ovsdb-server and ovs-vswitchd run in the DUT namespace with their database, sockets and logs
in the lab's state directory (``ovs/``), so nothing of a host-wide Open vSwitch is touched;
``lab down`` ends them with the namespace.
"""

from __future__ import annotations

import os
from pathlib import Path

from ostinato_tcp.errors import LabError
from ostinato_tcp.lab._config import OVS_ZONE as ZONE
from ostinato_tcp.lab._sys import in_ns, pid_alive, read_pid, run, which

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
GW_A, GW_B = "gw-a", "gw-b"
OFPORTS = {"dut-a": 1, "dut-b": 2, GW_A: 3, GW_B: 4}


def ovs_dir(state_dir: Path) -> Path:
    return state_dir / "ovs"


def bridge_name(prefix: str) -> str:
    return f"{prefix}-br"[:15]


def flows(nat: str | None, server_gateway_ip: str) -> str:
    """The bridge's OpenFlow table (ovs-ofctl add-flows syntax)."""
    a, b, ga, gb = OFPORTS["dut-a"], OFPORTS["dut-b"], OFPORTS[GW_A], OFPORTS[GW_B]
    commit = f"ct(commit,zone={ZONE})"
    if nat:
        src = server_gateway_ip if nat == "masquerade" else nat.split(":", 1)[1]
        commit = f"ct(commit,zone={ZONE},nat(src={src}))"
    return "\n".join([
        f"table=0,priority=100,in_port={a},ip,actions=ct(zone={ZONE},nat,table=1)",
        f"table=0,priority=100,in_port={b},ip,actions=ct(zone={ZONE},nat,table=2)",
        f"table=0,priority=10,in_port={a},actions=output:{ga}",
        f"table=0,priority=10,in_port={b},actions=output:{gb}",
        f"table=0,priority=10,in_port={ga},actions=output:{a}",
        f"table=0,priority=10,in_port={gb},actions=output:{b}",
        "table=0,priority=0,actions=drop",
        f"table=1,priority=100,ct_state=+trk+new,ip,actions={commit},output:{ga}",
        f"table=1,priority=100,ct_state=+trk+est,ip,actions=output:{ga}",
        f"table=1,priority=100,ct_state=+trk+rel,ip,actions=output:{ga}",
        "table=1,priority=0,actions=drop",
        f"table=2,priority=100,ct_state=+trk+est,ip,actions=output:{gb}",
        f"table=2,priority=100,ct_state=+trk+rel,ip,actions=output:{gb}",
        "table=2,priority=0,actions=drop",
    ]) + "\n"


def _env(d: Path) -> dict:
    return dict(os.environ, OVS_RUNDIR=str(d), OVS_DBDIR=str(d), OVS_LOGDIR=str(d), OVS_SYSCONFDIR=str(d))


def ensure_ovs(ns: str, state_dir: Path, prefix: str, client_gateway: str, server_gateway: str,
               nat: str | None) -> None:
    """Start Open vSwitch in ``ns`` (when not running), build the bridge and load its flows;
    the gateway addresses move from dut-a/dut-b to the internal ports. Idempotent."""
    for prog in ("ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovs-appctl"):
        if "/" not in which(prog):
            raise LabError(f"lab dut ovs: {prog} is missing (Debian package openvswitch-switch); run "
                           "'make lab-deps' to install it")
    if not SCHEMA.exists():
        raise LabError(f"lab dut ovs: {SCHEMA} is missing (Debian package openvswitch-common)")
    d = ovs_dir(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    env = _env(d)
    db = d / "conf.db"
    if not pid_alive(read_pid(d / "ovsdb-server.pid")):
        if not db.exists():
            run(["ovsdb-tool", "create", str(db), str(SCHEMA)], env=env)
        in_ns(ns, "ovsdb-server", str(db), f"--remote=punix:{d}/db.sock", f"--pidfile={d}/ovsdb-server.pid",
              f"--unixctl={d}/ovsdb-server.ctl", f"--log-file={d}/ovsdb-server.log", "--detach", env=env)
    vsctl = ["ovs-vsctl", f"--db=unix:{d}/db.sock", "--timeout=30"]
    run(vsctl + ["--no-wait", "init"], env=env)
    if not pid_alive(read_pid(d / "ovs-vswitchd.pid")):
        in_ns(ns, "ovs-vswitchd", f"unix:{d}/db.sock", f"--pidfile={d}/ovs-vswitchd.pid",
              f"--unixctl={d}/ovs-vswitchd.ctl", f"--log-file={d}/ovs-vswitchd.log", "--detach", env=env)
    br = bridge_name(prefix)
    run(vsctl + ["--may-exist", "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev",
                 "fail_mode=secure"], env=env)
    for port, ofport in OFPORTS.items():
        kind = ["type=internal"] if port in (GW_A, GW_B) else []
        run(vsctl + ["--may-exist", "add-port", br, port, "--", "set", "interface", port,
                     f"ofport_request={ofport}", *kind], env=env)
    for dev, gw in (("dut-a", client_gateway), ("dut-b", server_gateway)):
        in_ns(ns, "ip", "-4", "addr", "flush", "dev", dev)
        gw_port = GW_A if dev == "dut-a" else GW_B
        in_ns(ns, "ip", "addr", "replace", gw, "dev", gw_port)
        in_ns(ns, "ip", "link", "set", gw_port, "up")
    # a translated source is the DUT's own address (masquerade): the kernel must route such packets
    # from the bridge instead of dropping them as martians
    in_ns(ns, "sysctl", "-qw", f"net.ipv4.conf.{GW_A}.accept_local=1", f"net.ipv4.conf.{GW_A}.rp_filter=0")
    mgmt = f"unix:{d}/{br}.mgmt"
    run(["ovs-ofctl", "del-flows", mgmt], env=env)
    run(["ovs-ofctl", "add-flows", mgmt, "-"], input=flows(nat, server_gateway.split("/")[0]), env=env)
