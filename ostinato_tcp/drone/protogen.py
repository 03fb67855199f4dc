"""Regenerate (or check) the committed protobuf modules: ``python -m ostinato_tcp.drone.protogen [--check]``.

Needs protoc 3.21.12 (Debian 12's ``protobuf-compiler``). Its output (the ``_builder``
form, with no runtime version check) runs on every protobuf runtime from 3.20 to 7.x
(the unit tests pass on 3.20.3, 4.25.9, 5.29.6, 6.33.6 and 7.36.2), which is why the
project pins that compiler rather than a newer one whose output demands a runtime at
least as new as itself. The modules are committed so that users need only the runtime.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PB_DIR = Path(__file__).resolve().parent / "_pb"
PROTOS = ["ostproto.proto", "ostemul.proto"]
PROTOC_VERSION = "libprotoc 3.21.12"


def generate(out_dir: Path) -> list[Path]:
    protoc = shutil.which("protoc")
    if protoc is None:
        sys.exit("protogen: protoc is missing; install Debian 12's protobuf-compiler (make deps)")
    version = subprocess.run([protoc, "--version"], capture_output=True, text=True).stdout.strip()
    if version != PROTOC_VERSION:
        sys.exit(f"protogen: {protoc} is {version!r}; the committed modules come from {PROTOC_VERSION} (Debian 12's "
                 "protobuf-compiler), whose output runs on protobuf 3.20 to 7.x")
    rel = PB_DIR.relative_to(ROOT)
    args = [protoc, f"-I{ROOT}", f"--python_out={out_dir}"] + [str(rel / p) for p in PROTOS]
    if subprocess.run(args).returncode != 0:
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
