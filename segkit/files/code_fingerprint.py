"""The key every disk cache shares: a hash of segkit's own source.

Caches of clean lines, customer tables and page caches include ``code_fingerprint()``
in their keys, so any change to any module of the package (all subpackages included)
invalidates them.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["code_fingerprint"]

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def code_fingerprint() -> str:
    """16 hex digits hashing the path and bytes of every ``.py`` file under ``segkit/``."""
    digest = hashlib.sha256()
    for source in sorted(PACKAGE_ROOT.rglob("*.py")):
        digest.update(source.relative_to(PACKAGE_ROOT).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]
