"""``ostinato-tcp verify``: judge the DUT's table now, or a saved dump, without traffic."""

from __future__ import annotations

from dataclasses import dataclass

from ostinato_tcp.domain.diagnosis import diagnose
from ostinato_tcp.domain.facts import DutFacts, Health
from ostinato_tcp.domain.verdict import Expected, Judge, Verdict
from ostinato_tcp.dut.reader import ConntrackReader
from ostinato_tcp.run.connect import Openers
from ostinato_tcp.run.options import RunOptions
from ostinato_tcp.domain.plan import Plan, make_plan
from ostinato_tcp.scenario import Scenario
from ostinato_tcp.domain.tuples import ConnectionSpace
from ostinato_tcp.errors import UsageError


@dataclass
class VerifyOutcome:
    scenario: Scenario
    verdict: Verdict
    expected: Expected
    diagnosis: list[str]
    source: str
    health: Health | None = None
    dump: dict | None = None

    def lines(self) -> list[str]:
        v, n = self.verdict, self.scenario.connections.count
        label = "ESTABLISHED+ASSURED" if self.scenario.expect.assured else "ESTABLISHED"
        out = [f"{'PASS' if v.passed else 'FAIL'}  {v.established_assured}/{n} {label}  "
               f"({self.scenario.name}, {self.source})"]
        out.append("  states: " + (", ".join(f"{k} {c}" for k, c in v.states.items()) or "none"))
        out.append(f"  entries read: {v.parse.entries}" + (f", lines not understood: {v.parse.unknown}"
                                                          if v.parse.unknown else ""))
        if self.health is not None:
            h = self.health
            out.append(f"  DUT table: {h.count}/{h.max} entries, buckets {h.buckets}, tcp_loose {h.tcp_loose}, "
                       f"SYN_SENT/SYN_RECV timeouts {h.syn_sent_timeout}/{h.syn_recv_timeout} s")
        for d in self.diagnosis:
            out.append(f"  diagnosis: {d}")
        return out

    def to_dict(self) -> dict:
        v = self.verdict
        return {"scenario_name": self.scenario.name, "source": self.source,
                "verdict": "pass" if v.passed else "fail", "expected": self.scenario.connections.count,
                "established_assured": v.established_assured, "categories": v.counts, "states": v.states,
                "unexpected_entries": v.unexpected, "unknown_dump_lines": v.parse.unknown,
                "diagnosis": self.diagnosis, "dut": self.health.to_dict() if self.health else None,
                "dump": self.dump}


def _plan(sc: Scenario, facts: DutFacts | None, batch_size: int | None) -> Plan:
    plan = make_plan(sc, facts, force=True)
    if batch_size is not None and batch_size != plan.space.batch_size:
        c = sc.connections
        plan.space = ConnectionSpace.layout(client_ip=c.client_ip, client_ips=c.client_ips,
                                            first_port=c.first_client_port, step=c.step, server_ip=c.server_ip,
                                            server_port=c.server_port, total=c.count, batch_size=batch_size,
                                            blocks=plan.space.blocks, servers=plan.space.servers)
    return plan


def verify_live(sc: Scenario, opts: RunOptions | None = None, *, batch_size: int | None = None,
                openers: Openers | None = None) -> VerifyOutcome:
    """Judge the DUT's table now against ``sc``, sending nothing."""
    if sc.dut.kind == "none":
        raise UsageError("dut.kind: none: verify judges the DUT's table, and dut.kind none reads none")
    with (openers or Openers()).open_dut(sc, opts or RunOptions()) as dut:
        health = dut.health()
        plan = _plan(sc, health.facts(f"read from {dut.where}"), batch_size)
        exp = plan.expected()
        verdict, info = dut.verify(exp)
        where = dut.where
    diag = diagnose(verdict, exp, tcp_loose=health.tcp_loose)
    return VerifyOutcome(sc, verdict, exp, diag, f"DUT {where}", health=health, dump=info)


def verify_dump_file(sc: Scenario, path: str, *, batch_size: int | None = None) -> VerifyOutcome:
    plan = _plan(sc, None, batch_size)
    exp = plan.expected()
    reader = ConntrackReader(Judge(exp))
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            reader.feed(chunk)
    verdict = reader.finish()
    return VerifyOutcome(sc, verdict, exp, diagnose(verdict, exp), f"dump {path}")


__all__ = ["VerifyOutcome", "verify_dump_file", "verify_live"]
