"""``import segkit``: the main API in one place, light to import, with an example that runs."""
from __future__ import annotations

import doctest
import subprocess
import sys

import segkit


def test_the_package_example_runs():
    result = doctest.testmod(segkit, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 7 and result.failed == 0


def test_every_public_name_resolves_and_says_what_it_does():
    for name in segkit.__all__:
        value = getattr(segkit, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), f"segkit.{name} has no docstring"
    assert "SegmentationModel" in dir(segkit)


def test_importing_segkit_loads_no_data_stack():
    code = "import sys, segkit; print(sorted(m for m in ('pandas', 'sklearn', 'ibis', 'duckdb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
