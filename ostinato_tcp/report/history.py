"""Run history in SQLite: every run recorded; a run compared with the last passing run
of the same scenario, and flagged when it got worse.

The schema version lives in ``PRAGMA user_version``; :data:`MIGRATIONS` takes any
older database forward, in order, each step in one transaction.

Default location: ``$OSTINATO_TCP_HISTORY``, else ``history.sqlite`` in the user's
data directory (``~/.local/share/ostinato-tcp`` on Linux).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ostinato_tcp.errors import UsageError

# the runs table's columns after migration 3 (copied by migration 4)
_V3_COLUMNS = ("id, started_at, scenario_name, scenario_hash, verdict, expected, established_assured, rate, "
               "packet_rate_a, packet_rate_b, drone_host, drone_version, dut_host, dut_kernel, states_json, "
               "timings_json, params_json, report_json, origin, offered_connection_rate, offered_rate_bound_pct, "
               "end_to_end_rate")
MIGRATIONS: list[list[str]] = [
    # 1: the runs table
    ["""CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            scenario_name TEXT NOT NULL,
            scenario_hash TEXT,
            verdict TEXT NOT NULL,
            expected INTEGER NOT NULL,
            established_assured INTEGER NOT NULL,
            rate REAL,
            achieved_rate_a REAL,
            achieved_rate_b REAL,
            drone_host TEXT,
            drone_version TEXT,
            dut_host TEXT,
            dut_kernel TEXT,
            states_json TEXT,
            timings_json TEXT,
            params_json TEXT,
            report_json TEXT)"""],
    # 2: where a run came from (a plain run or a sweep point) and an index for comparisons
    ["ALTER TABLE runs ADD COLUMN origin TEXT NOT NULL DEFAULT 'run'",
     "CREATE INDEX runs_by_scenario ON runs (scenario_name, started_at)"],
    # 3: rates as the tool defines them (docs/figures.md): each port's packet rate, the offered and
    # end-to-end connection rates with the offered rate's bound
    ["ALTER TABLE runs RENAME COLUMN achieved_rate_a TO packet_rate_a",
     "ALTER TABLE runs RENAME COLUMN achieved_rate_b TO packet_rate_b",
     "ALTER TABLE runs ADD COLUMN offered_connection_rate REAL",
     "ALTER TABLE runs ADD COLUMN offered_rate_bound_pct REAL",
     "ALTER TABLE runs ADD COLUMN end_to_end_rate REAL"],
    # 4: a run proven by the traffic alone (dut.kind none) has no established_assured: the column may
    # be null (SQLite changes a constraint by copying the table), and the traffic proof's count is kept
    ["""CREATE TABLE runs_v4 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            scenario_name TEXT NOT NULL,
            scenario_hash TEXT,
            verdict TEXT NOT NULL,
            expected INTEGER NOT NULL,
            established_assured INTEGER,
            rate REAL,
            packet_rate_a REAL,
            packet_rate_b REAL,
            drone_host TEXT,
            drone_version TEXT,
            dut_host TEXT,
            dut_kernel TEXT,
            states_json TEXT,
            timings_json TEXT,
            params_json TEXT,
            report_json TEXT,
            origin TEXT NOT NULL DEFAULT 'run',
            offered_connection_rate REAL,
            offered_rate_bound_pct REAL,
            end_to_end_rate REAL,
            carried_both_ways INTEGER)""",
     f"INSERT INTO runs_v4 ({_V3_COLUMNS}) SELECT {_V3_COLUMNS} FROM runs",
     "DROP TABLE runs",
     "ALTER TABLE runs_v4 RENAME TO runs",
     "CREATE INDEX runs_by_scenario ON runs (scenario_name, started_at)"],
]
SCHEMA_VERSION = len(MIGRATIONS)
RATE_DROP = 0.10  # a run more than 10 % slower than the baseline is flagged


def _per_second(rate: dict | None) -> float | None:
    return rate.get("per_second") if isinstance(rate, dict) else None


def default_path() -> Path:
    env = os.environ.get("OSTINATO_TCP_HISTORY")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("ostinato-tcp")) / "history.sqlite"


@dataclass
class Comparison:
    run: dict
    baseline: dict | None
    regressions: list[str]
    basis: str = ""  # how the baseline was chosen (said in the output)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def failed(self) -> bool:
        """The compared run failed its verdict (the DUT's failure, or a fault; an inconclusive
        run is the traffic's)."""
        return self.run.get("verdict") not in ("pass", "inconclusive")


LIKE_FIELDS = (("connections", "count"), ("connections", "client_ip"), ("connections", "client_ips"),
               ("connections", "first_client_port"), ("connections", "server_ip"), ("connections", "server_port"),
               ("traffic", "rate"))


def like_key(row: dict) -> tuple | None:
    """What makes two runs comparable when their scenario files differ: the count, the
    addresses and ports, and the asked rate. None when the run recorded no parameters."""
    try:
        params = json.loads(row.get("params_json") or "null")
    except ValueError:
        return None
    if not isinstance(params, dict):
        return None
    values = tuple((params.get(section) or {}).get(key) for section, key in LIKE_FIELDS)
    return None if all(v is None for v in values) else values


class History:
    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn, self.path = conn, path

    @classmethod
    def open(cls, path: str | os.PathLike | None = None) -> "History":
        p = Path(path) if path else default_path()
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(p), timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open history database {p}: {exc}") from None
        conn.row_factory = sqlite3.Row
        h = cls(conn, p)
        h.migrate()
        return h

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> int:
        v = self.version
        if v > SCHEMA_VERSION:
            raise UsageError(f"history database {self.path} has schema {v}, newer than this ostinato-tcp "
                             f"({SCHEMA_VERSION}); upgrade ostinato-tcp or use another --history-db")
        for target in range(v + 1, SCHEMA_VERSION + 1):
            with self.conn:
                for stmt in MIGRATIONS[target - 1]:
                    self.conn.execute(stmt)
                self.conn.execute(f"PRAGMA user_version = {target}")
        return self.version

    def record(self, d: dict, origin: str = "run") -> int:
        ports = d.get("ports") or {}
        rates = d.get("rates") or {}
        sc = d.get("scenario") or {}
        drones = sc.get("drones") or {}
        first_drone = next(iter(drones.values()), {})
        row = dict(
            started_at=d.get("started_at"), scenario_name=d.get("scenario_name"), scenario_hash=d.get("scenario_hash"),
            verdict=d.get("verdict"), expected=d.get("expected", 0), established_assured=d.get("established_assured"),
            carried_both_ways=(d.get("traffic_proof") or {}).get("carried_both_ways"),
            rate=(d.get("plan") or {}).get("rate"),
            packet_rate_a=_per_second((ports.get("a") or {}).get("packet_rate")),
            packet_rate_b=_per_second((ports.get("b") or {}).get("packet_rate")),
            offered_connection_rate=_per_second(rates.get("offered_connection_rate")),
            offered_rate_bound_pct=(rates.get("offered_connection_rate") or {}).get("bound_pct"),
            end_to_end_rate=_per_second(rates.get("end_to_end_connection_rate")),
            drone_host=f"{first_drone.get('host')}:{first_drone.get('port')}" if first_drone else None,
            drone_version=",".join(sorted(set((d.get("drone_versions") or {}).values()))) or None,
            dut_host=(sc.get("dut") or {}).get("host"), dut_kernel=(d.get("dut") or {}).get("kernel"),
            states_json=json.dumps(d.get("states") or {}), timings_json=json.dumps(d.get("timings") or {}),
            params_json=json.dumps({"connections": sc.get("connections"), "traffic": sc.get("traffic"),
                                    "nat": sc.get("nat")}),
            report_json=json.dumps(d, default=str), origin=origin)
        with self.conn:
            cur = self.conn.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                    list(row.values()))
        return cur.lastrowid

    def runs(self, scenario: str | None = None, limit: int = 20) -> list[dict]:
        q = "SELECT * FROM runs" + (" WHERE scenario_name = ?" if scenario else "") + " ORDER BY id DESC LIMIT ?"
        args = ([scenario] if scenario else []) + [limit]
        return [dict(r) for r in self.conn.execute(q, args)]

    def get(self, run_id: int) -> dict | None:
        r = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(r) if r else None

    def latest(self, scenario: str | None = None) -> dict | None:
        rows = self.runs(scenario, limit=1)
        return rows[0] if rows else None

    def compare(self, run: dict) -> Comparison:
        """The run against the last passing run of the same scenario before it that ran the
        same test: the same scenario file (content hash), else the same count, addresses and
        rate. Runs of another shape are never compared."""
        earlier = [dict(r) for r in self.conn.execute(
            "SELECT * FROM runs WHERE scenario_name = ? AND verdict = 'pass' AND id < ? ORDER BY id DESC",
            (run["scenario_name"], run["id"]))]
        base, basis = None, ""
        if run.get("scenario_hash"):
            base = next((r for r in earlier if r["scenario_hash"] == run["scenario_hash"]), None)
            basis = f"the same scenario file (hash {run['scenario_hash']})"
        if base is None:
            key = like_key(run)
            base = next((r for r in earlier if key is not None and like_key(r) == key), None)
            basis = "the same count, addresses and rate (the scenario file differs)"
        if base is None:
            basis = ("no earlier passing run of the same test (same scenario file, or same count, addresses and "
                     "rate)")
        regressions = []
        if base is not None:
            for key, name in (("established_assured", "established+assured"), ("carried_both_ways", "carried both ways")):
                now, then = run.get(key), base.get(key)
                if run["verdict"] != "inconclusive" and now is not None and then is not None and now < then:
                    regressions.append(f"{name} {now} < {then} (run {base['id']})")
            if run["verdict"] == "fail":  # an inconclusive run (the traffic broke the order) is not the DUT's
                regressions.append(f"verdict {run['verdict']} (run {base['id']} passed)")
            for side in ("a", "b") if run["verdict"] != "inconclusive" else ():
                now, then = run[f"packet_rate_{side}"], base[f"packet_rate_{side}"]
                if now and then and now < then * (1 - RATE_DROP):
                    regressions.append(f"port {side.upper()} packet rate {now:,.0f}/s < {then:,.0f}/s "
                                       f"(run {base['id']}, more than {RATE_DROP:.0%} slower)")
        return Comparison(run, base, regressions, basis)
