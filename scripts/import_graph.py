"""The package's import graph, as the layer rules see it: modules per package, import cycles,
and imports that go up the layers written in setup.cfg ([importlinter:contract:layers]).

    .venv/bin/python scripts/import_graph.py [PACKAGE_DIR [LAYERS_CFG]]

Every import counts, those inside functions too (grimp reads them all). PACKAGE_DIR defaults to
this checkout's ostinato_tcp; LAYERS_CFG to the setup.cfg beside it (give one to judge another
tree by other layers, e.g. an older checkout's flat modules).
"""

from __future__ import annotations

import configparser
import sys
from collections import defaultdict
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def layers(setup_cfg: Path) -> list[list[str]]:
    """The layers contract, top first; each layer a list of sibling modules."""
    cfg = configparser.ConfigParser()
    cfg.read(setup_cfg)
    section = next((s for s in cfg.sections() if s.startswith("importlinter:contract") and
                    cfg[s].get("type") == "layers"), None)
    if section is None:
        return []
    out = []
    for line in cfg[section]["layers"].split("\n"):
        line = line.strip().strip("()")
        if line:
            out.append([part.strip() for part in line.replace(":", "|").split("|")])
    return out


def owner(module: str, names: set[str]) -> str | None:
    """The layer member (a package or module named in the layers) that holds ``module``."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in names:
            return ".".join(parts[:i])
    return None


def cycles(graph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    return out


def main() -> None:
    pkg_dir = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "ostinato_tcp"
    sys.path.insert(0, str(pkg_dir.parent))
    graph = grimp.build_graph(pkg_dir.name, cache_dir=None)
    modules = {m for m in graph.modules if m.startswith(pkg_dir.name)}
    per_package = defaultdict(list)
    for m in modules:
        parts = m.split(".")
        key = ".".join(parts[:2]) if len(parts) > 2 or graph.find_children(m) else pkg_dir.name
        per_package[key].append(m)
    print(f"modules per package ({len(modules)} modules):")
    for key in sorted(per_package):
        print(f"  {key}: {len(per_package[key])}")
    found = cycles(graph, modules)
    print(f"import cycles: {len(found)}")
    for comp in found:
        print("  " + " <-> ".join(comp))
    cfg = Path(sys.argv[2]) if len(sys.argv) > 2 else pkg_dir.parent / "setup.cfg"
    stack = layers(cfg)
    rank = {name: i for i, layer in enumerate(stack) for name in layer}
    names = set(rank)
    ups = []
    for m in sorted(modules):
        a = owner(m, names)
        for n in sorted(graph.find_modules_directly_imported_by(m)):
            b = owner(n, names)
            if a and b and a != b and rank[b] < rank[a]:  # a lower layer (higher index) imports a higher one
                ups.append(f"{m} -> {n}")
    print(f"imports up the layers ({' > '.join('|'.join(x.rsplit('.', 1)[-1] for x in layer) for layer in stack)}): "
          f"{len(ups)}")
    for line in ups:
        print(f"  {line}")


if __name__ == "__main__":
    main()
