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
