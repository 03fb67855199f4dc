"""The DUT side: SSH, conntrack commands, dump parsing, verdict and diagnosis, capacity."""

from ostinato_tcp.dut.conntrack import CountPoller, DutSession, clear_after, plan_facts, read_after_traffic
from ostinato_tcp.dut.entries import Entry, ParseStats, parse_line, parse_lines, parse_text
from ostinato_tcp.domain.facts import DutFacts, Health, parse_health
from ostinato_tcp.dut.ssh import DutShell, SshTarget
from ostinato_tcp.domain.diagnosis import diagnose
from ostinato_tcp.domain.verdict import CATEGORY_NAMES, Expected, Judge, Verdict, judge_text

__all__ = ["CATEGORY_NAMES", "CountPoller", "DutFacts", "DutSession", "DutShell", "Entry", "Expected", "Health",
           "Judge", "ParseStats", "SshTarget", "Verdict", "diagnose", "judge_text", "parse_health", "parse_line",
           "parse_lines", "parse_text", "plan_facts", "read_after_traffic", "clear_after"]
