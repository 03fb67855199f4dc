"""Files that come with ostinato-tcp beside the package: ``scenarios/`` and ``docs/figures.md``
of the checkout, which the wheel installs under ``<prefix>/share/ostinato-tcp/``."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def shipped_dirs(part: str) -> list[Path]:
    """Where the shipped ``part`` (``scenarios``, ``docs``) may be, first match wins: the
    checkout, then the install."""
    dirs = [_CHECKOUT / part]
    for base in (sys.prefix, sysconfig.get_path("data")):
        d = Path(base) / "share" / "ostinato-tcp" / part
        if d not in dirs:
            dirs.append(d)
    return dirs


def shipped_file(part: str, name: str) -> Path | None:
    for d in shipped_dirs(part):
        if (d / name).is_file():
            return d / name
    return None


def shipped_scenario(name: str) -> Path:
    """The path of a shipped scenario (``"lab-1000.yaml"``, ``"sweeps/lab-sweep.yaml"``).
    FileNotFoundError lists the ones there are."""
    found = shipped_file("scenarios", name)
    if found is not None:
        return found
    there = sorted({p.relative_to(d).as_posix() for d in shipped_dirs("scenarios") if d.is_dir()
                    for p in d.rglob("*.yaml")})
    raise FileNotFoundError(f"no shipped scenario {name!r}; there are: {', '.join(there) or 'none'}")
