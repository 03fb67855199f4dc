"""The figures' definitions, read from docs/figures.md (shipped beside the package), so the
HTML reports quote each figure's definition as the docs give it, word for word."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ostinato_tcp.ground.shipped import shipped_file


@dataclass(frozen=True)
class Definition:
    section: str  # the docs' heading the figure is under
    label: str  # the first column as written (markdown stripped)
    keys: tuple[str, ...]  # the JSON paths it names (``rates.offered_connection_rate``, ``ports.X.packet_rate``)
    text: str  # the definition (markdown stripped)


_CODE = re.compile(r"`([^`]+)`")


def _plain(md: str) -> str:
    return re.sub(r"\*\*|\*|`", "", md).strip()


def parse_figures(text: str) -> list[Definition]:
    """Every row of the tables whose header is ``| figure | definition |``."""
    out, section, in_table = [], "", False
    for line in text.splitlines():
        if line.startswith("#"):
            section, in_table = line.lstrip("#").strip(), False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) < 2:
            in_table = False
            continue
        if cells[:2] == ["figure", "definition"]:
            in_table = True
            continue
        if not in_table or set(cells[0]) <= {"-", " ", ":"}:
            continue
        keys = tuple(k for k in _CODE.findall(cells[0]) if re.fullmatch(r"[A-Za-z_][\w.\[\]]*", k))
        out.append(Definition(section, _plain(cells[0]), keys, _plain(" | ".join(cells[1:]))))
    return out


@lru_cache(maxsize=1)
def figure_definitions() -> tuple[Definition, ...]:
    """The definitions of docs/figures.md; empty when the file is not installed."""
    path = shipped_file("docs", "figures.md")
    return tuple(parse_figures(path.read_text())) if path is not None else ()
