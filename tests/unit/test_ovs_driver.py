"""The ovs driver against output captured from a real ovs-vswitchd 3.1.0 (the lab's ovs DUT):
the shell text it builds runs here in the real sh, with ``dut.ovs.appctl`` pointing at a small
stand-in that answers from those captures and keeps a table the driver's flushes change, as
3.1.0's flush by partial tuple does (about half of what matches per call)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ostinato_tcp.domain.tuples import ConnectionSpace, Servers
from ostinato_tcp.domain.verdict import Expected
from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.ovs import FLUSH_ROUND, OVS_TIMEOUTS, OvsDriver, OvsSettings, parse_ovs_health
from ostinato_tcp.errors import DutCommandError
from ostinato_tcp.lab._config import LabConfig
from ostinato_tcp.lab._ovs import flows
from ostinato_tcp.errors import LabError
from ostinato_tcp.scenario import scenario_from_text as load_scenario_text

from .test_procfs_driver import LocalShell

OVS = Path(__file__).resolve().parents[1] / "fixtures" / "ovs"
ICMP = ("icmp,orig=(src=10.1.1.100,dst=10.2.2.100,id=28532,type=8,code=0),reply=(src=10.2.2.100,dst=10.1.1.100,"
        "id=28532,type=0,code=0),zone=7")

APPCTL = textwrap.dedent('''\
    #!{python}
    import json, sys
    from pathlib import Path
    here = Path(__file__).parent
    args = sys.argv[1:]
    with open(here / "calls.log", "a") as log:
        log.write(json.dumps(args) + "\\n")
    if args[:1] == ["-t"]:
        args = args[2:]
    verb, rest = args[0], [a for a in args[1:] if a != "-m" and "@" not in a]
    table = here / "table.txt"
    lines = table.read_text().splitlines()
    keep = lambda z: [l for l in lines if ("zone=%s," % z) in l or l.endswith("zone=%s" % z)]
    if verb == "version":
        print("ovs-vswitchd (Open vSwitch) 3.1.0")
    elif verb == "dpctl/ct-get-nconns":
        print(len([l for l in lines if not l.startswith("#")]))
    elif verb == "dpctl/ct-get-maxconns":
        print(3000000)
    elif verb == "coverage/read-counter":
        print(4 if rest[0] == "conntrack_l4csum_err" else 0)
    elif verb == "dpctl/dump-conntrack":
        zone = rest[0].split("=")[1]
        print("\\n".join(keep(zone)))
    elif verb == "dpctl/flush-conntrack":
        zone = rest[0].split("=")[1]
        if (here / "stuck").exists():
            sys.exit(0)
        if len(rest) == 1:
            lines = [l for l in lines if l not in keep(zone)]
        else:
            want = dict(kv.split("=") for kv in rest[1].split(","))
            def hit(l):
                if ("zone=%s," % zone) not in l and not l.endswith("zone=%s" % zone):
                    return False
                if want.get("ct_nw_proto") == "1":
                    return l.startswith("icmp,orig=(src=%s,dst=%s,id=%s," % (want["ct_nw_src"], want["ct_nw_dst"],
                                                                               want["icmp_id"]))
                return ("dst=%s," % want["ct_nw_dst"]) in l.split("reply=")[0] and \\
                    ("dport=%s)" % want["ct_tp_dst"]) in l.split("reply=")[0]
            hits = [l for l in lines if hit(l)]
            gone = set(hits[: (len(hits) + 1) // 2])  # 3.1.0 leaves part of what matches behind
            lines = [l for l in lines if l not in gone]
        table.write_text("\\n".join(lines) + "\\n")
    else:
        sys.exit("unknown verb " + verb)
''')


@pytest.fixture
def appctl(tmp_path):
    path = tmp_path / "ovs-appctl"
    path.write_text(APPCTL.format(python=sys.executable))
    path.chmod(0o755)
    (tmp_path / "table.txt").write_text((OVS / "dump-conntrack-m-nat-zone7-3.1.0.txt").read_text() + ICMP + "\n")
    return path


def driver(appctl, zone=7, target="/run/ovs/ovs-vswitchd.ctl") -> OvsDriver:
    return OvsDriver(LocalShell(appctl.parent / "unused"), compress="off",
                     ovs=OvsSettings(appctl=str(appctl), target=target, zone=zone))


def calls(appctl) -> list[list[str]]:
    return [json.loads(x) for x in (appctl.parent / "calls.log").read_text().splitlines()]


def nat_space(n=20) -> ConnectionSpace:
    return ConnectionSpace.layout(client_ip="10.1.1.100", client_ips=1, first_port=20000, step=1,
                                  server_ip="10.2.2.100", server_port=8080, total=n, batch_size=n)


def test_health_from_the_captured_script_output():
    h, raw = parse_ovs_health((OVS / "health-3.1.0.txt").read_text())
    assert (h.count, h.max, h.uid, h.timestamp) == (20, 3000000, 0, 0)
    assert (h.syn_sent_timeout, h.syn_recv_timeout, h.established_timeout) == (30, 30, 86400)
    assert h.counters == {"conntrack_full": 0, "conntrack_l3csum_err": 0, "conntrack_l4csum_err": 0}
    assert raw["version"] == "ovs-vswitchd (Open vSwitch) 3.1.0"
    assert h.tcp_loose is None and h.ip_forward is None  # kernel settings: not Open vSwitch's


def test_health_and_count_through_the_shell(appctl):
    drv = driver(appctl)
    h = drv.health()
    assert (h.count, h.max, h.counters["conntrack_l4csum_err"]) == (21, 3000000, 4)
    assert drv.version == "ovs-vswitchd (Open vSwitch) 3.1.0" and drv.count() == 21
    assert all(c[:2] == ["-t", "/run/ovs/ovs-vswitchd.ctl"] for c in calls(appctl))
    (appctl.parent / "table.txt").write_text("")
    broken = OvsDriver(LocalShell(appctl.parent / "x"), ovs=OvsSettings(appctl=str(appctl.parent / "nosuch")))
    with pytest.raises(DutCommandError, match="dut.kind: ovs: .*gave no count"):
        broken.health()


def test_commands_put_options_before_the_datapath_and_quote_every_part():
    o = OvsSettings(appctl="/usr/bin/ovs-appctl", target="/var/run/openvswitch/ovs-vswitchd.ctl",
                    datapath="netdev@ovs-netdev", zone=7)
    assert o.command("dpctl/dump-conntrack", "zone=7", options=("-m",)) == (
        "/usr/bin/ovs-appctl -t /var/run/openvswitch/ovs-vswitchd.ctl dpctl/dump-conntrack -m netdev@ovs-netdev "
        "zone=7")
    assert o.command("version", dp=False).endswith("ovs-vswitchd.ctl version")
    assert OvsSettings().command("dpctl/flush-conntrack", "zone=0", "a b") == "ovs-appctl dpctl/flush-conntrack zone=0 'a b'"


def test_the_test_space_of_the_zone_is_dumped_and_judged_with_its_translation(appctl):
    drv = driver(appctl)
    sp = nat_space()
    verdict, info = drv.verify(Expected(sp, nat_mode="preserve-ports", nat_address="10.2.2.1"))
    assert verdict.passed and verdict.established_assured == 20, verdict
    assert info["bytes_transferred"] > 20 * 200 and calls(appctl)[-1][2:] == ["dpctl/dump-conntrack", "-m", "zone=7"]
    # unmapped, every reply goes to the DUT's address, not the client's: not a pass
    assert not drv.verify(Expected(sp))[0].passed
    # another zone holds none of them; another server port neither
    assert driver(appctl, zone=3).count_space(sp.servers) == 0
    assert drv.count_space(Servers(first_ip=sp.servers.first_ip, first_port=8081)) == 0
    assert drv.count_space(sp.servers, "ESTABLISHED") == 20 and drv.count_space(sp.servers, "SYN_SENT") == 0
    with pytest.raises(DutCommandError, match="no entry ages"):
        drv.dump_space(sp.servers, lambda e: None, ages=True)


def test_a_clear_repeats_the_partial_flush_until_the_space_reads_back_empty(appctl):
    table = appctl.parent / "table.txt"
    other = [f"tcp,orig=(src=10.1.1.9,dst=10.2.2.100,sport={p},dport=9000),reply=(src=10.2.2.100,dst=10.1.1.9,"
             f"sport=9000,dport={p}),id=0,zone=7,status=0,protoinfo=(state_orig=ESTABLISHED,state_reply=ESTABLISHED,"
             "flags_orig=0,flags_reply=0)" for p in range(30000, 30005)]
    many = [f"tcp,orig=(src=10.1.1.100,dst=10.2.2.100,sport={p},dport=8080),reply=(src=10.2.2.100,dst=10.2.2.1,"
            f"sport=8080,dport={p}),id=0,zone=7,status=0,protoinfo=(state_orig=ESTABLISHED,"
            "state_reply=ESTABLISHED,flags_orig=0,flags_reply=0)" for p in range(20000, 21000)]
    table.write_text("\n".join(many + other) + "\n")
    drv = driver(appctl)
    servers = nat_space(1000).servers
    assert drv.clear(servers, "test") == 1000
    assert drv.count_space(servers) == 0
    assert len(table.read_text().splitlines()) == 5  # another server port's entries stay
    flushes = [c for c in calls(appctl) if c[2] == "dpctl/flush-conntrack"]
    # 1000 -> 500 -> ... -> 3 after a round of 8 calls, read back, then a second round: 16 calls
    assert len(flushes) == 2 * FLUSH_ROUND and flushes[0][3:] == ["zone=7",
                                                                  "ct_nw_dst=10.2.2.100,ct_nw_proto=6,ct_tp_dst=8080"]
    assert drv.clear_measured(servers) == (0, None)  # no delete rate: the flushes are not the delete's time
    # a flush that removes nothing is named, with what is left
    table.write_text("\n".join(many) + "\n")
    (appctl.parent / "stuck").write_text("")
    with pytest.raises(DutCommandError, match="1000 of the test's 1000 entries in zone 7 are still there"):
        drv.clear(servers, "test")


def test_the_probe_s_icmp_entry_is_counted_and_flushed_by_its_whole_tuple(appctl):
    drv = driver(appctl)
    assert drv.icmp_entries("10.1.1.100", "10.2.2.100", delete=True) == 1
    assert calls(appctl)[-1][3:] == ["zone=7", "ct_nw_src=10.1.1.100,ct_nw_dst=10.2.2.100,ct_nw_proto=1,"
                                               "icmp_id=28532,icmp_type=8,icmp_code=0"]
    assert drv.icmp_entries("10.1.1.100", "10.2.2.100") == 0
    assert drv.own_session() is None


def test_dut_ovs_goes_with_kind_ovs_or_auto_only():
    base = ("name: x\ndrones: {d: {host: 127.0.0.1}}\nports:\n  a: {drone: d, port_id: 0, device: {gateway: 10.1.1.1}}\n"
            "  b: {drone: d, port_id: 1, device: {gateway: 10.2.2.1}}\nconnections: {client_ip: 10.1.1.100, "
            "server_ip: 10.2.2.100, server_port: 80, count: 10, first_client_port: 20000}\ntraffic: {rate: 100}\ndut: {host: 192.0.2.1, kind: %s, ovs: {zone: 7}}\n")
    assert load_scenario_text(base % "ovs").dut.ovs.zone == 7
    assert load_scenario_text(base % "auto").dut.ovs.appctl == "ovs-appctl"
    with pytest.raises(Exception, match="dut.ovs is given but dut.kind is conntrack"):
        load_scenario_text(base % "conntrack")
    with pytest.raises(Exception, match="zone"):
        load_scenario_text((base % "ovs").replace("zone: 7", "zone: 70000"))


def test_the_lab_flows_commit_in_the_zone_and_translate_only_with_nat():
    plain, nat = flows(None, "10.2.2.1"), flows("masquerade", "10.2.2.1")
    assert "nat(src=" not in plain and plain.count("ct(commit,zone=7)") == 1
    assert nat.count("ct(commit,zone=7,nat(src=10.2.2.1))") == 1
    assert "nat(src=192.0.2.9)" in flows("snat:192.0.2.9", "10.2.2.1")
    # nothing from the server's side opens a connection: table 2 has no +new rule
    assert not [x for x in plain.splitlines() if x.startswith("table=2") and "+new" in x]
    assert OVS_TIMEOUTS == {"syn_sent": 30, "syn_recv": 30, "established": 86400}


@pytest.mark.parametrize("change", [{"ipv6": True}, {"syn_recv_timeout": 5}, {"pairs": 2}, {"dut_netns": True}])
def test_the_ovs_lab_refuses_kernel_settings(change):
    with pytest.raises(LabError, match="^lab dut ovs: goes without"):
        LabConfig(dut="ovs", **change).validate()


@pytest.mark.parametrize("datapaths, conntrack, found", [
    ("netdev@ovs-netdev", True, "ovs"),  # the userspace datapath tracks, whatever the kernel has
    ("system@ovs-system", True, "conntrack"),  # the kernel datapath: the kernel's table
    ("", False, "procfs"), (None, False, "procfs")])
def test_auto_finds_the_ovs_driver_where_a_netdev_datapath_runs(tmp_path, datapaths, conntrack, found):
    fake = tmp_path / "ovs-appctl"
    fake.write_text("#!/bin/sh\n" + (f"echo {datapaths}\n" if datapaths is not None else "exit 1\n"))
    fake.chmod(0o755)
    tools = tmp_path / "conntrack"
    tools.write_text("#!/bin/sh\n")
    tools.chmod(0o755)
    proc = tmp_path / "nf_conntrack"
    proc.write_text("")
    script = C.detect_script(str(tools) if conntrack else str(tmp_path / "nosuch"),
                             OvsSettings(appctl=str(fake)).command("dpctl/dump-dps", dp=False))
    out = subprocess.run(["sh", "-c", script.replace(C.PROC_TABLE, str(proc))], capture_output=True, text=True)
    assert out.stdout.strip() == f"driver={found}", (script, out.stdout, out.stderr)


def test_the_flush_loop_stays_short_for_many_endpoints():
    from ostinato_tcp.dut.ovs import _endpoint_tuples, flush_script

    servers = Servers(first_ip=int(ipaddress.ip_address("10.2.2.100")), first_port=8000, ip_count=32, port_count=32)
    tuples = _endpoint_tuples(servers)
    assert len(tuples) == 1024 and tuples[0] == "ct_nw_dst=10.2.2.100,ct_nw_proto=6,ct_tp_dst=8000"
    script = flush_script(OvsSettings(), 7, tuples, 8)
    assert script.count("dpctl/flush-conntrack") == 1 and len(script) < 128 * 1024
    six = Servers(first_ip=int(ipaddress.ip_address("::a")), first_port=80, family=6)
    assert _endpoint_tuples(six) == ["ct_ipv6_dst=::a,ct_nw_proto=6,ct_tp_dst=80"]
