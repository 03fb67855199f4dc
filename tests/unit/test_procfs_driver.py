"""The procfs driver (/proc/net/nf_conntrack over SSH, read only) against output captured from
the lab's DUT: the commands it builds are run here by the real sh and grep over those files."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from ostinato_tcp.domain.tuples import Servers
from ostinato_tcp.domain.verdict import Expected
from ostinato_tcp.dut import commands as C
from ostinato_tcp.dut.contract import refuse_deletes
from ostinato_tcp.dut.entries import parse_proc_stats, parse_stats_output
from ostinato_tcp.dut.procfs import ProcfsDriver
from ostinato_tcp.errors import DutCommandError, UsageError

from .test_verdict import space

PROC = Path(__file__).resolve().parents[1] / "fixtures" / "conntrack" / "proc"


class LocalShell:
    """Runs the driver's shell text on this machine, /proc's files replaced by captured ones."""

    where = "root@192.0.2.1:22"
    user = "root"

    def __init__(self, table: Path, stats: Path | None = None, sysctls: str = ""):
        self.table, self.stats, self.sysctls = table, stats, sysctls
        self.scripts: list[str] = []

        class _T:
            sudo = False
        self.target = _T()

    def session_tuple(self):
        return ("198.18.0.5", 34570, "198.18.0.6", 22)

    def _text(self, raw: str) -> str:
        self.scripts.append(raw)
        text = raw.replace(C.PROC_TABLE, str(self.table))
        if self.stats is not None:
            text = text.replace(C.PROC_STATS, str(self.stats))
        return text.replace(C.SYSCTL_DIR, self.sysctls or C.SYSCTL_DIR)

    def stream(self, argv, on_chunk, *, timeout=None, sudo=None, raw=None, chunk_size=1 << 20):
        p = subprocess.run(self._text(raw), shell=True, capture_output=True)
        for i in range(0, len(p.stdout), 100):
            on_chunk(p.stdout[i:i + 100])
        return p.returncode, p.stderr.decode()

    def run(self, argv, *, timeout=None, check=True, sudo=None, ok_codes=(0,), max_bytes=0, raw=None):
        p = subprocess.run(self._text(raw), shell=True, capture_output=True, text=True)
        if check and p.returncode not in ok_codes:
            raise DutCommandError(f"exit {p.returncode}: {p.stderr}")

        class R:
            rc, stdout, stderr = p.returncode, p.stdout, p.stderr
        return R()


def test_proc_statistics_give_the_counters_conntrack_S_gives():
    # read one after the other on the same DUT: the same counters, by the same names
    proc = parse_proc_stats((PROC / "stat.txt").read_text())
    tools = parse_stats_output((PROC / "stat-conntrack-S.txt").read_text())
    assert proc["invalid"] == tools["invalid"] == 34090 + 27910
    assert set(proc) == set(tools), (set(proc) ^ set(tools))
    assert proc == tools
    assert parse_proc_stats("not a table\n") == {}


def test_the_test_space_is_read_from_proc_with_ages_and_judged():
    shell = LocalShell(PROC / "lab-after-run.txt")
    drv = ProcfsDriver(shell, compress="off")
    expected = Expected(space(20))
    fresh = {"timestamps": True, "started_at": time.monotonic() - 5}
    verdict, info = drv.verify(expected, fresh=fresh)
    assert verdict.passed and verdict.established_assured == 20, verdict
    assert verdict.unexpected == 0  # the SSH session (port 22) is not in the grep's space
    assert info["bytes_transferred"] > 20 * 150
    # the entries are 2 s old in the capture: a run that began 1 s ago did not make them
    verdict, _ = drv.verify(Expected(space(20)), fresh={"timestamps": True, "started_at": time.monotonic()})
    assert not verdict.passed


def test_a_state_filter_and_a_count_run_on_the_dut_side():
    shell = LocalShell(PROC / "lab-after-run.txt")
    drv = ProcfsDriver(shell, compress="off")
    servers = space(20).servers
    assert drv.count_space(servers) == 20
    assert drv.count_space(servers, "ESTABLISHED") == 20
    assert drv.count_space(servers, "SYN_SENT") == 0  # grep's 'no match' is an answer, not an error
    other = Servers(first_ip=servers.first_ip, first_port=8081)
    assert drv.count_space(other) == 0
    assert drv.icmp_entries("10.1.1.52", "10.2.2.50") == 0
    assert len([s for s in shell.scripts if "grep -c -E" in s]) == 5


def test_the_pattern_takes_only_the_servers_endpoints_and_is_quoted():
    pat = C.proc_space_pattern(("10.2.2.100", 8080))
    assert r"dst=(10\.2\.2\.100)" in pat and "dport=(8080) " in pat
    assert C.proc_space_pattern(("10.2.2.100", 8080), "SYN_SENT").count("SYN_SENT") == 1
    assert "[A-Z_]+" in C.proc_space_pattern(("10.2.2.100", 8080), "x; rm -rf /")  # not a state: ignored
    with pytest.raises(ValueError):
        C.proc_space_pattern(("10.2.2.100; reboot", 8080))


def test_health_reads_sysctls_and_proc_statistics(tmp_path):
    sysctls = tmp_path / "netfilter"
    sysctls.mkdir()
    for name, value in {"nf_conntrack_count": 21, "nf_conntrack_max": 262144, "nf_conntrack_buckets": 65536,
                        "nf_conntrack_timestamp": 1}.items():
        (sysctls / name).write_text(f"{value}\n")
    drv = ProcfsDriver(LocalShell(PROC / "lab-after-run.txt", PROC / "stat.txt", str(sysctls)), compress="off")
    h = drv.health()
    assert (h.count, h.max, h.buckets, h.timestamp) == (21, 262144, 65536, 1)
    assert h.counters["invalid"] == 62000
    missing = ProcfsDriver(LocalShell(tmp_path / "nosuch", PROC / "stat.txt", str(sysctls)), compress="off")
    with pytest.raises(DutCommandError, match="not readable"):
        missing.health()


def test_a_read_only_driver_refuses_a_scenario_that_deletes():
    class Sc:
        class dut:
            clear, clear_after = "test", "none"
    drv = ProcfsDriver(LocalShell(PROC / "lab-after-run.txt"), compress="off")
    drv.chosen = "dut.kind: auto: no 'conntrack' on the DUT, /proc/net/nf_conntrack readable"
    with pytest.raises(UsageError, match=r"^dut.clear: test: .*procfs"):
        refuse_deletes(drv, Sc)
    Sc.dut.clear, Sc.dut.clear_after = "none", "test"
    with pytest.raises(UsageError, match=r"^dut.clear_after: test"):
        refuse_deletes(drv, Sc)
    Sc.dut.clear_after = "none"
    refuse_deletes(drv, Sc)
    assert drv.clear(space(1).servers, "none", also=space(1).servers) == 0
    with pytest.raises(UsageError):
        drv.clear(space(1).servers, "test")
