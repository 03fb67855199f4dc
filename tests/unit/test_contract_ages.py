"""The contract's verdict on a DUT that keeps entry ages: the bound on an entry's age is taken
as each batch of the dump arrives, so a long dump does not make the run's own entries look old."""

from __future__ import annotations

from ostinato_tcp.domain.plan import make_plan
from ostinato_tcp.domain.verdict import Expected

from .helpers import scenario


def test_the_age_bound_follows_a_long_dump():
    """An entry printed late in a slow dump is older by the time it is printed: the bound is the
    time since the read-back when its batch arrives, not when the dump began."""
    import time

    from ostinato_tcp.domain.verdict import ParseStats
    from ostinato_tcp.dut.contract import DutDriver

    sp = make_plan(scenario(**{"connections.count": 4, "traffic.rate": 100})).space
    exp = Expected(sp)

    class SlowDump(DutDriver):
        where = "slow"

        def health(self): ...
        def count(self): ...
        def clear(self, servers, mode, *, also=None): ...
        def count_space(self, servers, state=None): ...

        def dump_space(self, servers, sink, *, ages=False, state=None, size_hint=0, timeout=None):
            started = time.monotonic()
            for n in range(4):
                ip, port = (str(x) for x in (sp.ip_text(sp.client_of(n)[0]), sp.client_of(n)[1]))
                age = str(int(time.monotonic() - started) + 1).encode()  # made as the run began
                sink([(b"ESTABLISHED", ip.encode(), b"10.2.2.100", port.encode(), b"8080", None, b"10.2.2.100",
                       ip.encode(), b"8080", port.encode(), b"[ASSURED]", age)])
                time.sleep(0.8)
            return {}, ParseStats(entries=4)

    verdict, info = SlowDump().verify(exp, fresh={"timestamps": True, "started_at": time.monotonic()})
    assert verdict.passed and verdict.established_assured == 4, verdict.counts
    assert info["max_age_seconds"] >= 4  # the bound when the last batch arrived, 2.4 s into the dump
