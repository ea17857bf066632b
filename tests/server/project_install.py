"""Installing the project as a user would, one build at a time (for the install tests)."""
from __future__ import annotations

import fcntl
import subprocess
import sys
import tempfile
from pathlib import Path


def pip_install_project(*options: str, timeout: int = 600):
    """``pip install <options> <the project>`` (a real build, as a user's install makes),
    one at a time: pip builds in the source tree (build/, *.egg-info), so two tests building
    at once (``make test`` runs on both cores) could trip over each other's files."""
    root = Path(__file__).resolve().parents[2]
    with open(Path(tempfile.gettempdir()) / "segkit-test-pip-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *options, str(root)],
                              capture_output=True, text=True, timeout=timeout, check=False)
