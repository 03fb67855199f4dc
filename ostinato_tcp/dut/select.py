"""Choosing the DUT driver of a scenario's ``dut.kind``: ``conntrack``, ``procfs``, or ``auto``
(one command on the DUT says whether conntrack-tools is there, else whether /proc shows the
table)."""

from __future__ import annotations

from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.conntrack import ConntrackDriver
from ostinato_tcp.dut.procfs import ProcfsDriver
from ostinato_tcp.dut.ssh import DutShell, SshTarget
from ostinato_tcp.errors import DutCommandError

DRIVERS = {"conntrack": ConntrackDriver, "procfs": ProcfsDriver}


def open_driver(config, *, accept_new_host_key: bool = False, password: str | None = None) -> ConntrackDriver:
    """Log in to the DUT of a scenario's ``dut`` section (host keys checked) and return the
    driver its ``kind`` names, or the one ``auto`` finds there."""
    shell = DutShell(SshTarget.from_scenario(config, accept_new_host_key=accept_new_host_key,
                                             password=password)).connect()
    kind = getattr(config, "kind", "conntrack")
    chosen = f"dut.kind: {kind}"
    if kind == "auto":
        try:
            res = shell.run([], raw=C.sh_c(C.detect_script(config.conntrack), sudo=config.sudo,
                                           netns=getattr(config, "netns", None)), check=False, timeout=30)
        except Exception:
            shell.close()
            raise
        found = res.stdout.strip().rpartition("driver=")[2].strip()
        if found not in DRIVERS:
            shell.close()
            raise DutCommandError(f"dut.kind: auto: neither {config.conntrack!r} nor a readable {C.PROC_TABLE} on "
                                  f"{shell.where}: install conntrack-tools there, or log in as a user who may "
                                  "read the table (root, or dut.sudo: true)")
        kind = found
        chosen = ("dut.kind: auto: conntrack-tools found" if kind == "conntrack" else
                  f"dut.kind: auto: no {config.conntrack!r} on the DUT, {C.PROC_TABLE} readable")
    driver = DRIVERS[kind](shell, compress=config.compress, conntrack=config.conntrack)
    driver.chosen = chosen
    return driver
