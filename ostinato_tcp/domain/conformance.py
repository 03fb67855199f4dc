"""The conformance catalogue: handshakes a stateful tracker must not take for a connection.

Each :class:`Case` is a sequence of :class:`Step` (one packet per connection, on port A, the
clients, or port B, the servers), sent one step after another over N connections, and the end
state a strict Linux tracker (``nf_conntrack_tcp_loose=0``, ``nf_conntrack_tcp_be_liberal=0``)
leaves each connection in. Where a DUT setting changes that, the case says which and what it
leads to instead (:func:`expected_outcome`). The rules are the kernel's TCP tracking
(``net/netfilter/nf_conntrack_proto_tcp.c``), named per case in ``rule``; docs/conformance.md
lists them.

Sequence numbers count from the scenario's ISNs: ``c`` (the client's) and ``s`` (the server's);
an out-of-window number is ``BIG`` (2^28) past the right one, far beyond the lab's 1024-byte
windows and the tracker's 66,000-byte ACK slack.

An outcome is one of :data:`OUTCOMES`, per connection: no entry, or the entry's TCP state, with
ESTABLISHED split by [ASSURED]. :func:`judge_case` compares what the DUT did with what was
expected and names the setting that explains a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ostinato_tcp.domain.streams import DATA_BYTES, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, Leg

BIG = 1 << 28
M32 = 0xFFFFFFFF
NO_ENTRY, SYN_SENT, SYN_RECV, ESTABLISHED, ASSURED, CLOSE = (
    "no entry", "SYN_SENT", "SYN_RECV", "ESTABLISHED (not ASSURED)", "ESTABLISHED+ASSURED", "CLOSE")
OUTCOMES = (NO_ENTRY, SYN_SENT, SYN_RECV, ESTABLISHED, ASSURED, CLOSE)
LIBERAL, LOOSE = "nf_conntrack_tcp_be_liberal", "nf_conntrack_tcp_loose"
SETTINGS = (LIBERAL, LOOSE)  # the DUT settings an outcome depends on (1: on)


@dataclass(frozen=True)
class Step:
    """One packet per connection: ``side`` a (client to server) or b (server to client)."""

    side: str
    role: str  # the stream's name, e.g. "syn", "synack2"
    flags: int
    seq: int  # offset from the sender's ISN (c for a, s for b), mod 2^32
    ack: int  # offset from the other side's ISN; ignored without the ACK flag
    payload: int = 0

    def leg(self, client_isn: int, server_isn: int) -> Leg:
        """The step as a leg with absolute numbers."""
        mine, theirs = (client_isn, server_isn) if self.side == "a" else (server_isn, client_isn)
        ack = (theirs + self.ack) & M32 if self.flags & TCP_ACK else 0
        return Leg(self.role, self.flags, (mine + self.seq) & M32, ack, self.payload)


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    steps: tuple[Step, ...]
    strict: str  # the outcome of every connection under a strict tracker
    rule: str  # the kernel rule behind it
    changed_by: dict[str, str] = field(default_factory=dict)  # setting -> the outcome with it on
    refuses: bool = True  # a strict tracker refuses the handshake (else: it must take what is sent)
    reversed: bool = False  # the first packet comes from the server: an entry would be server -> client
    invalid_steps: tuple[int, ...] = ()  # the steps a strict tracker marks invalid (a ruleset may drop them)

    @property
    def sides(self) -> set[str]:
        return {s.side for s in self.steps}


def _syn() -> Step:
    return Step("a", "syn", TCP_SYN, 0, 0)


def _synack(seq: int = 0, ack: int = 1, role: str = "synack") -> Step:
    return Step("b", role, TCP_SYN | TCP_ACK, seq, ack)


def _ack(seq: int = 1, ack: int = 1, role: str = "ack") -> Step:
    return Step("a", role, TCP_ACK, seq, ack)


_WINDOW = "tcp_in_window: "
CATALOGUE: tuple[Case, ...] = (
    Case("final-ack-wrong-ack", "final ACK with a wrong acknowledgment number",
         (_syn(), _synack(), _ack(ack=1 + BIG)), SYN_RECV,
         _WINDOW + "\"ACK is over upper bound (ACKed data not seen yet)\": the ACK is invalid, the entry stays "
         "SYN_RECV", {LIBERAL: ASSURED}, invalid_steps=(2,)),
    Case("final-ack-out-of-window", "final ACK with a sequence number out of window",
         (_syn(), _synack(), _ack(seq=1 + BIG)), SYN_RECV,
         _WINDOW + "\"SEQ is over upper bound (over the window of the receiver)\": the ACK is invalid, the entry "
         "stays SYN_RECV", {LIBERAL: ASSURED}, invalid_steps=(2,)),
    Case("synack-wrong-ack", "SYN-ACK with a wrong acknowledgment number",
         (_syn(), _synack(ack=1 + BIG), _ack()), SYN_SENT,
         _WINDOW + "the SYN-ACK acknowledges data the client never sent (\"ACK is over upper bound\"): invalid, "
         "the entry stays SYN_SENT; the client's ACK in SYN_SENT is then a forbidden transition (invalid)",
         {LIBERAL: ASSURED}, invalid_steps=(1, 2)),
    Case("synack-without-syn", "SYN-ACK with no SYN before it (from the server)",
         (_synack(),), NO_ENTRY,
         "tcp_new: a SYN-ACK cannot open an entry (state table: NONE + SYN-ACK = invalid), whatever "
         "nf_conntrack_tcp_loose says", reversed=True, invalid_steps=(0,)),
    Case("synack-twice", "SYN-ACK twice with different sequence numbers, the ACK answering the second",
         (_syn(), _synack(), _synack(seq=BIG, role="synack2"), _ack(ack=1 + BIG)), SYN_RECV,
         "state table: a SYN-ACK in SYN_RECV is ignored (its numbers are not taken); the ACK of the second one's "
         "numbers is then over the upper bound (tcp_in_window): invalid, the entry stays SYN_RECV",
         {LIBERAL: ASSURED}, invalid_steps=(3,)),
    Case("ack-before-synack", "ACK before the SYN-ACK (the order broken on purpose)",
         (_syn(), _ack(), _synack()), SYN_RECV,
         "state table: the client's ACK in SYN_SENT is a forbidden transition (invalid, not a window check: no "
         "setting changes it); the late SYN-ACK then moves the entry to SYN_RECV, where it stays", invalid_steps=(1,)),
    Case("rst-in-syn-sent", "server RST during SYN_SENT, in window (the tracker must take it)",
         (_syn(), Step("b", "rst", TCP_RST | TCP_ACK, 0, 1)), NO_ENTRY,
         "an RST|ACK acknowledging the SYN is in window; when the only reply is an RST the tracker deletes the "
         "entry at once (nf_conntrack_tcp_packet: no reply seen, RST: nf_ct_kill_acct)", refuses=False),
    Case("rst-in-syn-sent-out-of-window", "server RST during SYN_SENT, out of window",
         (_syn(), Step("b", "rst", TCP_RST | TCP_ACK, 0, 1 + BIG)), SYN_SENT,
         _WINDOW + "the RST acknowledges data the client never sent (\"ACK is over upper bound\"): invalid, the "
         "entry stays SYN_SENT", {LIBERAL: NO_ENTRY}, invalid_steps=(1,)),
    Case("rst-in-syn-recv", "client RST during SYN_RECV, in window (the tracker must take it)",
         (_syn(), _synack(), Step("a", "rst", TCP_RST, 1, 0)), CLOSE,
         "state table: RST in SYN_RECV = CLOSE; seq = c+1 is the next byte the server expects", refuses=False),
    Case("rst-in-syn-recv-out-of-window", "client RST during SYN_RECV, out of window",
         (_syn(), _synack(), Step("a", "rst", TCP_RST, 1 + BIG, 0)), SYN_RECV,
         _WINDOW + "\"SEQ is over upper bound\": the RST is invalid, the entry stays SYN_RECV", {LIBERAL: CLOSE}, invalid_steps=(2,)),
    Case("syn-fin", "SYN+FIN as the first packet", (Step("a", "synfin", TCP_SYN | TCP_FIN, 0, 0),), NO_ENTRY,
         "tcp_error: SYN|FIN is not in tcp_valid_flags (\"invalid tcp flag combination\"): no entry, whatever the "
         "settings", invalid_steps=(0,)),
    Case("syn-rst", "SYN+RST as the first packet", (Step("a", "synrst", TCP_SYN | TCP_RST, 0, 0),), NO_ENTRY,
         "tcp_error: SYN|RST is not in tcp_valid_flags: no entry, whatever the settings", invalid_steps=(0,)),
    Case("no-flags", "no flags at all as the first packet", (Step("a", "null", 0, 0, 0),), NO_ENTRY,
         "tcp_error: a segment without flags is not in tcp_valid_flags: no entry, whatever the settings", invalid_steps=(0,)),
    Case("second-syn-new-isn", "a second SYN with another ISN while the first is half open; the server answers "
         "the first", (_syn(), Step("a", "syn2", TCP_SYN, BIG, 0), _synack(), _ack()), SYN_SENT,
         "tcp_in_window: a later SYN with a higher ISN re-initialises the client's side; the SYN-ACK of the first "
         "ISN is then under the ACK's lower bound and ignored, and the client's ACK in SYN_SENT is invalid",
         {LIBERAL: ASSURED}, invalid_steps=(3,)),
    Case("data-before-synack", "client data before the handshake is complete (before the SYN-ACK)",
         (_syn(), Step("a", "data", TCP_PSH | TCP_ACK, 1, 1, DATA_BYTES), _synack()), SYN_RECV,
         "state table: data (an ACK) from the client in SYN_SENT is a forbidden transition (invalid); the SYN-ACK "
         "then moves the entry to SYN_RECV, where it stays", invalid_steps=(1,)),
    Case("ack-without-syn", "a lone ACK with no handshake (a mid-stream pick-up)", (_ack(),), NO_ENTRY,
         "tcp_new: only a SYN opens an entry when nf_conntrack_tcp_loose=0; with 1 an ACK is picked up as "
         "ESTABLISHED, never ASSURED", {LOOSE: ESTABLISHED}, invalid_steps=(0,)),
)
BY_NAME = {c.name: c for c in CATALOGUE}


def expected_outcome(case: Case, settings: dict[str, int | None]) -> tuple[str, str | None]:
    """The outcome the DUT should give with its ``settings`` (``None``: not read, taken as strict),
    and the setting that changes it from the strict one (None: it does not)."""
    for name in SETTINGS:
        if settings.get(name) and name in case.changed_by:
            return case.changed_by[name], f"{name}={settings[name]}"
    return case.strict, None


@dataclass
class CaseVerdict:
    """One case's result: what the DUT did with each connection against what was expected."""

    case: str
    title: str
    strict: str
    expected: str
    setting: str | None  # the DUT setting that makes ``expected`` differ from ``strict``
    outcomes: dict[str, int]  # outcome -> connections
    connections: int
    invalid_delta: int | None = None
    word: str = "error"  # pass | explained | fail | error
    note: str = ""
    seconds: float = 0.0  # the case's run, from its plan to its clean-up
    steps: list[dict] = field(default_factory=list)  # each step as sent: role, port, packets, seconds, forwarded
    forwarded_note: str = ""  # why ``forwarded`` was not measured
    forwarding: list[str] = field(default_factory=list)  # forwarded against refused (forwarding_notes)

    @property
    def as_expected(self) -> int:
        return self.outcomes.get(self.expected, 0)

    def to_dict(self) -> dict:
        return {"case": self.case, "title": self.title, "strict": self.strict, "expected": self.expected,
                "setting": self.setting, "connections": self.connections, "as_expected": self.as_expected,
                "outcomes": dict(self.outcomes), "invalid_delta": self.invalid_delta, "verdict": self.word,
                "note": self.note, "seconds": round(self.seconds, 3), "steps": list(self.steps),
                "forwarded_note": self.forwarded_note, "forwarding": list(self.forwarding)}


