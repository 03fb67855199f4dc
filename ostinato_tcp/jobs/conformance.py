"""``ostinato-tcp conformance``: the catalogue of handshakes that must not establish
(:mod:`ostinato_tcp.domain.conformance`), each case over N connections, one after another.

Each case is a run of its own (:class:`~ostinato_tcp.run.conformance.CaseRunner`): the test's
entries are cleared and the space read back empty before its first packet, the dump after it
is judged with the run's freshness bound, and the entries go afterwards. Nothing of one case
can count for another. The DUT's settings the outcomes depend on
(``nf_conntrack_tcp_loose``, ``nf_conntrack_tcp_be_liberal``) are read once before the first
case and again after the last: a setting that changed meanwhile makes the report an error.

Exit codes: 0 every case behaved as expected (``pass``, or ``explained`` by a setting the DUT
has, unless ``--strict``); 1 a case failed; 2 bad input; 3 a fault.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ostinato_tcp.domain.conformance import LIBERAL, LOOSE, Case, CaseVerdict, forwarding_notes, judge_case
from ostinato_tcp.errors import OstinatoTcpError, UsageError
from ostinato_tcp.jobs._outcome import JobOutcome
from ostinato_tcp.run.conformance import CaseRunner
from ostinato_tcp.run.connect import Openers
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.run.result import RunEvents

DEFAULT_COUNT = 1000


@dataclass
class ConformanceReport(JobOutcome):
    scenario_name: str
    count: int
    settings: dict[str, int | None] = field(default_factory=dict)
    kernel: str | None = None
    other_settings: dict[str, int | None] = field(default_factory=dict)  # read and shown, no outcome depends on them
    cases: list[CaseVerdict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    exception: BaseException | None = None
    strict: bool = False  # --strict: a case explained by a setting fails too

    def passed_case(self, v: CaseVerdict) -> bool:
        return v.word == "pass" or (v.word == "explained" and not self.strict)

    @property
    def passed(self) -> bool:
        """Every case behaved as expected."""
        return bool(self.cases) and all(self.passed_case(v) for v in self.cases)

    def to_dict(self) -> dict:
        return {"scenario_name": self.scenario_name, "connections_per_case": self.count, "verdict": self.word,
                "strict": self.strict, "dut_settings": dict(self.settings), "other_settings": dict(self.other_settings),
                "kernel": self.kernel, "cases": [v.to_dict() for v in self.cases],
                "seconds": round(self.seconds, 3), "error": self.error}


def _settings(health) -> dict[str, int | None]:
    return {LOOSE: health.tcp_loose, LIBERAL: health.tcp_be_liberal}


def check_scenario(sc) -> None:
    """What the catalogue cannot run on, refused before anything is sent (field and value named)."""
    if sc.dut.kind == "none":
        raise UsageError("dut.kind: none: conformance proves each connection's state from the DUT's table, and "
                         "dut.kind none reads none")
    if sc.pair_count > 1:
        raise UsageError(f"ports: conformance runs over one port pair (this scenario lists {sc.pair_count})")
    if sc.nat.mode != "none":
        raise UsageError(f"nat.mode: {sc.nat.mode}: conformance crafts both sides' numbers for untranslated "
                         "tuples; run it on a DUT path without NAT (nat.mode: none)")


def case_scenario(sc, count: int):
    """The scenario a case runs: ``count`` connections, the table as the proof, no hold or tear-down."""
    return sc.with_changes({"connections.count": count, "expect.proof": ["table"], "expect.hold": 0,
                            "traffic.teardown": "none"})


def run_conformance(sc, cases: list[Case], count: int = DEFAULT_COUNT, opts: RunOptions | None = None,
                    events: RunEvents | None = None, *, openers: Openers | None = None,
                    strict: bool = False, capture: bool = True) -> ConformanceReport:
    opts, openers, events = opts or RunOptions(), openers or Openers(), events or RunEvents()
    check_scenario(sc)
    if count < 1:
        raise UsageError(f"--count {count}: must be at least 1")
    csc = case_scenario(sc, count)
    report = ConformanceReport(scenario_name=sc.name, count=count, strict=strict)
    t0 = time.monotonic()
    try:
        with openers.open_dut(csc, opts) as dut:
            h = dut.health()
        report.settings, report.kernel = _settings(h), h.kernel
        report.other_settings = {"nf_conntrack_tcp_max_retrans": h.tcp_max_retrans,
                                 "nf_conntrack_tcp_ignore_invalid_rst": h.tcp_ignore_invalid_rst}
        for i, case in enumerate(cases):
            events.phase("case", f"case {i + 1}/{len(cases)}: {case.name} ({case.title})")
            runner = CaseRunner(csc, case, opts, events, openers=openers, capture=capture)
            r = runner.run()
            if r.exception is not None:
                raise r.exception
            now = _settings(r.health_after) if r.health_after else report.settings
            if now != report.settings:
                raise OstinatoTcpError(f"the DUT's settings changed during the catalogue (before: {report.settings}; "
                                       f"at case {case.name}: {now}): the outcomes expected no longer hold")
            v = judge_case(case, report.settings, runner.outcomes, r.expected.space.total,
                           r.counter_deltas.get("invalid"))
            v.seconds, v.steps, v.forwarded_note = r.timings.get("total", 0.0), runner.steps_sent, runner.forwarded_note
            v.forwarding = forwarding_notes(case, v.steps, v.connections, v.setting)
            events.phase("case", f"{case.name}: {v.word} ({v.as_expected:,}/{v.connections:,} {v.expected})")
            report.cases.append(v)
    except OstinatoTcpError as exc:
        report.error, report.exception = str(exc), exc
    finally:
        report.seconds = time.monotonic() - t0
    return report
