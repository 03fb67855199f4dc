"""The scenarios that come with ostinato-tcp: ``scenarios/`` of the checkout, installed by
the wheel under ``<prefix>/share/ostinato-tcp/scenarios``."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2] / "scenarios"


def shipped_dirs() -> list[Path]:
    """Where the shipped scenarios may be, first match wins: the checkout, then the install."""
    dirs = [_CHECKOUT]
    for base in (sys.prefix, sysconfig.get_path("data")):
        d = Path(base) / "share" / "ostinato-tcp" / "scenarios"
        if d not in dirs:
            dirs.append(d)
    return dirs


def shipped_scenario(name: str) -> Path:
    """The path of a shipped scenario (``"lab-1000.yaml"``, ``"sweeps/lab-rates.yaml"``).
    FileNotFoundError lists the ones there are."""
    for d in shipped_dirs():
        if (d / name).is_file():
            return d / name
    there = sorted({p.relative_to(d).as_posix() for d in shipped_dirs() if d.is_dir() for p in d.rglob("*.yaml")})
    raise FileNotFoundError(f"no shipped scenario {name!r}; there are: {', '.join(there) or 'none'}")
