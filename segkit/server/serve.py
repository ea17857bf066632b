"""Serve the dashboard: ``python -m segkit.server.serve [--port N] [--no-browser]`` (``make run``).

Starts Voilà on 127.0.0.1 (port 8866, or ``--port`` / ``SEGKIT_PORT``) serving only
``dashboard.ipynb``, with:

- a pool of pre-executed kernels sized from the machine's cores and memory, and a cap on
  kernels serving visitors with a "busy, trying again" page past it
  (``segkit.server.kernels.CappedKernelManager``; ``SEGKIT_POOL_SIZE``, ``SEGKIT_MAX_KERNELS``);
  the pool refills ``SEGKIT_POOL_FILL_DELAY`` seconds (default 30) after a visitor takes
  a kernel, so refills do not compete with the pages being drawn. Each kernel opens from
  the shared page cache (``segkit.page.page_cache``; its cost: docs/benchmarks.md);
- when the page follows a folder of files with a saved model, the page refresher
  (``segkit.live.refresher``) started first, as a process of its own: it computes
  each new folder state once and every open page only reads it (``start_refresher``);
  it stops with the server;
- on the first start on new data, the model trained and saved before anything else
  (``segkit.server.first_start``, as ``segkit train`` does: lifetime value, backtest
  evidence), so every page shows the saved model; ``--no-train`` skips it;
- the page prepared once before Voilà starts (``prepare_page``): a process of its own opens
  it as a kernel would, so the customer table and the page cache are on disk before the
  pool's kernels run the notebook; otherwise the first kernel computes them (loading the
  lines and scikit-learn, which it then keeps for its visitor) while the others wait;
- tracebacks hidden from visitors (``--show_tracebacks=False``);
- only ``dashboard.ipynb``: no other file of the project folder under ``/voila/files/``
  (``file_allowlist`` that matches nothing), no tree view;
- uploads limited to ``$SEGKIT_MAX_UPLOAD_MB`` (default 50 MB): the dashboard refuses a
  larger file with a message on the page, and tornado drops any websocket message above
  twice that plus 1 MB (``websocket_max_message_size``), so a huge upload cannot fill
  the server's or the kernel's memory (the page then says it lost the connection);
- idle kernels culled: a kernel no browser has been connected to for
  ``$SEGKIT_CULL_IDLE_SECONDS`` (default 600) seconds is shut down, checked every 60 s;
  the pre-heated kernel waiting for the next visitor is never culled (Voilà's pool);
- the ``segkit`` Voilà template (``segkit/jupyter/voila/templates/segkit``): Voilà's lab
  template without its Font Awesome links to cdn.jsdelivr.net, so rendering needs no
  outside host (the icons are bundled in Voilà's own CSS);
- plotly's widget bundle served once as a static file of that template (a copy in
  ``<cache>/voila``), named to the kernel by ``SEGKIT_PLOTLY_BUNDLE``. Why: every plotly
  ``FigureWidget`` otherwise ships its own 5 MB copy of plotly.js through the kernel
  (anywidget ``_esm``), and the browser evaluates each copy, once per chart. See
  ``segkit.dashboard.figure_widget_class``.

``voila_command`` and ``voila_environment`` build the same command line and environment
for the browser tests.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Mapping, Sequence

from segkit.config import PROJECT_ROOT, default_data_path, is_multi_file, settings

# The template folder, plotly's bundle beside it and the environment naming both
# (``segkit.server.bundle``: the kernel manager uses them too).
from segkit.server.bundle import (
    PLOTLY_BUNDLE_ENV,
    TEMPLATE_ROOT,
    serve_plotly_bundle,
    voila_environment,
)

__all__ = [
    "DEFAULT_PORT", "DASHBOARD_NOTEBOOK", "CULL_IDLE_ENV", "MAX_UPLOAD_ENV", "max_upload_bytes",
    "websocket_limit_bytes", "TEMPLATE_ROOT", "PLOTLY_BUNDLE_ENV", "installed_bundle_path", "install_template",
    "voila_config", "write_voila_json", "VOILA_JSON", "voila_command", "voila_environment", "serve_plotly_bundle", "free_port", "start_voila", "prepare_page", "train_first", "start_refresher", "REFRESHER_START_SECONDS",
    "wait_until_preheated", "wait_until_pool_ready", "main",
]

DEFAULT_PORT = 8866
#: Upload limit in MB (the dashboard refuses larger files; the websocket limit follows it).
MAX_UPLOAD_ENV = "SEGKIT_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 50.0
#: Seconds an idle kernel without a connected browser lives before it is shut down.
CULL_IDLE_ENV = "SEGKIT_CULL_IDLE_SECONDS"
DEFAULT_CULL_IDLE_SECONDS = 600
CULL_INTERVAL_SECONDS = 60
DASHBOARD_NOTEBOOK = PROJECT_ROOT / "dashboard.ipynb"


def max_upload_bytes(env: Mapping[str, str] | None = None) -> int:
    """The upload limit in bytes: ``$SEGKIT_MAX_UPLOAD_MB`` (default 50 MB) of ``env``
    (default ``os.environ``)."""
    env = os.environ if env is None else env
    text = env.get(MAX_UPLOAD_ENV, "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        megabytes = -1.0
    if not megabytes > 0:
        raise ValueError(f"{MAX_UPLOAD_ENV}={text!r} is not a number of megabytes above 0; "
                         f"set e.g. {MAX_UPLOAD_ENV}=50.")
    return int(megabytes * 2**20)


def websocket_limit_bytes(env: Mapping[str, str] | None = None) -> int:
    """Largest websocket message tornado accepts: twice the upload limit plus 1 MB, so a
    file just over the limit still reaches the dashboard, which says it is too large."""
    return 2 * max_upload_bytes(env) + 2**20


def _cull_idle_seconds(env: Mapping[str, str]) -> int:
    text = env.get(CULL_IDLE_ENV, "").strip()
    try:
        return int(text) if text else DEFAULT_CULL_IDLE_SECONDS
    except ValueError:
        raise SystemExit(f"{CULL_IDLE_ENV}={text!r} is not a number of seconds; set e.g. {CULL_IDLE_ENV}=600.") from None


#: Seconds between a visitor taking a pre-executed kernel and its refill (Voilà's default: 1).
DEFAULT_FILL_DELAY_SECONDS = 30


def voila_config(env: Mapping[str, str] | None = None) -> dict:
    """Voilà's settings for the dashboard, by configurable class (limits read from ``env``,
    default ``os.environ``). ``voila_command`` passes them on the command line and
    ``voila.json`` in the project root holds them for the defaults, so a plain
    ``voila dashboard.ipynb`` started there serves the same page (``write_voila_json``)."""
    # start-up: jupyter_server loads only to serve, not on import (1.9 s, measured)
    from segkit.server.kernels import (
        FILL_DELAY_ENV,
        MAX_KERNELS_ENV,
        POOL_SIZE_ENV,
        setting,
    )

    env = os.environ if env is None else env
    cull_idle = _cull_idle_seconds(env)
    return {
        "VoilaConfiguration": {
            "template": "segkit",
            "preheat_kernel": True,
            # Voilà's own pool size; CappedKernelManager replaces it with its pool_size.
            "default_pool_size": 1,
            "multi_kernel_manager_class": "segkit.server.kernels.CappedKernelManager",
            "show_tracebacks": False,
            # Only the notebook is served, no other file of the project folder ("(?!)" matches nothing).
            "file_allowlist": ["(?!)"],
            # plotly's JupyterLab extension renders plotly *outputs* with its own 5 MB copy of
            # plotly.js; the dashboard only has FigureWidgets, so the page need not load it.
            "extension_denylist": ["jupyterlab-plotly"],
        },
        "Voila": {
            "ip": "127.0.0.1",
            "port": DEFAULT_PORT,
            "tornado_settings": {"websocket_max_message_size": websocket_limit_bytes(env)},
        },
        # Voilà's kernel manager is a jupyter_server MappingKernelManager; cull_connected
        # stays False, so a page someone has open is never culled.
        "CappedKernelManager": {
            "pool_size": setting(env, POOL_SIZE_ENV),
            "max_visitor_kernels": setting(env, MAX_KERNELS_ENV),
        },
        "VoilaKernelManager": {"fill_delay": float(setting(env, FILL_DELAY_ENV, str(DEFAULT_FILL_DELAY_SECONDS)))},
        "MappingKernelManager": {
            "cull_idle_timeout": cull_idle,
            "cull_interval": CULL_INTERVAL_SECONDS if cull_idle > 0 else 0,
            "cull_connected": False,
        },
        # nbclient waits 4 s for a cell's output after the kernel says it is done; with
        # several visitors' kernels building the page at once on a small machine the app's
        # output came later and the page rendered without it (load test: 6 of 10 pages).
        "VoilaExecutor": {"iopub_timeout": 120},
    }


#: ``voila.json`` in the project root (Voilà reads it from the folder it starts in).
VOILA_JSON = PROJECT_ROOT / "voila.json"


def write_voila_json(path: str | Path = VOILA_JSON) -> Path:
    """Write ``voila_config({})`` (the defaults) to ``path`` as Voilà's JSON config."""
    path = Path(path)
    path.write_text(json.dumps(voila_config({}), indent=2) + "\n")
    return path


