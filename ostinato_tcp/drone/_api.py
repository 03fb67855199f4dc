"""What every Drone backend offers: the RPCs by python-ostinato's names, plus helpers.

The helpers use only the RPCs, so they work the same over the built-in client
and over python-ostinato.
"""

from __future__ import annotations

import time

from ..errors import DroneTimeoutError, UnknownPortError


class DroneApi:
    """Helpers shared by the backends. Subclasses provide the RPC methods,
    ``pb``/``emul`` (message namespaces), ``endpoint`` and ``backend_name``."""

    endpoint = "?"

    def port_names(self) -> dict[str, int]:
        """Interface name -> port id, for every port Drone lists."""
        ids = self.getPortIdList()
        cfg = self.getPortConfig(ids)
        return {p.name: p.port_id.id for p in cfg.port}

    def port_config(self, port_id: int):
        ids = self.pb.PortIdList()
        ids.port_id.add().id = port_id
        return self.getPortConfig(ids).port[0]

    def find_port(self, name: str) -> int:
        """The port id of the interface called ``name``; the error lists what exists."""
        names = self.port_names()
        if name not in names:
            raise UnknownPortError(f"no port named {name!r}; Drone has: {', '.join(sorted(names)) or 'none'}",
                                   endpoint=self.endpoint, rpc="getPortConfig")
        return names[name]

    def modify_port(self, port_id: int, **fields) -> None:
        """modifyPort with only ``fields`` set (Drone leaves unset fields as they are)."""
        cl = self.pb.PortConfigList()
        p = cl.port.add()
        p.port_id.id = port_id
        for key, value in fields.items():
            setattr(p, key, value)
        self.modifyPort(cl)

    def port_id_list(self, port_ids):
        ids = self.pb.PortIdList()
        for pid in port_ids:
            ids.port_id.add().id = pid
        return ids

    def stream_id_list(self, port_id: int, stream_ids=()):
        ids = self.pb.StreamIdList()
        ids.port_id.id = port_id
        for sid in stream_ids:
            ids.stream_id.add().id = sid
        return ids

    def device_group_id_list(self, port_id: int, group_ids=()):
        ids = self.pb.DeviceGroupIdList()
        ids.port_id.id = port_id
        for gid in group_ids:
            ids.device_group_id.add().id = gid
        return ids

    def stats(self, port_ids) -> dict[int, object]:
        """Port id -> PortStats."""
        reply = self.getStats(self.port_id_list(port_ids))
        return {s.port_id.id: s for s in reply.port_stats}

    def wait_transmit_done(self, port_ids, timeout: float, poll: float = 0.1, on_poll=None) -> dict[int, object]:
        """Poll getStats until no port in ``port_ids`` transmits; return the last stats."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats(port_ids)
            if on_poll is not None:
                on_poll(st)
            if not any(s.state.is_transmit_on for s in st.values()):
                return st
            if time.monotonic() > deadline:
                busy = [str(pid) for pid, s in st.items() if s.state.is_transmit_on]
                raise DroneTimeoutError(f"port(s) {', '.join(busy)} still transmitting after {timeout:g} s",
                                        endpoint=self.endpoint, rpc="getStats")
            time.sleep(poll)

    def settled_stats(self, port_ids, expected_tx: dict[int, int] | None = None, timeout: float = 3.0,
                      quiet: float = 1.2, poll: float = 0.1) -> dict[int, object]:
        """Port stats once Drone's counters caught up: Drone refreshes them about once a
        second, so they lag the end of transmit. Returns when every port reached its
        ``expected_tx`` (if given), else when nothing changed for ``quiet`` seconds, or
        at ``timeout``."""
        deadline = time.monotonic() + timeout
        last_key, since = None, time.monotonic()
        while True:
            st = self.stats(port_ids)
            if expected_tx and all(st[p].tx_pkts >= n for p, n in expected_tx.items()):
                return st
            key = tuple((p, s.tx_pkts, s.rx_pkts) for p, s in sorted(st.items()))
            now = time.monotonic()
            if key != last_key:
                last_key, since = key, now
            elif not expected_tx and now - since >= quiet:
                return st
            if now > deadline:
                return st
            time.sleep(poll)
