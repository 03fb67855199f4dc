"""The names of what a run creates on Drone, and the owner tag it writes into a port it uses.

Everything a run creates is named ``ostinato-tcp:<scenario>:<role>`` (streams, device groups),
so a run removes only what carries its tag; while it runs, the port's ``user_name`` holds
``ostinato-tcp run pid <pid> on <host> by <user> (scenario <name>)``.
"""

from __future__ import annotations

import getpass
import os
import re
import socket

OWNER_RE = re.compile(r"^ostinato-tcp run pid (\d+) on (\S+)")
NAME_PREFIX = "ostinato-tcp:"


def object_name(scenario_name: str, role: str) -> str:
    """The name of a stream or device group a run creates: ``ostinato-tcp:<scenario>:<role>``."""
    return f"{NAME_PREFIX}{scenario_name}:{role}"


def is_ours(name: str, scenario_name: str | None = None) -> bool:
    """True for names ostinato-tcp gives (of that scenario, when one is named)."""
    return name.startswith(object_name(scenario_name, "") if scenario_name else NAME_PREFIX)


def scenario_in_name(name: str) -> str | None:
    parts = name.split(":")
    return parts[1] if is_ours(name) and len(parts) >= 3 else None


def owner_tag(scenario_name: str) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"ostinato-tcp run pid {os.getpid()} on {socket.gethostname()} by {user} (scenario {scenario_name})"


def owner_is_gone(tag: str) -> bool:
    """True when ``tag`` names an ostinato-tcp run of this host whose process has ended."""
    m = OWNER_RE.match(tag or "")
    if not m or m.group(2) != socket.gethostname():
        return False
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