def voila_command(port: int = DEFAULT_PORT, open_browser: bool = True, notebook: str | Path = DASHBOARD_NOTEBOOK,
                  extra: Sequence[str] = (), env: Mapping[str, str] | None = None) -> list[str]:
    """The Voilà command line that serves the dashboard on 127.0.0.1:``port`` with
    ``voila_config(env)`` (limits read from ``env``, default ``os.environ``)."""
    config = voila_config(env)
    voila, options = config["VoilaConfiguration"], []
    command = [
        sys.executable, "-m", "voila", str(notebook),
        f"--port={int(port)}", f"--Voila.ip={config['Voila']['ip']}",
        f"--template={voila['template']}",
        f"--preheat_kernel={voila['preheat_kernel']}", f"--pool_size={voila['default_pool_size']}",
        f"--show_tracebacks={voila['show_tracebacks']}",
        f"--VoilaConfiguration.file_allowlist={voila['file_allowlist'][0]}",
        f"--VoilaConfiguration.extension_denylist={voila['extension_denylist'][0]}",
        # A dict literal: "key=value" would hand tornado the number as text.
        "--Voila.tornado_settings=" + json.dumps(config["Voila"]["tornado_settings"]),
    ]
    command.append(f"--VoilaConfiguration.multi_kernel_manager_class={voila['multi_kernel_manager_class']}")
    for section in ("CappedKernelManager", "VoilaKernelManager", "MappingKernelManager", "VoilaExecutor"):
        for key, value in config[section].items():
            options.append(f"--{section}.{key}={value}")
    command += options
    if not open_browser:
        command.append("--no-browser")
    return command + list(extra)


