"""The DUT: a declared contract (:class:`DutDriver`), the conntrack-tools driver over SSH, the
parsing of its output into entries, and an in-memory fake for unit tests (:mod:`.fake`)."""

from ostinato_tcp.dut.conntrack import ConntrackDriver, DutSession
from ostinato_tcp.dut.contract import DutDriver, EntrySink
from ostinato_tcp.dut.entries import Entry, parse_line, parse_lines, parse_text
from ostinato_tcp.dut.health import parse_health
from ostinato_tcp.dut.reader import ConntrackReader, EntryReader, judge_text
from ostinato_tcp.dut.ssh import DutShell, SshTarget

__all__ = ["ConntrackDriver", "ConntrackReader", "DutDriver", "DutSession", "DutShell", "Entry", "EntryReader",
           "EntrySink", "SshTarget", "judge_text", "parse_health", "parse_line", "parse_lines", "parse_text"]