def judge_case(case: Case, settings: dict[str, int | None], outcomes: dict[str, int], connections: int,
               invalid_delta: int | None) -> CaseVerdict:
    """``pass``: every connection ended as a strict tracker leaves it; ``explained``: every one
    ended as the DUT's settings lead to, which a strict tracker would not (the setting is named);
    ``fail``: anything else (the note names what appeared, and a setting that would explain it)."""
    expected, setting = expected_outcome(case, settings)
    v = CaseVerdict(case.name, case.title, case.strict, expected, setting, dict(outcomes), connections,
                    invalid_delta)
    if v.as_expected == connections:
        v.word = "pass" if setting is None else "explained"
        if setting is not None:
            v.note = (f"the DUT takes what a strict tracker refuses ({expected} where it leaves {case.strict}): "
                      f"{setting} explains it")
        return v
    v.word = "fail"
    other = {k: n for k, n in outcomes.items() if k != expected and n}
    shown = ", ".join(f"{n:,} {k}" for k, n in sorted(other.items(), key=lambda kv: -kv[1]))
    v.note = f"{v.as_expected:,}/{connections:,} {expected}; instead {shown}"
    hints = [f"{name}=1 leads to {out}" for name, out in case.changed_by.items()
             if other.get(out) and not settings.get(name)]
    if hints:
        v.note += " (" + "; ".join(hints) + ", but the DUT reads 0: a tracker more lenient than its settings say)"
    elif other.get(ASSURED) or other.get(ESTABLISHED):
        v.note += ": the DUT took for a connection what a strict tracker refuses, and no setting it has explains it"
    return v


