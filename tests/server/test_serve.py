"""segkit.server.serve: the serve command line and the Voila settings it writes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def test_voila_command_and_environment(tmp_path):
    from segkit.server import serve

    command = serve.voila_command(9999, open_browser=False)
    assert command[1:3] == ["-m", "voila"] and command[3].endswith("dashboard.ipynb")
    for option in ("--port=9999", "--Voila.ip=127.0.0.1", "--preheat_kernel=True", "--show_tracebacks=False",
                   "--no-browser", "--template=segkit"):
        assert option in command
    env = serve.voila_environment({"SEGKIT_CACHE": str(tmp_path), "JUPYTER_PATH": "/elsewhere"})
    paths = env["JUPYTER_PATH"].split(":")
    assert paths[0] == str(serve.TEMPLATE_ROOT) and paths[-1] == "/elsewhere"
    bundle = Path(paths[1]) / "voila" / env[serve.PLOTLY_BUNDLE_ENV]
    assert bundle.is_file() and bundle.stat().st_size > 1_000_000
    assert (serve.TEMPLATE_ROOT / "voila" / "templates" / "segkit" / "index.html.j2").is_file()


def test_serve_rejects_a_bad_port(capsys):
    from segkit.server import serve

    with pytest.raises(SystemExit):
        serve.main(["--port", "eighty"])
    assert "not a port number" in capsys.readouterr().err


def test_voila_command_limits_uploads_and_culls_idle_kernels():
    import json as _json

    from segkit.server import serve

    command = serve.voila_command(9999, open_browser=False, env={"SEGKIT_MAX_UPLOAD_MB": "3",
                                                                  "SEGKIT_CULL_IDLE_SECONDS": "900"})
    settings = [c for c in command if c.startswith("--Voila.tornado_settings=")]
    assert len(settings) == 1
    limit = _json.loads(settings[0].split("=", 1)[1])["websocket_max_message_size"]
    assert limit == 2 * 3 * 2**20 + 2**20 and isinstance(limit, int)
    for option in ("--MappingKernelManager.cull_idle_timeout=900", "--MappingKernelManager.cull_interval=60",
                   "--MappingKernelManager.cull_connected=False", "--VoilaExecutor.iopub_timeout=120",
                   "--VoilaConfiguration.file_allowlist=(?!)"):
        assert option in command
    assert serve.max_upload_bytes({}) == 50 * 2**20
    with pytest.raises(ValueError, match="SEGKIT_MAX_UPLOAD_MB"):
        serve.max_upload_bytes({"SEGKIT_MAX_UPLOAD_MB": "lots"})


@pytest.mark.slow
def test_serve_with_a_token_turns_away_visitors_without_it(tmp_path):
    """`python -m segkit.server.serve --token=...`: the page needs ?token=, a wrong one is refused."""
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from segkit.server import serve

    port = serve.free_port()
    env = {**os.environ, "SEGKIT_ARTIFACTS": str(tmp_path), "SEGKIT_DATA": ""}
    process = subprocess.Popen([sys.executable, "-m", "segkit.server.serve", f"--port={port}", "--no-browser",
                                "--token=s3cret-token"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=serve.PROJECT_ROOT)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def status(query: str) -> int:
        try:
            return opener.open(f"http://127.0.0.1:{port}/{query}", timeout=60).status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                code = status("?token=s3cret-token")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(1)
        assert code == 200
        assert status("") in (302, 403)
        assert status("?token=wrong") in (302, 403)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_voila_json_holds_the_same_settings_as_make_run():
    """`voila dashboard.ipynb` in the project root reads voila.json: the same template,
    limits, pool and culling as `python -m segkit.server.serve` with default settings."""
    from segkit.server import serve

    assert json.loads(serve.VOILA_JSON.read_text()) == serve.voila_config({})
    command = serve.voila_command(8866, open_browser=False, env={})
    config = serve.voila_config({})
    assert f"--template={config['VoilaConfiguration']['template']}" in command
    assert "--Voila.tornado_settings=" + json.dumps(config["Voila"]["tornado_settings"]) in command
    for section in ("MappingKernelManager", "CappedKernelManager", "VoilaKernelManager"):
        for key, value in config[section].items():
            assert f"--{section}.{key}={value}" in command
    assert "--VoilaConfiguration.multi_kernel_manager_class=segkit.server.kernels.CappedKernelManager" in command


@pytest.mark.slow
def test_serve_analyst_flag_sets_analyst_mode(monkeypatch):
    from segkit.server import serve

    seen = {}
    monkeypatch.setattr(serve.os, "execve", lambda path, args, env: seen.update(env=env, args=args))
    monkeypatch.delenv("SEGKIT_ANALYST", raising=False)
    serve.main(["--port", "9999", "--no-browser", "--no-train"])  # never train into the project's artifacts/
    assert seen["env"].get("SEGKIT_ANALYST", "") == ""
    serve.main(["--port", "9999", "--no-browser", "--analyst", "--no-train"])
    assert seen["env"]["SEGKIT_ANALYST"] == "1"
