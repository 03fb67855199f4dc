"""The DUT object over a scripted shell: what it asks the DUT and how it reads the answers."""

from __future__ import annotations

from ostinato_tcp.dut import DutSession
from ostinato_tcp.dut.fake import FakeDut
from ostinato_tcp.domain.verdict import Expected

from .test_verdict import line, space


class ScriptedShell:
    """Answers every streamed command with ``dump``; reports ``session`` as its own tuple."""

    where = "root@192.0.2.1:22"
    user = "root"

    def __init__(self, dump: str, session=None):
        self.dump, self.session = dump.encode(), session
        self.commands: list = []

        class _T:
            sudo = False
        self.target = _T()

    def session_tuple(self):
        return self.session

    def stream(self, argv, on_chunk, *, timeout=None, sudo=None, raw=None, chunk_size=1 << 20):
        self.commands.append(raw or argv)
        for i in range(0, len(self.dump), 50):  # in pieces, as SSH delivers it
            on_chunk(self.dump[i:i + 50])
        return 0, "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.\n"


def test_verify_excludes_the_ssh_session_it_reads_through():
    # The DUT's own SSH session falls inside the test's address space here (the controller
    # talks from the test server's address and port): it must not count as unexpected.
    session = ("10.2.2.100", 8080, "10.1.1.1", 22)
    ssh_entry = ("tcp      6 431999 ESTABLISHED src=10.2.2.100 dst=10.1.1.1 sport=8080 dport=22 src=10.1.1.1 "
                 "dst=10.2.2.100 sport=22 dport=8080 [ASSURED] mark=0 use=1\n")
    shell = ScriptedShell(line("10.1.1.100", 23420) + ssh_entry, session=session)
    verdict, info = DutSession(shell, compress="off").verify(Expected(space(1)))
    assert verdict.passed and verdict.unexpected == 0
    assert info["entries_shown"] == 2
    # the same dump read through a session with another tuple: the entry is someone else's
    shell = ScriptedShell(line("10.1.1.100", 23420) + ssh_entry, session=("192.0.2.9", 40000, "192.0.2.1", 22))
    verdict, _ = DutSession(shell, compress="off").verify(Expected(space(1)))
    assert verdict.unexpected == 1


class _TimedClear(FakeDut):
    """A DUT whose 'conntrack -D' takes ``per_entry`` seconds per entry on top of ``startup``."""

    def __init__(self, entries: int, per_entry: float, startup: float):
        super().__init__()
        self.entries, self.per_entry, self.startup = entries, per_entry, startup

    def clear(self, servers, mode, *, also=None):
        import time

        n, self.entries = self.entries, 0
        time.sleep(self.startup + n * self.per_entry)
        return n


def test_delete_rate_subtracts_the_empty_delete_and_is_absent_when_unresolved():
    from ostinato_tcp.run.dut_phases import clear_after

    from .helpers import scenario

    sc = scenario()
    n, note, rate = clear_after(_TimedClear(1000, 0.0003, 0.05), sc, keep=False, warnings=[])
    assert n == 1000 and "1000 removed" in note
    # 0.05 + 0.3 s for the deletes, 0.05 s for the empty twin: about 1000 / 0.3 s, bound 0.05 s
    assert 0.27 < rate.seconds < 0.4 and 0.04 < rate.bound < 0.1 and 2500 < rate.value < 3700
    n, note, rate = clear_after(_TimedClear(10, 0.0, 0.05), sc, keep=False, warnings=[])
    assert n == 10 and rate is None
    assert clear_after(_TimedClear(10, 0.0, 0.0), sc, keep=True, warnings=[])[2] is None


def test_host_and_port_texts_take_bracketed_ipv6():
    import pytest

    from ostinato_tcp.dut.ssh import _proxy_jump
    from ostinato_tcp.errors import SshError
    from ostinato_tcp.ground.addr import split_host_port

    assert split_host_port("[fd00::1]:2222", 22) == ("fd00::1", 2222)
    assert split_host_port("[fd00::1]", 22) == ("fd00::1", 22)
    assert split_host_port("fd00::1", 7878) == ("fd00::1", 7878)
    assert split_host_port("drone.lab:7879", 7878) == ("drone.lab", 7879)
    for bad in ("[fd00::1", "[fd00::1]x", "host:0", "host:http", "[]:22"):
        with pytest.raises(ValueError):
            split_host_port(bad, 22)
    hops = _proxy_jump("ops@[fd00::9]:2200,bastion")
    assert [(h.user, h.host, h.port) for h in hops] == [("ops", "fd00::9", 2200), (None, "bastion", 22)]
    with pytest.raises(SshError, match=r"ProxyJump\[0\]"):
        _proxy_jump("[fd00::9:22")
