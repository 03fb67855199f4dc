"""Choosing the DUT driver of a scenario's ``dut.kind``: ``conntrack``, ``procfs``, ``ovs``, or
``none`` or ``auto``: ovs where ``dut.ovs`` is given, conntrack where ``dut.conntrack`` names it;
else one command on the DUT: ovs where Open vSwitch lists a ``netdev`` datapath (its userspace
conntrack tracks there), conntrack-tools where found, procfs where only /proc shows the table;
otherwise conntrack, whose health check names what is missing."""

from __future__ import annotations

from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.conntrack import ConntrackDriver
from ostinato_tcp.dut.contract import DutDriver
from ostinato_tcp.dut.none import NoAccessDut
from ostinato_tcp.dut.ovs import OvsDriver, OvsSettings
from ostinato_tcp.dut.procfs import ProcfsDriver
from ostinato_tcp.dut.ssh import DutShell, SshTarget

DRIVERS = {"conntrack": ConntrackDriver, "procfs": ProcfsDriver}  # ovs and none: built apart (other arguments)


def open_driver(config, *, accept_new_host_key: bool = False, password: str | None = None) -> DutDriver:
    """Log in to the DUT of a scenario's ``dut`` section (host keys checked) and return the
    driver its ``kind`` names, or the one ``auto`` finds there."""
    kind = getattr(config, "kind", "conntrack")
    if kind == "none":  # nothing to log into
        none = NoAccessDut(config.host or "the DUT")
        none.chosen = "dut.kind: none"
        return none
    shell = DutShell(SshTarget.from_scenario(config, accept_new_host_key=accept_new_host_key,
                                             password=password)).connect()
    chosen = f"dut.kind: {kind}"
    ovs = OvsSettings.of(config)
    if kind == "auto" and getattr(config, "ovs", None) is not None:
        kind, chosen = "ovs", "dut.kind: auto: dut.ovs names Open vSwitch's conntrack"
    elif kind == "auto" and config.conntrack != C.CONNTRACK:
        kind, chosen = "conntrack", "dut.kind: auto: dut.conntrack names conntrack-tools"
    elif kind == "auto":
        try:
            res = shell.run([], raw=C.sh_c(C.detect_script(config.conntrack, ovs.command("dpctl/dump-dps", dp=False)),
                                           sudo=config.sudo,
                                           netns=getattr(config, "netns", None)), check=False, timeout=30)
        except Exception:
            shell.close()
            raise
        found = res.stdout.strip().rpartition("driver=")[2].strip()
        if found == "procfs":
            kind, chosen = "procfs", f"dut.kind: auto: no {config.conntrack!r} on the DUT, {C.PROC_TABLE} readable"
        elif found == "conntrack":
            kind, chosen = "conntrack", "dut.kind: auto: conntrack-tools found"
        elif found == "ovs":
            kind, chosen = "ovs", ("dut.kind: auto: a netdev datapath runs (Open vSwitch's userspace conntrack; "
                                   "dut.kind: conntrack reads the kernel's table instead)")
        else:  # neither: the conntrack driver's health check names what is missing (the tools, root, sudo)
            kind, chosen = "conntrack", "dut.kind: auto: neither conntrack-tools nor a readable table found"
    if kind == "ovs":
        driver = OvsDriver(shell, compress=config.compress, ovs=ovs)
    else:
        driver = DRIVERS[kind](shell, compress=config.compress, conntrack=config.conntrack)
    driver.chosen = chosen
    return driver
