"""The built-in lab's links: the test wires from the traffic generators to the DUT (a pair per
port pair), the DUT's addresses on them, and the management links from the root namespace."""

from __future__ import annotations

from ostinato_tcp.lab._config import DUT_A, DUT_B, JMP_DUT, JMP_SIDE, MGMT, PORT_A, PORT_B, LabConfig
from ostinato_tcp.lab._sys import in_ns, run, veth


def ensure_links(c: LabConfig) -> None:
    """The lab's veth links, addresses and routes (idempotent)."""
    tg_b = c.ns_tg2 if c.two_drones else c.ns_tg
    fwd = c.ns_fwd
    # Test wires: port A/B of the traffic generator(s) to the DUT.
    veth(DUT_A, fwd, PORT_A, c.ns_tg)
    veth(DUT_B, fwd, PORT_B, tg_b)
    for ns, ifname in ((c.ns_tg, PORT_A), (tg_b, PORT_B), (fwd, DUT_A), (fwd, DUT_B)):
        in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1", check=False)
        in_ns(ns, "ip", "link", "set", ifname, "up")
    for i in range(2, c.pairs + 1):  # more port pairs, each on links and subnets of its own
        links, tg = c.pair_links(i), c.ns_pair(i)
        veth(links["dut_a"], fwd, links["port_a"], tg)
        veth(links["dut_b"], fwd, links["port_b"], tg)
        for ns, ifname in ((tg, links["port_a"]), (tg, links["port_b"]), (fwd, links["dut_a"]),
                           (fwd, links["dut_b"])):
            in_ns(ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1", check=False)
            in_ns(ns, "ip", "link", "set", ifname, "up")
    for i in range(1, c.pairs + 1):
        links = c.pair_links(i)
        for side in ("a", "b"):
            dev, gw = links[f"dut_{side}"], links["client_gateway" if side == "a" else "server_gateway"]
            in_ns(fwd, "ip", "addr", "replace", gw, "dev", dev)
            if not c.ipv6:  # no IPv6 frame on the wires (turning it off also drops the addresses)
                in_ns(fwd, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
                continue
            # IPv6 on the DUT's side of the test wires only (no DAD delay); the traffic
            # generators' kernels keep IPv6 off, Drone's devices answer for themselves
            gw6 = links["client_gateway6" if side == "a" else "server_gateway6"]
            in_ns(fwd, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=0", f"net.ipv6.conf.{dev}.accept_dad=0")
            in_ns(fwd, "ip", "-6", "addr", "replace", gw6, "dev", dev, "nodad")
    # Management links from the root namespace.
    mgmt = [(0, c.ns_tg, "tg"), (1, c.ns_dut, "dut")]
    if c.two_drones:
        mgmt.append((2, c.ns_tg2, "tg2"))
    if c.drone_per_pair:
        mgmt += [(4 + i, c.ns_pair(i), f"p{i}") for i in range(2, c.pairs + 1)]
    # Nothing sent to an unused address of the management net may leave the host by the
    # default route: the net is unreachable from the root namespace, except the /30s above.
    run(["ip", "route", "replace", "unreachable", c.mgmt_net, "metric", "4242"])
    if c.jump_host:
        mgmt.append((3, c.ns_jmp, "jmp"))
        # The bastion's own link to the DUT: not routed from the root namespace.
        jmp_addr, dut_addr = c.mgmt_pair(4)
        veth(JMP_SIDE, c.ns_jmp, JMP_DUT, c.ns_dut)
        in_ns(c.ns_jmp, "ip", "addr", "replace", jmp_addr, "dev", JMP_SIDE)
        in_ns(c.ns_dut, "ip", "addr", "replace", dut_addr, "dev", JMP_DUT)
        in_ns(c.ns_jmp, "ip", "link", "set", JMP_SIDE, "up")
        in_ns(c.ns_dut, "ip", "link", "set", JMP_DUT, "up")
    for index, ns, short in mgmt:
        root_if = f"{c.prefix}-{short}-m"
        root_addr, ns_addr = c.mgmt_pair(index)
        veth(root_if, None, MGMT, ns)
        run(["ip", "addr", "replace", root_addr, "dev", root_if])
        run(["ip", "link", "set", root_if, "up"])
        in_ns(ns, "ip", "addr", "replace", ns_addr, "dev", MGMT)
        in_ns(ns, "ip", "link", "set", MGMT, "up")
