"""Several port pairs in one scenario (``ports:`` as a list): their checks, and the
one-pair scenarios a run over them is made of."""

from __future__ import annotations

import ipaddress
import json

from pydantic import ValidationError

from ostinato_tcp.scenario._base import IPV6_MIN_FRAME, MAX_PAIRS, CrossFieldError


def check_pairs(sc) -> None:
    """Each pair must make a valid one-pair scenario, no Drone port is in two pairs, and the
    pairs' addresses differ (their tuples are disjoint). Errors name ``ports.<i>...``."""
    pairs = sc.ports
    if not 2 <= len(pairs) <= MAX_PAIRS:
        raise CrossFieldError(("ports",), f"list 2 to {MAX_PAIRS} pairs (got {len(pairs)}), or one pair as a "
                              "mapping with a and b")
    if sc.connections.count < len(pairs):
        raise CrossFieldError(("connections", "count"), f"{sc.connections.count} is fewer than the "
                              f"{len(pairs)} port pairs")
    for i, pair in enumerate(pairs[1:], 1):
        for name in ("client_ip", "server_ip"):
            if getattr(pair, name) is None:
                raise CrossFieldError(("ports", i, name), f"pair {i + 1} needs its own {name} (the first pair "
                                      f"takes connections.{name})")
    seen: dict = {}
    for i, pair in enumerate(pairs):
        for side in ("a", "b"):
            spec = getattr(pair, side)
            if spec.drone not in sc.drones:
                raise CrossFieldError(("ports", i, side, "drone"), f"names Drone {spec.drone!r}, which is not under "
                                      f"'drones' ({', '.join(sc.drones)})")
            key = (spec.drone, spec.ref)
            if key in seen:
                raise CrossFieldError(("ports", i, side, spec.ref_field),
                                      f"Drone {spec.drone!r} port {spec.ref!r} is already {seen[key]}")
            seen[key] = f"port {side.upper()} of pair {i + 1}"
    addresses: dict = {}
    for i, d in enumerate(pair_data(sc)):
        for name in ("client_ip", "server_ip"):
            ip = ipaddress.ip_address(d["connections"][name])
            if ip in addresses:
                raise CrossFieldError(("ports", i, name), f"{ip} is already {addresses[ip]}: each pair needs "
                                      "its own client and server addresses (disjoint tuples)")
            addresses[ip] = f"the {name} of pair {i + 1}"
        try:
            type(sc).model_validate(d)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            ctx = (err.get("ctx") or {}).get("error")
            loc = ctx.loc if isinstance(ctx, CrossFieldError) else tuple(err["loc"])
            if loc[:1] == ("ports",):
                loc = ("ports", i) + tuple(loc[1:])
            elif i and loc[:1] == ("connections",) and loc[-1] in ("client_ip", "server_ip"):
                loc = ("ports", i, loc[-1])  # pair i's own address, not the first pair's
            raise CrossFieldError(loc, f"pair {i + 1}: {ctx if ctx is not None else err['msg']}") from None


def pair_data(sc) -> list[dict]:
    """Each pair as one-pair scenario data: its ports, its addresses, its share of the
    connections, the Drones it uses; an IPv6 pair's frames long enough for IPv6 + TCP."""
    pairs = sc.ports
    k = len(pairs)
    data = sc.model_dump(mode="json", exclude={"source", "content_hash"})
    total = sc.connections.count
    out = []
    for i, pair in enumerate(pairs):
        d = json.loads(json.dumps(data))
        d["name"] = f"{sc.name[:59]}-p{i + 1}"
        d["ports"] = {"a": d["ports"][i]["a"], "b": d["ports"][i]["b"]}
        c = d["connections"]
        if pair.client_ip is not None:
            c["client_ip"] = str(pair.client_ip)
        if pair.server_ip is not None:
            c["server_ip"] = str(pair.server_ip)
        c["count"] = total // k + (1 if i < total % k else 0)
        if ":" in c["client_ip"]:
            d["traffic"]["frame_length"] = max(d["traffic"]["frame_length"], IPV6_MIN_FRAME)
        used = {d["ports"]["a"]["drone"], d["ports"]["b"]["drone"]}
        d["drones"] = {n: v for n, v in d["drones"].items() if n in used}
        out.append(d)
    return out
