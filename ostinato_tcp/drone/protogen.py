"""Regenerate (or check) the committed protobuf modules: ``python -m ostinato_tcp.drone.protogen [--check]``.

Needs grpcio-tools (the ``dev`` extra). The modules are committed so that users
need only the protobuf runtime.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PB_DIR = Path(__file__).resolve().parent / "_pb"
PROTOS = ["ostproto.proto", "ostemul.proto"]


def generate(out_dir: Path) -> list[Path]:
    try:
        from grpc_tools import protoc
    except ImportError:
        sys.exit("protogen: grpcio-tools is missing; pip install -e '.[dev]'")
    rel = PB_DIR.relative_to(ROOT)
    args = ["protoc", f"-I{ROOT}", f"--python_out={out_dir}"] + [str(rel / p) for p in PROTOS]
    if protoc.main(args) != 0:
        sys.exit("protogen: protoc failed")
    return [out_dir / rel / p.replace(".proto", "_pb2.py") for p in PROTOS]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="exit 1 when the committed modules are stale")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = []
        for path in fresh:
            committed = PB_DIR / path.name
            if not committed.exists() or committed.read_bytes() != path.read_bytes():
                stale.append(committed)
                if not args.check:
                    committed.write_bytes(path.read_bytes())
    if args.check and stale:
        print("protogen: stale generated modules: " + ", ".join(str(p.relative_to(ROOT)) for p in stale)
              + "; run 'make proto'", file=sys.stderr)
        return 1
    print("protogen: " + ("up to date" if not stale else "regenerated " + ", ".join(p.name for p in stale)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
