"""Server ranges: several server addresses x ports, spread over each client IP's connections."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from ostinato_tcp.dut import commands as C
from ostinato_tcp.domain.verdict import Expected
from ostinato_tcp.dut.reader import judge_text
from ostinato_tcp.errors import PlanError, ScenarioError
from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.streams import client_program, server_devices, server_program, server_runs
from ostinato_tcp.domain.tuples import ConnectionSpace, Servers

from .helpers import scenario

S0 = int(ipaddress.IPv4Address("10.2.2.100"))


def space(total, batch, ips=1, sips=4, sports=3, port_step=1, ip_step=1, blocks=True):
    srv = Servers(first_ip=S0, first_port=8080, ip_count=sips, ip_step=ip_step, port_count=sports,
                  port_step=port_step)
    return ConnectionSpace.layout(client_ip="10.1.1.100", client_ips=ips, first_port=20000, step=1,
                                  server_ip="10.2.2.100", server_port=8080, total=total, batch_size=batch,
                                  blocks=blocks, servers=srv)


def sent(sp):
    """Every packet the streams send, in order, as Drone counts the variable fields."""
    out = []
    for b in sp.batches():
        for r in sp.stream_runs(b):
            for k in range(r.packets):
                out.append((r.ip_base + k % r.ip_count, r.port_base + (k % r.port_count) * r.port_step,
                            sp.server_ip if r.server_ip is None else r.server_ip,
                            sp.server_port if r.server_port is None else r.server_port))
    return out


@pytest.mark.parametrize("total,batch,ips,sips,sports", [
    (1000, 1000, 1, 4, 3), (1000, 300, 3, 2, 5), (77, 20, 2, 3, 3), (5, 5, 1, 4, 3), (12000, 5000, "auto", 4, 3)])
def test_streams_and_space_agree_and_tuples_are_unique(total, batch, ips, sips, sports):
    sp = space(total, batch, ips, sips, sports, port_step=7, ip_step=2)
    sp.prove_unique()
    packets = sent(sp)
    assert len(packets) == total == len(set(packets))
    index_of = sp.indexer()
    for n, tup in enumerate(packets):
        assert sp.client_of(n) + sp.server_of(n) == tup
        assert index_of(*tup[:2]) == n
    spread = Counter(sp.endpoint_of(n) for n in range(total))
    assert len(spread) == min(sips * sports, total)
    assert max(spread.values()) - min(spread.values()) <= sp.ip_count * sp.batch_count  # even, up to rounding


def test_endpoints_need_the_blocks_layout():
    with pytest.raises(PlanError, match="blocks layout"):
        space(100, 100, blocks=False)


def test_plan_uses_blocks_and_counts_streams():
    sc = scenario(**{"connections.server_ips": 4, "connections.server_ports": 3, "traffic.drone_build": "resolve"})
    plan = make_plan(sc, None)
    assert plan.space.blocks and plan.space.endpoint_count == 12
    assert plan.streams_per_leg == 12
    text = "\n".join(plan.describe())
    assert "4 addresses 10.2.2.100-10.2.2.103 x 3 ports 8080-8082 (12 endpoints)" in text
    assert plan.to_dict()["server_endpoints"] == 12


def test_programs_send_to_every_endpoint_and_devices_cover_the_servers():
    sc = scenario(**{"connections.server_ips": 4, "connections.server_ip_step": 2, "connections.server_ports": 3,
                     "connections.count": 120})
    plan = make_plan(sc, None)
    runs = plan.space.stream_runs(plan.batches[0])
    a, b = client_program(sc, runs), server_program(sc, server_runs(runs))
    assert {(s.server_ip, s.server_port) for s in a} == set(plan.space.servers.endpoints())
    syns = a[:len(runs)]  # the SYN streams come first, then the ACKs
    assert len(b) == len(runs) == 12
    assert [(s.server_ip, s.server_port, s.client_port, s.count) for s in b] == \
           [(s.server_ip, s.server_port, s.client_port, s.count) for s in syns]
    assert all(s.flags == 0x02 for s in syns) and all(s.flags == 0x12 for s in b)
    dev = server_devices(sc)
    assert dev.count == 4 and dev.ips() == [S0, S0 + 2, S0 + 4, S0 + 6]


def _line(c, cport, s, sport, rs=None, rsport=None):
    return (f"tcp      6 431999 ESTABLISHED src={c} dst={s} sport={cport} dport={sport} src={rs or s} dst={c} "
            f"sport={rsport or sport} dport={cport} [ASSURED] mark=0 use=1\n")


def test_verdict_judges_each_connection_against_its_own_server():
    sp = space(600, 600, 1, 4, 3)
    exp = Expected(space=sp)
    ip = lambda v: str(ipaddress.IPv4Address(v))  # noqa: E731
    lines = []
    for n in range(600):
        c, cport = sp.client_of(n)
        s, sport = sp.server_of(n)
        lines.append(_line(ip(c), cport, ip(s), sport))
    v = judge_text(exp, "".join(lines))
    assert v.passed and v.established_assured == 600
    # connection 5's client pair to another server is not connection 5; a reply from another server mismatches
    c5, p5 = sp.client_of(5)
    s5, sp5 = sp.server_of(5)
    wrong = next(e for e in sp.servers.endpoints() if e != (s5, sp5))
    lines[5] = _line(ip(c5), p5, ip(wrong[0]), wrong[1])
    c6, p6 = sp.client_of(6)
    s6, sp6 = sp.server_of(6)
    lines[6] = _line(ip(c6), p6, ip(s6), sp6, rs=ip(wrong[0]), rsport=wrong[1])
    v = judge_text(exp, "".join(lines))
    assert v.established_assured == 598
    assert v.counts["missing"] == 1 and v.unexpected == 1 and v.counts["reply_mismatch"] == 1
    assert v.connections_in("missing") == [5] and v.connections_in("reply_mismatch") == [6]


def test_dump_filter_covers_the_servers_and_clear_is_exact_per_endpoint():
    srv = Servers(first_ip=S0, first_port=8080, ip_count=4, port_count=3)
    assert C.test_space_filter(srv) == ["-p", "tcp", "--orig-dst", "10.2.2.100", "--mask-dst", "255.255.255.252"]
    one_port = Servers(first_ip=S0, first_port=8080, ip_count=2)
    assert C.test_space_filter(one_port)[-2:] == ["--orig-port-dst", "8080"]
    argvs = C.clear_test_argvs(srv)
    assert len(argvs) == 12 and argvs[0] == ["conntrack", "-D", "-p", "tcp", "--orig-dst", "10.2.2.100",
                                             "--orig-port-dst", "8080"]
    assert argvs[-1][-3:] == ["10.2.2.103", "--orig-port-dst", "8082"]
    assert C.quiet_script(argvs[:2]).count(">/dev/null") == 2


@pytest.mark.parametrize("change,field,words", [
    ({"connections.server_ips": 0}, "connections.server_ips", "greater than or equal to 1"),
    ({"connections.server_ports": 2000}, "connections.server_ports", "less than or equal to 1024"),
    ({"connections.server_ips": 64, "connections.server_ports": 64}, "connections.server_ports", "4096 endpoints"),
    ({"connections.server_ports": 3, "connections.server_port_step": 30000}, "connections.server_ports",
     "run past 65535"),
    ({"connections.server_ips": 200}, "connections.server_ips", "not a host address of port B's subnet"),
    ({"connections.server_ips": 2, "nat.mode": "learn"}, "nat.mode", "not supported"),
])
def test_bad_server_ranges_name_the_field(change, field, words):
    with pytest.raises(ScenarioError) as e:
        scenario(**change)
    assert str(e.value).startswith(field) or f" {field}" in str(e.value)
    assert words in str(e.value)
