"""How many inserts the kernel's hash-chain limit would refuse, before a packet is sent.

Each conntrack entry sits in the hash table twice (its original and its reply tuple), so
with ``E`` entries in ``B`` buckets a bucket's chain holds on average ``2 E / B`` nodes
(the mean chain). Linux (since the 2023 change that bounds the walk) refuses an insert
whose walk of the original's or the reply's chain goes past a limit drawn at random for
each insert from 50 to 79 (``MIN_CHAINLEN`` 50 plus up to ``MAX_CHAINLEN`` 30): the packet is
dropped and ``chaintoolong`` counts it. With the hash spreading tuples evenly, a chain's
length is Poisson distributed around the mean, which gives the chance that one insert is
refused, and summed over the run's inserts (the table growing from what it held to what
it will hold) the number of connections the limit is expected to cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

MIN_CHAINLEN = 50  # the kernel's least limit
MAX_CHAINLEN = 30  # the limit is MIN_CHAINLEN + a random number below this
CHAIN_REFUSE = 1.0  # expected refused inserts at which the plan refuses the run
CHAIN_WARN = 0.01  # ... and warns (one run in a hundred would lose a connection)
_STEPS = 400  # points of the table's growth the expected count is summed over


def mean_chain(entries: int, buckets: int) -> float:
    """Hash nodes per bucket: 2 x entries / buckets."""
    return 2 * entries / buckets


def _tail(lam: float, k: int) -> float:
    """P(Poisson(lam) >= k)."""
    if lam <= 0:
        return 0.0
    # the pmf from its mode outwards in log space, summed from k up (the terms fall fast past lam)
    log_p = -lam + k * math.log(lam) - math.lgamma(k + 1)
    total, term, i = 0.0, math.exp(log_p), k
    while term > 1e-18 * max(total, 1e-300) or i < lam:
        total += term
        i += 1
        term *= lam / i
        if i > k + 2000:
            break
    return min(1.0, total)


@lru_cache(maxsize=4096)
def refuse_probability(mean: float) -> float:
    """The chance that one insert into a table of this mean chain is refused: its original's
    or its reply's chain is longer than the limit drawn for it (walk counter past the limit:
    at least limit + 2 nodes on the chain)."""
    one = sum(_tail(mean, limit + 2) for limit in range(MIN_CHAINLEN, MIN_CHAINLEN + MAX_CHAINLEN)) / MAX_CHAINLEN
    return 1 - (1 - one) ** 2


def expected_refused(entries_before: int, inserts: int, buckets: int) -> float:
    """Expected inserts the chain limit refuses while the table grows from ``entries_before``
    by ``inserts`` entries (a refused insert adds no entry; at the counts that matter here the
    difference is negligible)."""
    if inserts <= 0 or buckets <= 0:
        return 0.0
    # the chance grows with the table: at the end it bounds every insert's; far below a
    # refusal that bound is the answer (and the plan of a small run costs nothing)
    bound = refuse_probability(round(mean_chain(entries_before + inserts, buckets), 3)) * inserts
    if bound < CHAIN_WARN / 100:
        return bound
    steps = min(_STEPS, inserts)
    total = 0.0
    for i in range(steps):  # midpoint rule over the growth
        e = entries_before + (i + 0.5) * inserts / steps
        total += refuse_probability(round(mean_chain(int(e), buckets), 3))
    return total * inserts / steps


def buckets_for(entries_before: int, inserts: int, *, limit: float = CHAIN_WARN, at_least: int = 1) -> int:
    """The smallest power of two of buckets at which the run expects fewer than ``limit``
    refused inserts."""
    b = 1 << max(0, (max(at_least, 1) - 1).bit_length())
    while expected_refused(entries_before, inserts, b) >= limit:
        b *= 2
    return b


@dataclass(frozen=True)
class ChainForecast:
    """What the plan expects of the DUT's hash chains at the end of the run."""

    entries_before: int  # in the table when the run starts sending
    inserts: int  # the run's connections
    buckets: int  # nf_conntrack_buckets
    mean_at_end: float  # 2 x entries / buckets with the run's entries in
    expected_refused: float  # inserts the chain limit is expected to refuse over the run
    buckets_needed: int | None  # the smallest power of two that keeps it under CHAIN_WARN (None: the table's do)

    def to_dict(self) -> dict:
        return {"mean_chain_at_end": round(self.mean_at_end, 2),
                "expected_chain_refusals": round(self.expected_refused, 3), "buckets_needed": self.buckets_needed}


def forecast(entries_before: int, inserts: int, buckets: int) -> ChainForecast:
    expected = expected_refused(entries_before, inserts, buckets)
    needed = buckets_for(entries_before, inserts, at_least=buckets * 2) if expected >= CHAIN_WARN else None
    return ChainForecast(entries_before, inserts, buckets, mean_chain(entries_before + inserts, buckets), expected,
                         needed)
