"""Jobs built on runs and on the Drone and DUT adapters: the preflight (``check``), the capacity
probe, sweeps, and ``verify``. Each takes the same openers a run takes (:class:`~ostinato_tcp.run.Openers`)."""
