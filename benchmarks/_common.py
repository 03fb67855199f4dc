"""Shared bits of the benchmarks: a lab of their own, timing, peak memory, printing."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ostinato_tcp.lab import Lab, LabConfig  # noqa: E402

BENCH_LAB = dict(prefix="otcpb", mgmt_net="198.18.5.0/24")


@contextmanager
def bench_lab(**settings):
    """A lab for the benchmark (prefix otcpb), removed afterwards unless KEEP_LAB=1."""
    lab = Lab(LabConfig(**BENCH_LAB, **settings))
    eps = lab.up()
    try:
        yield lab, eps
    finally:
        if not os.environ.get("KEEP_LAB"):
            lab.down()


def relab(lab: Lab, **settings):
    cfg = LabConfig(**{**lab.config.__dict__, **settings})
    return Lab(cfg).up()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


@contextmanager
def timed(store: dict, key: str):
    t0 = time.perf_counter()
    yield
    store[key] = time.perf_counter() - t0


def ns(lab: Lab, *cmd, input=None, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", lab.config.ns_fwd, *cmd], capture_output=True, text=True,
                          input=input, check=check)


def report(title: str, figures: dict, out: str | None = None) -> None:
    print(f"\n== {title}")
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        if isinstance(v, float):
            v = f"{v:,.3f}"
        elif isinstance(v, int):
            v = f"{v:,}"
        print(f"  {k:<{width}}  {v}")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(figures, indent=2))


def scenario(lab_prefix: str, **changes):
    """lab-1000.yaml against the benchmark lab, with changes as dotted paths."""
    import yaml

    from ostinato_tcp.lab import read_endpoints
    from ostinato_tcp.scenario import scenario_from_data, with_changes

    data = with_changes(yaml.safe_load((ROOT / "scenarios" / "lab-1000.yaml").read_text()), changes)
    return scenario_from_data(data, lab=lab_prefix, lab_reader=read_endpoints)