def installed_bundle_path(prefix: str | Path | None = None) -> str | None:
    """The bundle's URL path when the segkit template, with plotly's bundle, is installed
    in this environment's Jupyter data folder (``install_template``), else ``None``.

    That is how a plain ``voila dashboard.ipynb`` (``voila.json``) serves the same page as
    ``make run``: Voilà finds the template in ``<prefix>/share/jupyter``."""
    # optional: dashboard
    import plotly

    prefix = Path(sys.prefix if prefix is None else prefix)
    name = f"plotly-widget-{plotly.__version__}.js"
    if (prefix / "share" / "jupyter" / "voila" / "templates" / "segkit" / "static" / name).is_file():
        return f"templates/segkit/static/{name}"
    return None


def install_template(prefix: str | Path | None = None) -> Path:
    """Copy the segkit Voilà template and plotly's bundle into ``<prefix>/share/jupyter``
    (default: this environment), where a plain ``voila`` finds them; returns the folder."""
    prefix = Path(sys.prefix if prefix is None else prefix)
    root = prefix / "share" / "jupyter"
    target = root / "voila" / "templates" / "segkit"
    target.mkdir(parents=True, exist_ok=True)
    for source in (TEMPLATE_ROOT / "voila" / "templates" / "segkit").iterdir():
        if source.is_file():
            shutil.copyfile(source, target / source.name)
    serve_plotly_bundle(root)
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: What ``prepare_page`` runs: the page as a kernel opens it, and for a log aggregated out of
#: core the table its date and category filters read (``dashboard.large_log``).
_PREPARE_PAGE = """
from segkit.dashboard import build_app
page = getattr(build_app(), "dashboard", None)
large_log = getattr(getattr(page, "state", None), "large_log", None)
if large_log is not None:
    large_log.prepare()
"""


