"""The contract of every JSON output: each carries ``schema`` (its kind) and
``schema_version``, and a JSON Schema of each kind ships in the package
(``ostinato_tcp/report/schemas/<kind>.schema.json``; ``ostinato-tcp schema KIND`` prints it).

``SCHEMA_VERSION`` goes up when a field is removed, renamed or changes its meaning or
type; a new field alone does not (readers ignore fields they do not know). ``make test``
validates each command's real output against its schema (the ``jsonschema`` library, a
development dependency; :func:`validate` says so when it is missing)."""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA_VERSION = 1
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

# kind -> what it is (the commands that write it)
KINDS = {
    "run": "a run's result: run --json / --report-json, each sweep point, the history's stored runs",
    "plan": "plan --json: the timing and layout of a run, per port pair",
    "check": "check --json: the preflight's checks",
    "verify": "verify --json: the DUT's table judged against the scenario, per port pair",
    "capacity": "capacity --json: what the DUT's table held",
    "conformance": "conformance --json: each case of the catalogue, what the DUT did with its connections",
    "benchmark": "benchmark --json: each trial's search step by step, the figure over the trials",
    "sweep": "a sweep's results.json (and sweep --json): the summary and every point",
    "history": "history --json: recorded runs and the comparison",
    "ports": "ports DRONE --json: the ports a Drone lists",
    "lab": "lab up --json: the built-in lab's endpoints",
    "lab-status": "lab status --json",
    "cleanup": "cleanup --json: what was removed from the ports",
}


def stamp(kind: str, data: dict) -> dict:
    """``data`` with its kind and the schema version first."""
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    return {"schema": kind, "schema_version": SCHEMA_VERSION, **{k: v for k, v in data.items()
                                                                  if k not in ("schema", "schema_version")}}


def schema_path(kind: str) -> Path:
    return SCHEMA_DIR / f"{kind}.schema.json"


def load_schema(kind: str) -> dict:
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r} (one of {', '.join(KINDS)})")
    return json.loads(schema_path(kind).read_text())


CHECK_ENV = "OSTINATO_TCP_CHECK_SCHEMAS"  # set (as make test does): every output is validated as it is written


def check_if_asked(data: dict) -> None:
    """With ``$OSTINATO_TCP_CHECK_SCHEMAS`` set, an output that breaks its schema is a bug of the
    tool (AssertionError: exit 70), found where it is written."""
    import os

    if os.environ.get(CHECK_ENV):
        errors = validate(data)
        if errors:
            raise AssertionError("output breaks its schema: " + "; ".join(errors[:5]))


def validate(data: dict, kind: str | None = None) -> list[str]:
    """The places where ``data`` breaks its schema (empty: it conforms), one line each.
    ``kind``: the schema to use (default: the one ``data`` names)."""
    try:
        import jsonschema
    except ImportError:  # a development dependency: pip install '.[dev]'
        raise RuntimeError("validating outputs needs the jsonschema library (pip install jsonschema)") from None
    kind = kind or data.get("schema")
    if kind not in KINDS:
        return [f"schema: {kind!r} is not a kind of output ({', '.join(KINDS)})"]
    validator = jsonschema.Draft202012Validator(load_schema(kind))
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path) or "(top)"
        out.append(f"{kind}: {where}: {err.message[:300]}")
    return out
