"""Run every benchmark in turn (make bench). Each prints its figures; JSON copies go to bench-out/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for name in ("drone_bench.py", "build_bench.py", "rate_bench.py", "verify_bench.py", "run_bench.py", "scale_bench.py",
             "edge_bench.py", "teardown_bench.py", "pairs_bench.py", "ceiling_bench.py", "carry_bench.py",
             "conformance_bench.py", "rfc9693_bench.py"):
    print(f"\n### {name}", flush=True)
    rc = subprocess.run([sys.executable, str(HERE / name)]).returncode
    if rc != 0:
        sys.exit(f"{name} failed with exit code {rc}")