def forwarding_notes(case: Case, steps: list[dict], total: int, setting: str | None) -> list[str]:
    """What the DUT forwarded against what its tracker refused (shown, not judged: whether an invalid
    packet is dropped is the ruleset's choice, e.g. ``ct state invalid drop``). Said for a DUT whose
    settings are strict for the case (``setting`` None), where the refused steps are known."""
    got = [s.get("forwarded") for s in steps]
    if setting is not None or not got or None in got:
        return []
    out = []
    for i, (step, n) in enumerate(zip(case.steps, got)):
        if i in case.invalid_steps and n:
            out.append(f"the DUT forwarded {n:,} of the {total:,} {step.role} packets its tracker marks invalid (its "
                       "ruleset does not drop ct state invalid)")
        elif i not in case.invalid_steps and n < total:
            out.append(f"the DUT forwarded {n:,} of the {total:,} {step.role} packets its tracker takes: "
                       f"{total - n:,} lost or dropped by a rule")
    return out


def select(names: list[str] | None) -> list[Case]:
    """The catalogue, or the cases named (in the catalogue's order); an unknown name is a ValueError."""
    if not names:
        return list(CATALOGUE)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"--case {unknown[0]!r}: not a case (one of {', '.join(BY_NAME)})")
    return [c for c in CATALOGUE if c.name in names]