#: Longest wait for the page refresher's first snapshot (it reads the whole log once).
REFRESHER_START_SECONDS = 900.0


def start_refresher(env: Mapping[str, str], watch_pid: int | None = None, stderr=None,
                    timeout: float = REFRESHER_START_SECONDS):
    """Start the page refresher (``segkit.live.refresher``) with ``env`` and wait for
    its first line; returns ``(process, line)``: ``process`` is ``None`` when it does not
    follow (the page's data is not a folder, no saved model: ``line`` says why), or when it
    failed to start within ``timeout`` (it is stopped; pages then compute their own
    refreshes). It stops by itself when ``watch_pid`` (default this process) ends;
    ``stderr``: where its log goes (default: this process's)."""
    command = [sys.executable, "-m", "segkit.live.refresher", "--watch-pid", str(watch_pid or os.getpid())]
    process = subprocess.Popen(command, env=dict(env), cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stderr,
                               text=True)
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline().strip()), daemon=True)
    reader.start()
    reader.join(timeout)
    line = first[0] if first else ""
    if line.startswith("ready"):
        return process, line
    if line.startswith("not following"):
        return None, line
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)
        return None, f"the page refresher did not start within {timeout:.0f} s; pages compute their own refreshes"
    return None, f"the page refresher stopped (exit code {process.returncode}); pages compute their own refreshes"


def prepare_page(env: Mapping[str, str]) -> float:
    """Open the page once, in a process of its own, as a dashboard kernel would (same data,
    saved model and cache as ``env`` names), so what it computes (the customer table, the
    page cache; for a log aggregated out of core, the table of its date and category
    filters) is on disk before any kernel starts; returns the seconds it took.

    A page that cannot be opened (bad data, no model) is left to the kernels, which show
    the reason to the visitor; nothing is raised here.
    """
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _PREPARE_PAGE], env=dict(env), cwd=PROJECT_ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def train_first(env: Mapping[str, str], stdout=None) -> int:
    """Train and save the model when none fits the page's data (``first_start.prepare_model``),
    in a process of its own with ``env``; its lines go to ``stdout`` (default: this
    process's). Returns its exit code (2: it failed and said why on stderr)."""
    command = [sys.executable, "-m", "segkit.server.first_start"]
    return subprocess.run(command, env=dict(env), cwd=PROJECT_ROOT, stdout=stdout,
                          stderr=subprocess.STDOUT if stdout is not None else None).returncode


