"""Choosing the DUT driver of a scenario's ``dut.kind``: ``conntrack``, ``procfs``, or ``auto``
(one command on the DUT: conntrack-tools where found or named by ``dut.conntrack``, procfs where
only /proc shows the table; otherwise conntrack, whose health check names what is missing)."""

from __future__ import annotations

from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.conntrack import ConntrackDriver
from ostinato_tcp.dut.procfs import ProcfsDriver
from ostinato_tcp.dut.ssh import DutShell, SshTarget

DRIVERS = {"conntrack": ConntrackDriver, "procfs": ProcfsDriver}


def open_driver(config, *, accept_new_host_key: bool = False, password: str | None = None) -> ConntrackDriver:
    """Log in to the DUT of a scenario's ``dut`` section (host keys checked) and return the
    driver its ``kind`` names, or the one ``auto`` finds there."""
    shell = DutShell(SshTarget.from_scenario(config, accept_new_host_key=accept_new_host_key,
                                             password=password)).connect()
    kind = getattr(config, "kind", "conntrack")
    chosen = f"dut.kind: {kind}"
    if kind == "auto" and config.conntrack != C.CONNTRACK:
        kind, chosen = "conntrack", "dut.kind: auto: dut.conntrack names conntrack-tools"
    elif kind == "auto":
        try:
            res = shell.run([], raw=C.sh_c(C.detect_script(config.conntrack), sudo=config.sudo,
                                           netns=getattr(config, "netns", None)), check=False, timeout=30)
        except Exception:
            shell.close()
            raise
        found = res.stdout.strip().rpartition("driver=")[2].strip()
        if found == "procfs":
            kind, chosen = "procfs", f"dut.kind: auto: no {config.conntrack!r} on the DUT, {C.PROC_TABLE} readable"
        elif found == "conntrack":
            kind, chosen = "conntrack", "dut.kind: auto: conntrack-tools found"
        else:  # neither: the conntrack driver's health check names what is missing (the tools, root, sudo)
            kind, chosen = "conntrack", "dut.kind: auto: neither conntrack-tools nor a readable table found"
    driver = DRIVERS[kind](shell, compress=config.compress, conntrack=config.conntrack)
    driver.chosen = chosen
    return driver
