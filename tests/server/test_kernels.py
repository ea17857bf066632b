"""segkit.server.kernels: the kernel pool and cap."""
from __future__ import annotations

import pytest


def test_pool_and_cap_follow_the_machine_and_settings():
    """Pool and cap from cores and memory; settings checked with one sentence."""
    from segkit.server import serve
    from segkit.server.kernels import KERNEL_MB, pool_and_cap

    assert pool_and_cap(2, 24_000) == (10, 20)  # this machine: cores bound both
    assert pool_and_cap(8, 4_000) == (6, 6)  # little memory: 0.6 * 4 GB / 350 MB kernels
    assert pool_and_cap(1, 100) == (1, 1)  # never below one
    assert pool_and_cap(64, 10**6)[1] == 640 and KERNEL_MB >= 250
    config = serve.voila_config({"SEGKIT_POOL_SIZE": "3", "SEGKIT_MAX_KERNELS": "7", "SEGKIT_POOL_FILL_DELAY": "0"})
    assert config["CappedKernelManager"] == {"pool_size": "3", "max_visitor_kernels": "7"}
    assert config["VoilaKernelManager"]["fill_delay"] == 0.0
    for name, value in (("SEGKIT_POOL_SIZE", "many"), ("SEGKIT_MAX_KERNELS", "0"), ("SEGKIT_POOL_FILL_DELAY", "auto")):
        with pytest.raises(SystemExit, match=name):
            serve.voila_config({name: value})


def test_visitors_arriving_together_at_the_cap_free_each_closed_page_once():
    """Ten visitors at once reach a full server: each request shuts down the kernels whose
    page was closed while another request's shutdown is awaited. Each kernel is shut down
    once and no request fails (a KeyError gave some visitors a server error, 7 Dec)."""
    import asyncio
    import logging
    import time

    from segkit.server.kernels import CONNECT_GRACE_SECONDS, CappedKernelManager

    class Full(CappedKernelManager):
        def __init__(self):  # no Voilà around it: only what refuse_when_full reads
            self.cap, self.log, self.shut = 3, logging.getLogger("test"), []
            self._kernel_connections = {}

        def list_kernel_ids(self):
            return list(self.visitors)

        async def shutdown_kernel(self, kernel_id, *args, **kwargs):
            self.shut.append(kernel_id)
            await asyncio.sleep(0.01)

    manager = Full()
    closed_long_ago = time.monotonic() - CONNECT_GRACE_SECONDS - 1
    for kernel_id in ("a", "b", "c", "open-1", "open-2"):
        manager.visitors[kernel_id] = closed_long_ago
    manager._kernel_connections.update({"open-1": 1, "open-2": 1})  # two pages still open

    async def ten_at_once():
        return await asyncio.gather(*(manager.refuse_when_full() for _ in range(10)), return_exceptions=True)

    results = asyncio.run(ten_at_once())
    assert results == [None] * 10, results
    assert sorted(manager.shut) == ["a", "b", "c"] and sorted(manager.visitors) == ["open-1", "open-2"]
