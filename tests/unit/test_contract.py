"""The outputs' contract: every kind has a shipped JSON Schema, written by
scripts/write_schemas.py, valid as a schema, and the offline commands' real outputs validate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from ostinato_tcp.report.contract import KINDS, SCHEMA_VERSION, load_schema, schema_path, stamp, validate

from .helpers import data

ROOT = Path(__file__).resolve().parents[2]


def ot(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ostinato_tcp", *args], capture_output=True, text=True, timeout=60)


def test_every_kind_has_a_valid_schema_as_the_script_writes_it():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "write_schemas.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for kind in KINDS:
        schema = load_schema(kind)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["schema"] == {"const": kind}
        assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert sorted(p.name for p in schema_path("run").parent.glob("*.json")) == sorted(f"{k}.schema.json"
                                                                                      for k in KINDS)


def test_offline_outputs_validate_and_a_broken_one_does_not(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data(), sort_keys=False))
    plan = json.loads(ot("plan", "--offline", "--json", str(p)).stdout)
    assert plan["schema"] == "plan" and plan["schema_version"] == SCHEMA_VERSION
    assert validate(plan) == []
    assert plan["pairs"][0]["timings"][0]["batch"] == 1  # batches numbered as the text numbers them
    broken = dict(plan)
    del broken["total"]
    broken["pairs"] = [dict(plan["pairs"][0], mode="sideways")]
    errors = validate(broken)
    assert any("'total' is a required property" in e for e in errors)
    assert any(e.startswith("plan: pairs.0.mode:") for e in errors), errors
    assert validate({"schema": "nonsense"}) == ["schema: 'nonsense' is not a kind of output (" + ", ".join(KINDS) + ")"]


def test_plan_has_one_shape_for_one_pair_and_for_two(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(data(), sort_keys=False))
    from .test_pairs import two_pairs

    d = two_pairs()
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump(d, sort_keys=False))
    outs = [ot("plan", "--offline", "--json", str(x)) for x in (one, two)]
    assert [o.returncode for o in outs] == [0, 0], [o.stderr for o in outs]
    a, b = (json.loads(o.stdout) for o in outs)
    assert set(a) == set(b) and set(a["pairs"][0]) == set(b["pairs"][1])
    assert [x["pair"] for x in b["pairs"]] == [1, 2] and b["pair_count"] == 2 and a["pair_count"] == 1
    assert validate(a) == [] and validate(b) == []


def test_the_schema_command_prints_each_schema_and_refuses_a_wrong_kind():
    out = ot("schema", "run")
    assert out.returncode == 0 and json.loads(out.stdout)["title"].startswith("ostinato-tcp run output")
    listing = ot("schema").stdout
    assert all(k in listing for k in KINDS)
    bad = ot("schema", "runs")
    assert bad.returncode == 2 and "KIND: 'runs' is not a kind of output" in bad.stderr


def test_a_stamp_puts_kind_and_version_first():
    d = stamp("cleanup", {"removed": [], "scenario_name": "x", "schema": "old"})
    assert list(d)[:2] == ["schema", "schema_version"] and d["schema"] == "cleanup"
    with pytest.raises(ValueError):
        stamp("nonsense", {})
