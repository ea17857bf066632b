"""Dashboard kernels on a shared server: a pool sized from the machine, a cap on live
kernels, and a "busy" page instead of an overloaded machine.

Voilà gives every visitor a kernel of their own and has no limit on how many run at
once (voila-dashboards/voila#617): past what the machine holds, every visitor waits for
everyone. ``CappedKernelManager`` is the kernel manager Voilà builds its pool on
(``VoilaConfiguration.multi_kernel_manager_class``, set by ``segkit.server.serve`` and the
project's ``voila.json``):

- **pool**: ``pool_size`` pre-executed kernels (``"auto"``: ``pool_and_cap()`` from the
  cores and the memory), refilled ``fill_delay`` seconds after a visitor takes one
  (``segkit.server.serve`` sets it), so refills do not compete with the pages being drawn;
- **cap**: at most ``max_visitor_kernels`` kernels serving visitors (``"auto"``: from the
  machine). A visitor past the cap gets the ``503.html`` page of the segkit template
  (HTTP 503): busy, how many pages are open, and that it tries again by itself in 30 s.
  At the cap, kernels whose page was closed are shut down first (Voilà leaves them to
  the idle culling, minutes later), so a closed page frees its place at once.

Environment: ``SEGKIT_POOL_SIZE`` and ``SEGKIT_MAX_KERNELS`` (a number, or ``auto``).

It is also the one piece of segkit a plain ``voila dashboard.ipynb`` runs before it renders
a page (voila.json names it), so it checks that Voilà found the ``segkit`` template
(``use_packaged_template``): installed as Jupyter data files (``<prefix>/share/jupyter``,
pyproject's ``data-files``), or else the copy inside the package (an editable install
has no data files); failing both the server stops at once with one sentence, instead of
a page that never loads (``TemplateNotFound: index.html.j2``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado.web import HTTPError
from traitlets import Unicode

from segkit.server.bundle import voila_environment

__all__ = ["CappedKernelManager", "use_packaged_template", "PACKAGED_TEMPLATES", "pool_and_cap", "KERNEL_MB", "POOL_SIZE_ENV", "MAX_KERNELS_ENV", "FILL_DELAY_ENV",
           "machine", "setting", "planned_sizes"]

POOL_SIZE_ENV = "SEGKIT_POOL_SIZE"
MAX_KERNELS_ENV = "SEGKIT_MAX_KERNELS"
#: Seconds after a visitor takes a pre-executed kernel before the pool refills it.
FILL_DELAY_ENV = "SEGKIT_POOL_FILL_DELAY"
#: Memory to plan per dashboard kernel: a page opened from its page cache (measured:
#: docs/benchmarks.md, "Ten visitors at once"), plus room for a visitor's date filter
#: reading the lines.
KERNEL_MB = 350
#: Share of the memory available at start-up that kernels may take.
MEMORY_SHARE = 0.6
#: Pre-executed kernels per core, and live kernels per core (a kernel is idle while its
#: visitor reads; each filter change costs it well under a second of CPU).
POOL_PER_CORE = 5
LIVE_PER_CORE = 10
#: Seconds a visitor's page has to connect to its kernel before the kernel counts as left.
CONNECT_GRACE_SECONDS = 30
#: The Jupyter data folder inside the package that holds ``voila/templates/segkit``.
PACKAGED_TEMPLATES = Path(__file__).resolve().parent.parent / "jupyter"
TEMPLATE = "segkit"


def _has_template(paths, name: str = TEMPLATE) -> bool:
    return any(Path(p).name == name and (Path(p) / "index.html.j2").is_file() for p in paths or ())


def use_packaged_template(app, packaged: Path = PACKAGED_TEMPLATES) -> str:
    """Make a Voilà app (``app``: its ``template_paths``, ``static_paths`` and
    ``voila_configuration.template``) find the segkit template before it renders a page.

    Returns "installed" (found in the Jupyter data folders), "packaged" (taken from
    ``packaged``, the package's own copy: an editable install) or "other" (another
    template is configured). Raises ``SystemExit`` with one sentence when it is found
    nowhere: Voilà would otherwise start and never serve the page."""
    configuration = getattr(app, "voila_configuration", None)
    if configuration is None or getattr(configuration, "template", None) != TEMPLATE:
        return "other"
    if _has_template(getattr(app, "template_paths", ())):
        return "installed"
    if (packaged / "voila" / "templates" / TEMPLATE / "index.html.j2").is_file():
        # optional: dashboard
        from voila.paths import collect_static_paths, collect_template_paths

        # On JUPYTER_PATH (read on every call of jupyter_path()): the static files of the
        # template are looked up per request (voila's TemplateStaticFileHandler) as well.
        # As `make run` does (bundle.voila_environment), plotly's bundle is served beside it
        # and named to the kernels this server starts (they inherit its environment).
        if packaged == PACKAGED_TEMPLATES:
            os.environ.update({k: v for k, v in voila_environment(os.environ).items()
                               if k in ("JUPYTER_PATH", "SEGKIT_PLOTLY_BUNDLE")})
        else:
            paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
            os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys([str(packaged)] + paths))
        template_paths = collect_template_paths(["voila", "nbconvert"], TEMPLATE, prune=True)
        if _has_template(template_paths):
            static = collect_static_paths(["voila", "nbconvert"], TEMPLATE)
            app.template_paths = template_paths
            app.static_paths = static + [p for p in getattr(app, "static_paths", []) if p not in static]
            return "packaged"
    raise SystemExit(
        f"The segkit Voila template (voila/templates/{TEMPLATE}/index.html.j2) is not installed in any Jupyter data "
        f"folder nor in the segkit package at {packaged}; reinstall segkit with pip install 'segkit[dashboard]' "
        "(or run python -m segkit.server.serve --install-template) and start voila again.")


def machine() -> tuple[int, int]:
    """``(cores, available memory in MB)`` of this machine (Linux ``/proc/meminfo``;
    4 GB assumed where it cannot be read)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/meminfo") as info:
            fields = dict(line.split(":", 1) for line in info)
        available = int(fields["MemAvailable"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        available = 4096
    return cores, available


def pool_and_cap(cores: int, memory_mb: int) -> tuple[int, int]:
    """``(pool size, cap on visitor kernels)`` for a machine: the cap is what the memory
    holds (``MEMORY_SHARE`` of it, ``KERNEL_MB`` each) and ``LIVE_PER_CORE`` per core,
    whichever is lower; the pool ``POOL_PER_CORE`` per core, within the cap. At least 1 each."""
    by_memory = int(memory_mb * MEMORY_SHARE // KERNEL_MB)
    cap = max(1, min(by_memory, LIVE_PER_CORE * cores))
    pool = max(1, min(POOL_PER_CORE * cores, cap))
    return pool, cap


def setting(env: Mapping[str, str], name: str, default: str = "auto") -> str:
    """``env[name]`` checked: ``"auto"`` (where ``default`` is) or a whole number, at least
    1 (0 for the pool and the fill delay)."""
    text = (env.get(name) or default).strip().lower()
    if text == "auto" and default == "auto":
        return text
    minimum = 0 if name in (POOL_SIZE_ENV, FILL_DELAY_ENV) else 1
    if not text.isdigit() or int(text) < minimum:
        allowed = "'auto' or a whole number" if default == "auto" else "a whole number"
        raise SystemExit(f"{name}={text!r} is not {allowed} of at least {minimum}; set e.g. {name}={default}.")
    return str(int(text))


def planned_sizes(pool_size: str = "auto", max_kernels: str = "auto",
                  env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(pool size, cap)`` in force: configured values first (``segkit.server.serve``,
    voila.json), then the environment (``SEGKIT_POOL_SIZE``, ``SEGKIT_MAX_KERNELS``: a plain
    `voila dashboard.ipynb` started with them), then ``pool_and_cap`` of this machine."""
    env = os.environ if env is None else env
    pool, cap = pool_and_cap(*machine())
    pool_text = pool_size if pool_size != "auto" else setting(env, POOL_SIZE_ENV)
    cap_text = max_kernels if max_kernels != "auto" else setting(env, MAX_KERNELS_ENV)
    return (pool if pool_text == "auto" else int(pool_text)), (cap if cap_text == "auto" else int(cap_text))


class CappedKernelManager(AsyncMappingKernelManager):
    """Voilà's kernel manager with a machine-sized pool and a cap on visitor kernels."""

    pool_size = Unicode("auto", config=True, help="Pre-executed kernels: a number or 'auto' (from cores and memory).")
    max_visitor_kernels = Unicode("auto", config=True,
                                  help="Most kernels serving visitors at once: a number or 'auto'.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Voilà builds this before its page templates (``Voila.init_settings``): the
        # template is checked, or taken from the package, in time for every page.
        try:
            where = use_packaged_template(self.parent)
        except SystemExit as stop:
            self.log.critical("%s", stop)
            raise
        if where == "packaged":
            self.log.info("segkit: the segkit Voila template is served from the package (%s)", PACKAGED_TEMPLATES)
        self.planned_pool, self.cap = planned_sizes(self.pool_size, self.max_visitor_kernels)
        # Voilà reads the pool size from here when it fills the pool (after this __init__).
        pools = getattr(self, "kernel_pools_config", None)
        if isinstance(pools, dict) and "default" in pools:
            self.kernel_pools_config = {**pools, "default": {**pools["default"], "pool_size": self.planned_pool}}
        self.log.info("segkit: %d pre-executed kernel(s), at most %d serving visitors", self.planned_pool, self.cap)

    def __init_subclass__(cls, **kwargs):
        # Voilà builds its pool manager as a subclass of this one; a visitor taking a
        # pre-executed kernel is checked against the cap like one starting a kernel.
        super().__init_subclass__(**kwargs)
        take = cls.__dict__.get("get_rendered_notebook")
        if take is not None:
            async def get_rendered_notebook(self, *args, **kw):
                await self.refuse_when_full()
                taken = await take(self, *args, **kw)
                self.visitors[taken[2]] = time.monotonic()
                return taken

            cls.get_rendered_notebook = get_rendered_notebook

    @property
    def visitors(self) -> dict[str, float]:
        """Kernels serving visitors (taken from the pool or started for one): id -> when."""
        if not hasattr(self, "_visitor_kernels"):
            self._visitor_kernels: dict[str, float] = {}
        return self._visitor_kernels

    def _left(self, kernel_id: str) -> bool:
        """A visitor kernel whose page is gone: no browser connected, and given
        ``CONNECT_GRACE_SECONDS`` to connect after the page was served."""
        connections = getattr(self, "_kernel_connections", {}).get(kernel_id, 0)
        return connections == 0 and time.monotonic() - self.visitors[kernel_id] > CONNECT_GRACE_SECONDS

    async def refuse_when_full(self) -> None:
        """Make room or raise HTTP 503 (the busy page) when ``cap`` kernels serve visitors.

        Voilà does not shut a kernel down when its page is closed (idle ones are culled
        after minutes); at the cap, kernels whose page has gone are shut down first."""
        running = set(self.list_kernel_ids())
        for kernel_id in [k for k in self.visitors if k not in running]:
            self.visitors.pop(kernel_id, None)
        if len(self.visitors) >= self.cap:
            for kernel_id in [k for k in self.visitors if self._left(k)]:
                # Visitors arriving together each get here while another's shutdown is
                # awaited: the kernel may already be gone from the list (and shut down).
                if self.visitors.pop(kernel_id, None) is None:
                    continue
                self.log.info("segkit: shutting down kernel %s, its page was closed", kernel_id)
                await self.shutdown_kernel(kernel_id)
        visitors = len(self.visitors)
        if visitors >= self.cap:
            self.log.warning("segkit: busy, %d of %d visitor kernels in use; a visitor was asked to retry", visitors,
                             self.cap)
            raise HTTPError(503, reason="Busy",
                            log_message=(f"{visitors} page is open, the most" if visitors == 1 else
                                         f"{visitors} pages are open, the most") + " this server serves at once")

    async def start_kernel(self, *args, **kwargs):
        env = kwargs.get("env") or {}
        for_visitor = env.get("VOILA_PREHEAT") != "True"  # the pool was empty: a kernel of the visitor's own
        if for_visitor:
            await self.refuse_when_full()
        kernel_id = await super().start_kernel(*args, **kwargs)
        if for_visitor:
            self.visitors[kernel_id] = time.monotonic()
        return kernel_id
