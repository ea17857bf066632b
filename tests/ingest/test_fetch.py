"""`segkit fetch-data` against a local HTTP server (no internet in tests)."""
from __future__ import annotations

import functools
import http.server
import io
import threading
import zipfile

import pytest

from segkit.errors import SegkitDataError
from segkit.ingest.fetch import WORKBOOK_NAME, fetch_data
from segkit.ingest.load import load_transactions


@pytest.fixture
def server(tmp_path, sample_log):
    root = tmp_path / "www"
    root.mkdir()
    buffer = io.BytesIO()
    sample_log.head(300).to_excel(buffer, index=False, sheet_name="Online Retail")
    with zipfile.ZipFile(root / "online+retail.zip", "w") as archive:
        archive.writestr("Online Retail.xlsx", buffer.getvalue())
    (root / "broken.zip").write_bytes(b"this is not a zip")
    with zipfile.ZipFile(root / "empty.zip", "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_fetch_saves_a_loadable_workbook(tmp_path, server):
    path = fetch_data(tmp_path / "data", f"{server}/online+retail.zip")
    assert path.name == WORKBOOK_NAME
    assert len(load_transactions(path, use_cache=False)) == 300
    assert [p.name for p in (tmp_path / "data").iterdir()] == [WORKBOOK_NAME]


@pytest.mark.parametrize("name, message", [
    ("broken.zip", "not a zip archive"),
    ("empty.zip", "no .xlsx workbook"),
    ("missing.zip", "HTTP 404"),
])
def test_bad_downloads_leave_nothing_behind(tmp_path, server, name, message):
    with pytest.raises(SegkitDataError, match=message):
        fetch_data(tmp_path / "data", f"{server}/{name}")
    assert not any((tmp_path / "data").glob("*")) if (tmp_path / "data").exists() else True


def test_unreachable_host_says_how_to_get_the_file(tmp_path):
    with pytest.raises(SegkitDataError, match="download it by hand"):
        fetch_data(tmp_path, "http://127.0.0.1:9/online+retail.zip", timeout=5)