def start_voila(port: int, env: Mapping[str, str] | None = None, log_path: str | Path | None = None,
                first_start: bool = False):
    """Start the dashboard server in the background (for tests and screenshot scripts), the
    page refresher started and the page prepared first as ``main`` does (``start_refresher``,
    ``prepare_page``); with ``first_start``, the model trained and saved before, as ``main``
    does (``train_first``; tests of a page without a saved model leave it off).

    Returns the ``VoilaServer`` (a ``subprocess.Popen``; ``refresher``: the page refresher's
    process or ``None``); its output and the refresher's log go to ``log_path`` (or are
    dropped). The caller stops it (``terminate()``, which stops the refresher too, then ``wait()``).
    """
    output = open(log_path, "w") if log_path else subprocess.DEVNULL
    environment = voila_environment(env)
    if first_start and train_first(environment, stdout=output) != 0:
        raise RuntimeError(f"The first start's training failed; see {log_path}")
    refresher, _ = start_refresher(environment, stderr=output)
    prepare_page(environment)
    server = VoilaServer(voila_command(port, open_browser=False, env=environment), env=environment,
                         stdout=output, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    server.refresher = refresher
    return server


class VoilaServer(subprocess.Popen):
    """The Voilà process ``start_voila`` started; stopping it stops its page refresher too."""

    refresher: subprocess.Popen | None = None

    def terminate(self) -> None:
        self._stop_refresher()
        super().terminate()

    def kill(self) -> None:
        self._stop_refresher()
        super().kill()

    def _stop_refresher(self) -> None:
        if self.refresher is not None and self.refresher.poll() is None:
            self.refresher.terminate()
            try:
                self.refresher.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.refresher.kill()


def wait_until_preheated(port: int, log_path: str | Path, timeout: float = 180.0, process=None) -> str:
    """Wait until the newest pre-heated kernel has run the notebook; returns its id.

    Reads the kernel id from Voilà's log and polls ``/api/kernels/<id>`` until the
    kernel, having been busy running the notebook, is idle again.
    """
    deadline = time.monotonic() + timeout
    kernel_id, seen_busy, idle_since = None, False, None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Voilà stopped (exit code {process.returncode}); see {log_path}")
        started = re.findall(r"Kernel started: ([0-9a-f-]{36})", Path(log_path).read_text(errors="replace"))
        if started:
            if started[-1] != kernel_id:
                kernel_id, seen_busy, idle_since = started[-1], False, None
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernels/{kernel_id}", timeout=5) as reply:
                    state = json.load(reply).get("execution_state")
            except OSError:
                state = None
            if state == "busy":
                seen_busy, idle_since = True, None
            elif state == "idle":
                idle_since = idle_since or time.monotonic()
                # Idle for a while after running, or idle for long without a visible busy spell.
                if (seen_busy and time.monotonic() - idle_since > 1.0) or time.monotonic() - idle_since > 20:
                    return kernel_id
        time.sleep(0.2)
    raise TimeoutError(f"No pre-heated dashboard kernel was ready within {timeout:.0f} s; see {log_path}")


def wait_until_pool_ready(port: int, log_path: str | Path, kernels: int, timeout: float = 300.0,
                          process=None, fills: int = 1) -> list[str]:
    """Wait until Voilà's pool holds ``kernels`` kernels that have all run the notebook:
    the log says the pool was filled ``fills`` times (once at start, once more per kernel
    a visitor took) and every kernel has been idle for 3 s; returns the kernels' ids."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Voilà stopped (exit code {process.returncode}); see {log_path}")
        log = Path(log_path).read_text(errors="replace")
        if log.count("is filled with") >= fills:
            # Voilà answers /api/kernels/<id> only (no listing): the ids come from its log.
            ended = set(re.findall(r"Kernel shutdown: ([0-9a-f-]{36})", log))
            states = {}
            for kernel_id in dict.fromkeys(re.findall(r"Kernel started: ([0-9a-f-]{36})", log)):
                if kernel_id in ended:
                    continue
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernels/{kernel_id}", timeout=5) as reply:
                        states[kernel_id] = json.load(reply).get("execution_state")
                except OSError:
                    pass  # shut down or culled since
            if len(states) >= kernels and all(state == "idle" for state in states.values()):
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 3.0:
                    return list(states)
            else:
                idle_since = None
        time.sleep(0.25)
    raise TimeoutError(f"Voilà's pool did not hold {kernels} ready kernels within {timeout:.0f} s; see {log_path}")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number; use e.g. --port 8866.") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535); use e.g. --port 8866.")
    return port


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m segkit.server.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=_port, default=None,
                        help=f"port on 127.0.0.1 (default: SEGKIT_PORT or {DEFAULT_PORT})")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--token", default=os.environ.get("SEGKIT_TOKEN") or None,
                        help="require this token (?token=...) from visitors (default: SEGKIT_TOKEN; none)")
    parser.add_argument("--analyst", action="store_true",
                        help="analyst mode: visitors may retrain and save the model (same as SEGKIT_ANALYST=1); "
                             "by default the page is read-only")
    parser.add_argument("--no-train", action="store_true",
                        help="do not train and save the model first when none fits the data (each page then "
                             "computes its own segments, without lifetime value)")
    parser.add_argument("--install-template", action="store_true",
                        help="copy the segkit Voila template and plotly's bundle into this environment (what a "
                             "plain `voila dashboard.ipynb` with the project's voila.json needs), then exit")
    args = parser.parse_args(argv)

    missing = [name for name in ("voila", "ipywidgets", "anywidget", "plotly") if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(f"The dashboard needs {', '.join(missing)}, which this installation lacks; install them "
                         "with: pip install 'segkit[dashboard]' (or run `make run`, which does).")
    if args.install_template:
        print(f"Installed the segkit Voila template in {install_template()}", flush=True)
        return
    port = args.port
    if port is None:
        try:
            port = _port(os.environ.get("SEGKIT_PORT", "") or str(DEFAULT_PORT))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"SEGKIT_PORT: {exc}")
    command = voila_command(port, open_browser=not args.no_browser,
                            extra=[f"--token={args.token}"] if args.token else ())
    # start-up: jupyter_server loads only to serve, not on import (1.9 s, measured)
    from segkit.server.kernels import MAX_KERNELS_ENV, POOL_SIZE_ENV, planned_sizes

    pool, cap = planned_sizes()
    print(f"Uploads up to {max_upload_bytes() / 2**20:g} MB; idle kernels culled after "
          f"{_cull_idle_seconds(os.environ)} s; {pool} pre-executed kernel(s), "
          f"at most {cap} pages at once ({POOL_SIZE_ENV}, {MAX_KERNELS_ENV}).",
          flush=True)
    environment = voila_environment()
    if args.analyst:
        environment["SEGKIT_ANALYST"] = "1"

    mode = ("analyst mode: visitors may retrain and save the model" if settings(environment).analyst
            else "read-only for visitors (--analyst to allow retraining)")
    if not args.no_train:
        code = train_first(environment)  # the saved model every page (and the refresher) reads
        if code != 0:
            raise SystemExit(code)

    source = default_data_path()
    if source is not None and is_multi_file(source):  # it reads the whole log once: say so meanwhile
        print(f"Starting the page refresher (it reads {source} once, then follows it) ...", flush=True)
    refresher, said = start_refresher(environment)  # stops when this process (then Voilà) ends
    if not said.startswith("not following") or (source is not None and is_multi_file(source)):
        print(f"Page refresher: {said}", flush=True)
    print("Preparing the page (the customer table and segments every kernel reads) ...", end=" ", flush=True)
    print(f"done in {prepare_page(environment):.1f} s", flush=True)
    print(f"Serving the dashboard on http://127.0.0.1:{port}/ ({mode}; Ctrl+C stops it)", flush=True)
    os.execve(command[0], command, environment)


if __name__ == "__main__":
    main()
