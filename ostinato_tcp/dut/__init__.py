"""The DUT side: SSH, conntrack commands, dump parsing, verdict and diagnosis, capacity."""

from ._dut import CountPoller, DutSession, clear_after, plan_facts, read_after_traffic
from .conntrack import Entry, ParseStats, parse_line, parse_lines, parse_text
from .facts import DutFacts, Health, parse_health
from .ssh import DutShell, SshTarget
from .diagnosis import diagnose
from .verdict import CATEGORY_NAMES, Expected, Judge, Verdict, judge_text

__all__ = ["CATEGORY_NAMES", "CountPoller", "DutFacts", "DutSession", "DutShell", "Entry", "Expected", "Health",
           "Judge", "ParseStats", "SshTarget", "Verdict", "diagnose", "judge_text", "parse_health", "parse_line",
           "parse_lines", "parse_text", "plan_facts", "read_after_traffic", "clear_after"]
