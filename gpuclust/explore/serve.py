"""`gpuclust explore RUN_DIR --serve`: the page from a small read-only server on 127.0.0.1.

It answers on the loopback address only, to requests naming it as their Host (a page of another site
that rebinds its own name to 127.0.0.1 is refused), GET and HEAD only; each request on its own thread
(a browser keeps idle connections open, which would block a one-at-a-time server):

    /                     the run's explore.html
    /<file>               a file inside the run directory (nothing outside it: refused with 403)
    /api/info             {"mode": "serve", "rows": rows in the data file, "traces": bool, "run": name}
    /api/row/<row>        the row's spectrogram as stored in the data file (float32, base64) and its trace
    /api/thumb/<row>      the row's display thumbnail and waveform envelope, the same bytes the page embeds

A row outside the data file is refused (404) with a message saying the file's range.
"""
from __future__ import annotations

import base64
import json
import mimetypes
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from ..errors import GpuclustError
from .rundata import open_source
from .thumbs import open_data, read_display

HOST = "127.0.0.1"


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ExploreServer:
    """A running server; `url` to open, `stop()` to end it (also a context manager)."""

    def __init__(self, path: str, port: int = 0, run: str | None = None, page: str = "explore.html"):
        self.src = open_source(path, run)
        self.root = os.path.realpath(self.src.path)
        self.page = page
        self.sf = open_data(self.src)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server._answer(self, body=True)

            def do_HEAD(self):
                server._answer(self, body=False)

            def log_message(self, *args):  # quiet: the terminal shows the address and how to stop
                pass

        try:
            self.httpd = ThreadingHTTPServer((HOST, port), Handler)
            self.httpd.daemon_threads = True
        except OSError as e:
            self.sf.close()
            raise GpuclustError(f"cannot listen on {HOST}:{port} ({e.strerror or e}); choose another --port")
        self._thread = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> "ExploreServer":
        """Serve in a background thread (tests, notebooks)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()
        self.sf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- answers ---------------------------------------------------------------------------------
    def _answer(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        try:
            if h.headers.get("Host", "") not in (f"{HOST}:{self.port}", f"localhost:{self.port}"):
                raise _Refused(403, "refused: the request does not name this server as its host")
            status, ctype, data = self._route(urllib.parse.urlsplit(h.path).path)
        except _Refused as e:
            status, ctype, data = e.status, "application/json", json.dumps({"error": str(e)}).encode()
        except Exception as e:  # a bad row in the file: say so, keep serving
            status, ctype = 500, "application/json"
            data = json.dumps({"error": f"{type(e).__name__}: {e}"}).encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Cache-Control", "no-store")
        h.end_headers()
        if body:
            h.wfile.write(data)

    def _route(self, path: str):
        if path.startswith("/api/"):
            return 200, "application/json", json.dumps(self._api(path[5:])).encode()
        return self._file(urllib.parse.unquote(path))

    def _api(self, what: str) -> dict:
        if what == "info":
            return {"mode": "serve", "rows": int(self.sf.n_rows), "traces": self.sf.trace_dataset is not None,
                    "run": os.path.basename(self.root)}
        kind, _, arg = what.partition("/")
        if kind not in ("row", "thumb"):
            raise _Refused(404, f"no such API: /api/{what} (info, row/<row>, thumb/<row>)")
        row = self._row(arg)
        with self._lock:
            if kind == "row":
                image = self.sf.read_rows([row])[0]
                trace = self.sf.traces([row])
                return {"row": row, "shape": list(image.shape), "dtype": "float32",
                        "spectrogram": _b64(image.astype("<f4")),
                        "trace": None if trace is None else _b64(trace[0].astype("<f4"))}
            thumbs, waves = read_display(self.sf, self.src.norm, [row])
        return {"row": row, "h": int(thumbs.shape[1]), "w": int(thumbs.shape[2]), "pixels": _b64(thumbs[0]),
                "wave": None if waves is None else _b64(waves[0])}

    def _row(self, text: str) -> int:
        try:
            row = int(text)
        except ValueError:
            raise _Refused(400, f"not a row number: {text!r}")
        n = int(self.sf.n_rows)
        if not 0 <= row < n:
            raise _Refused(404, f"row {row} is out of range: the data file has {n} rows (0 to {n - 1})")
        return row

    def _file(self, path: str):
        rel = path.lstrip("/") or self.page
        full = os.path.realpath(os.path.join(self.root, rel))
        if os.path.commonpath([full, self.root]) != self.root:
            raise _Refused(403, f"refused: {path} is outside the run directory")
        if not os.path.isfile(full):
            raise _Refused(404, f"{path}: no such file in the run directory")
        with open(full, "rb") as fh:
            data = fh.read()
        return 200, mimetypes.guess_type(full)[0] or "application/octet-stream", data


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")
