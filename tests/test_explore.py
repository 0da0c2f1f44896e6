"""The explore page of a small run, opened in a real headless Chromium from disk; its server; cluster names.

The browser is Debian's chromium (.ci/run installs it), driven with Playwright's Python package
(never a browser of its own). Where either is missing the browser tests skip and say why.
"""
import base64
import csv
import http.client
import json
import os
import re
import shutil
import socket

import numpy as np
import pytest
from click.testing import CliRunner

from gpuclust_cli.commands import cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
TINY = ["--synth-rows", "400", "--epochs", "2", "--k", "4", "--tsne-max-points", "200", "--n-init", "1",
        "--batch-size", "32", "--refine-epochs", "2", "--device", "cpu", "-q"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GPUCLUST_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("GPUCLUST_THREADS", "2")
    out = tmp_path_factory.mktemp("explore") / "run"
    r = invoke("run", *TINY, "-o", out)
    assert r.exit_code == 0, r.output
    yield out
    mp.undo()


def labels(path):
    with open(path / "labels.csv") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def browser():
    sync = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (`apt-get install chromium`; .ci/run does it)")
    import tempfile

    with sync.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=FLAGS, headless=True,
                                                   viewport={"width": 1400, "height": 900}, accept_downloads=True)
        yield ctx
        ctx.close()


def open_page(browser, url):
    """The page, with every console error and every request that would leave the machine recorded."""
    page = browser.new_page()
    page.errors, page.outside = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))

    def guard(route):
        u = route.request.url
        if u.startswith(("file:", "data:", "blob:", "http://127.0.0.1")):
            return route.continue_()
        page.outside.append(u)
        return route.abort()

    page.route("**/*", guard)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    return page


def wait_until(page, condition, seconds=20):
    """Poll a condition from outside: the page's policy forbids the eval Playwright's wait_for_function uses."""
    import time

    end = time.monotonic() + seconds
    while not page.evaluate(condition):
        assert time.monotonic() < end, f"still false after {seconds} s: {condition}"
        time.sleep(0.05)


def screen_positions(page):
    return np.array(page.evaluate("Array.from({length: window.explore.n}, (_, i) => window.explore.screenOf(i))"))


def isolated_event(xy, min_px=12.0):
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return int(np.argmax(d.min(axis=1)))


# -- the page, written by the run -----------------------------------------------------------------

def test_the_run_writes_a_self_contained_page_with_every_event_on_the_map(run_dir):
    page = run_dir / "explore.html"
    assert page.exists()
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html)  # loads nothing from elsewhere
    with np.load(run_dir / "map-tsne.npz") as z:
        rows, xy = z["rows"], z["xy"]
    assert sorted(rows) == sorted(int(r["row"]) for r in labels(run_dir))  # 400 events, t-SNE sample of 200
    assert len(rows) == 400 and np.isfinite(xy).all()
    with np.load(run_dir / "model" / "tsne.npz") as z:  # the sample keeps its own place on the map
        where = {int(r): i for i, r in enumerate(rows)}
        assert np.allclose(xy[[where[int(r)] for r in z["rows"]]], z["xy"], atol=1e-3)


def test_positions_kept_beside_labels_follow_a_remade_map(run_dir, tmp_path):
    from gpuclust.explore import write_explore

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    with np.load(run / "model" / "tsne.npz") as z:  # as if the t-SNE stage had been run again
        ref = {k: z[k] for k in z.files}
    ref["xy"] = ref["xy"] * 2 + 100
    np.savez(run / "model" / "tsne.npz", **ref)
    write_explore(run, log=lambda *_: None)
    with np.load(run / "map-tsne.npz") as z:
        where = {int(r): i for i, r in enumerate(z["rows"])}
        assert np.allclose(z["xy"][[where[int(r)] for r in ref["rows"]]], ref["xy"], atol=1e-3)


def test_in_a_browser_from_disk_hover_filter_lasso_and_csv_export(run_dir, browser, tmp_path):
    page = open_page(browser, (run_dir / "explore.html").as_uri())
    events = labels(run_dir)
    assert page.evaluate("window.explore.n") == len(events) == 400
    assert page.inner_text("#count").startswith("400 of 400")
    assert "every event's thumbnail is embedded" in page.inner_text("#mode")

    # hover: the event under the mouse, with its fields and its thumbnail
    xy = screen_positions(page)
    i = isolated_event(xy)
    page.mouse.move(*xy[i])
    e = events[i]
    assert page.inner_text("#f-row") == e["row"]
    assert page.inner_text("#f-cluster").split(" ")[0] == e["cluster"]
    assert abs(float(page.inner_text("#f-prob")) - float(e["probability"])) < 1e-3
    assert abs(float(page.inner_text("#f-ll")) - float(e.get("log_likelihood") or e["score"])) < 1e-2
    assert page.inner_text("#f-station").endswith(e["station"])
    assert page.inner_text("#f-time").replace(" ", "T").startswith(e["dt_peak"][:19])
    assert page.get_attribute("#thumb", "data-row") == e["row"]

    # a cluster filter hides that cluster's events
    gone = sum(r["cluster"] == "0" for r in events)
    assert gone > 0
    page.click("#cl-0")
    assert page.evaluate("window.explore.visibleCount()") == 400 - gone
    assert page.inner_text("#count").startswith(f"{400 - gone} of 400")

    # a lasso (shift + drag) selects the shown events inside it; the CSV holds exactly those
    cx, cy = np.median(xy, axis=0)
    poly = [(cx - 150, cy - 150), (cx + 150, cy - 150), (cx + 150, cy + 150), (cx - 150, cy + 150)]
    page.keyboard.down("Shift")
    page.mouse.move(*poly[0])
    page.mouse.down()
    for p in poly[1:] + poly[:1]:
        page.mouse.move(*p, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    shown = np.array([r["cluster"] != "0" for r in events])
    surely = shown & (np.abs(xy - [cx, cy]) < 148).all(axis=1)  # points within a pixel or two of the lasso's
    maybe = shown & (np.abs(xy - [cx, cy]) < 152).all(axis=1)  # edge may fall either side of it
    n_selected = page.evaluate("window.explore.selectedCount()")
    assert surely.sum() <= n_selected <= maybe.sum() and n_selected > 0
    with page.expect_download() as dl:
        page.click("#export")
    got = list(csv.DictReader(open(dl.value.path())))
    assert len(got) == n_selected
    assert {events[j]["row"] for j in np.flatnonzero(surely)} <= {r["row"] for r in got}
    assert {r["row"] for r in got} <= {events[j]["row"] for j in np.flatnonzero(maybe)}
    assert all(r["cluster"] != "0" for r in got)
    assert page.errors == [] and page.outside == []
    page.close()


def test_names_from_the_page_reach_labels_and_quakeml_of_a_later_predict(run_dir, browser, tmp_path):
    from gpuclust.export import read_labels_from_quakeml

    page = open_page(browser, (run_dir / "explore.html").as_uri())
    page.fill("#name-0", "icequake")
    page.fill("#name-1", "icequake")  # merged with cluster 0
    page.fill("#name-2", "tremor")
    with page.expect_download() as dl:
        page.click("#save-names")
    names = tmp_path / "names.json"
    shutil.copy(dl.value.path(), names)
    assert page.errors == []
    page.close()
    r = invoke("name", run_dir, names)
    assert r.exit_code == 0 and "named 3 of 4 clusters" in r.output, r.output
    want = {"0": "icequake", "1": "icequake", "2": "tremor", "3": ""}
    assert all(row["cluster_name"] == want[row["cluster"]] for row in labels(run_dir))  # the run's own too

    data = json.load(open(run_dir / "config.json"))["data"]
    out = tmp_path / "pred"
    r = invoke("predict", run_dir, data, "-o", out, "--format", "quakeml", "--device", "cpu")
    assert r.exit_code == 0, r.output
    rows = labels(out)
    assert all(row["cluster_name"] == want[row["cluster"]] for row in rows)
    for ev in read_labels_from_quakeml(out / "catalogue.xml"):
        assert ev.get("name", "") == want[str(ev["cluster"])]
        if ev["cluster"] in (0, 1) and not ev["unknown"]:
            assert ev["event_type"] == "ice quake"
    # the predict's own page: the new events on the run's map, named as the run's clusters
    html = (out / "explore.html").read_text()
    assert '"icequake"' in html and (out / "map-tsne.npz").exists()
    r = invoke("predict", run_dir, data, "-o", tmp_path / "bare", "--device", "cpu", "--no-explore")
    assert r.exit_code == 0 and not (tmp_path / "bare" / "explore.html").exists(), r.output
    invoke("name", run_dir, _names_file(tmp_path, {}))  # leave the shared run unnamed


def _names_file(tmp_path, names, k=4):
    p = tmp_path / "n.json"
    p.write_text(json.dumps({"format": "gpuclust-names", "version": 1, "k": k, "names": names}))
    return p


def test_bad_names_are_refused_in_one_line(run_dir, tmp_path):
    r = invoke("name", run_dir, _names_file(tmp_path, {"7": "x"}))
    assert r.exit_code == 2 and "cluster 7 does not exist" in r.output
    r = invoke("name", run_dir, _names_file(tmp_path, {"0": "x"}, k=5))
    assert r.exit_code == 2 and "the run has 4" in r.output
    r = invoke("explore", tmp_path)
    assert r.exit_code == 2 and "no labels.csv" in r.output


# -- the server --------------------------------------------------------------------------------

def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)  # sent as written: http.client does not tidy '..' away
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_serve_answers_on_loopback_only_reads_rows_from_the_file_and_refuses_the_rest(run_dir, tmp_path):
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.explore.serve import ExploreServer

    os.symlink("/etc", run_dir / "etc-link")
    try:
        with ExploreServer(run_dir, port=0).start() as srv:
            port = srv.port
            assert srv.httpd.server_address[0] == "127.0.0.1"
            other = _non_loopback_address()
            if other:
                with pytest.raises(OSError):
                    socket.create_connection((other, port), timeout=2).close()
            status, body = get(port, "/api/info")
            info = json.loads(body)
            assert status == 200 and info["mode"] == "serve" and info["rows"] == 400
            status, body = get(port, "/api/row/123")
            d = json.loads(body)
            with open_spectrograms(json.load(open(run_dir / "config.json"))["data"]) as sf:
                want, trace = sf.read_rows([123])[0], sf.traces([123])[0]
            got = np.frombuffer(base64.b64decode(d["spectrogram"]), "<f4").reshape(d["shape"])
            assert status == 200 and np.array_equal(got, want)
            assert np.array_equal(np.frombuffer(base64.b64decode(d["trace"]), "<f4"), trace)
            status, body = get(port, "/api/row/400")
            assert status == 404 and "row 400 is out of range: the data file has 400 rows" in json.loads(body)["error"]
            assert get(port, "/api/row/-1")[0] == 404 and get(port, "/api/row/abc")[0] == 400
            for outside in ("/../config.json", "/%2e%2e/%2e%2e/etc/passwd", "/etc-link/passwd"):
                status, body = get(port, outside)
                assert status == 403 and "outside the run directory" in json.loads(body)["error"], outside
            status, body = get(port, "/")
            assert status == 200 and body.startswith(b"<!DOCTYPE html>")
            # a page of another site whose name was rebound to 127.0.0.1 sends its own name as Host: refused
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/row/1", headers={"Host": f"evil.example:{port}"})
            r = c.getresponse()
            assert r.status == 403 and "host" in json.loads(r.read())["error"]
            c.close()
            # a browser's idle open connection does not block the next request
            idle = socket.create_connection(("127.0.0.1", port), timeout=2)
            try:
                assert get(port, "/api/info")[0] == 200
            finally:
                idle.close()
        with pytest.raises(OSError):  # stopped: nothing listens any more
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        os.remove(run_dir / "etc-link")


def _non_loopback_address():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outward interface
        addr = s.getsockname()[0]
        s.close()
        return None if addr.startswith("127.") else addr
    except OSError:
        return None


def test_served_page_shows_events_without_an_embedded_thumbnail(run_dir, browser, tmp_path):
    from gpuclust.explore import write_explore
    from gpuclust.explore.serve import ExploreServer

    write_explore(run_dir, str(run_dir / "bare.html"), thumb_budget_mb=0, log=lambda *_: None)
    try:
        with ExploreServer(run_dir, port=0, page="bare.html").start() as srv:
            page = open_page(browser, srv.url)
            wait_until(page, "document.getElementById('mode').textContent.startsWith('served')")
            xy = screen_positions(page)
            i = isolated_event(xy)
            page.mouse.move(*xy[i])
            row = labels(run_dir)[i]["row"]
            wait_until(page, f"document.getElementById('thumb').dataset.row === '{row}'")
            assert page.inner_text("#thumb-note") == "read from the data file"
            assert page.errors == []
            page.close()
        page = open_page(browser, (run_dir / "bare.html").as_uri())  # the same page from disk says so
        assert "thumbnails embedded for 0 of 400" in page.inner_text("#mode")
        page.close()
    finally:
        os.remove(run_dir / "bare.html")


# -- the maps: UMAP, and how well a map keeps clusters apart -------------------------------------

def blobs(n, seed=0):
    from sklearn.datasets import make_blobs

    return make_blobs(n, n_features=6, centers=3, cluster_std=1.0, random_state=seed)


def test_umap_keeps_clusters_apart_places_new_events_among_their_own_and_rebuilds_the_same_map():
    from gpuclust.embedding.maps import fit_umap, neighbour_agreement, rebuild_umap, umap_transform

    z, y = blobs(400)
    xy, est, params = fit_umap(z[:300], seed=3)
    assert xy.shape == (300, 2) and params["device"] == "cpu"
    assert neighbour_agreement(xy, y[:300]) > 0.95
    assert neighbour_agreement(xy, np.random.default_rng(0).integers(0, 3, 300)) < 0.5  # the measure can fail
    new = umap_transform(est, z[300:])
    nearest = np.linalg.norm(new[:, None] - xy[None], axis=2).argmin(axis=1)
    assert (y[:300][nearest] == y[300:]).mean() > 0.95
    again = rebuild_umap(z[:300], xy, params)  # what predict does with the map saved in a model
    assert np.allclose(umap_transform(again, z[300:]), new, atol=1e-4)
    with pytest.raises(ValueError, match="could not be rebuilt"):
        rebuild_umap(z[:300], xy + 5.0, params)


class StandInUMAP:
    """cuML's UMAP as documented (constructor keywords, fit_transform, transform), on NumPy."""

    made = []

    def __init__(self, **kw):
        self.kw = kw
        StandInUMAP.made.append(self)

    def fit_transform(self, x):
        self.mean = x.mean(axis=0)
        self.axes = np.linalg.svd(x - self.mean, full_matrices=False)[2][:2]
        return self.transform(x)

    def transform(self, x):
        return (np.asarray(x) - self.mean) @ self.axes.T


def test_the_gpu_map_calls_cumls_umap_as_documented(monkeypatch):
    import sys
    import types

    from gpuclust.embedding import maps

    cuml, manifold = types.ModuleType("cuml"), types.ModuleType("cuml.manifold")
    manifold.UMAP, cuml.manifold = StandInUMAP, manifold
    monkeypatch.setitem(sys.modules, "cuml", cuml)
    monkeypatch.setitem(sys.modules, "cuml.manifold", manifold)
    z, _ = blobs(200)
    xy, est, params = maps.fit_umap(z, "cuda", seed=7, n_neighbors=10)
    assert params["device"] == "cuda" and isinstance(est, StandInUMAP)
    assert est.kw == {"n_components": 2, "n_neighbors": 10, "min_dist": 0.1, "random_state": 7,
                      "output_type": "numpy"}
    assert np.allclose(maps.umap_transform(est, z[:5]), xy[:5])


def test_without_cuml_the_gpu_map_runs_on_the_cpu_and_says_so(monkeypatch):
    import sys

    from gpuclust.embedding import maps

    monkeypatch.setitem(sys.modules, "cuml.manifold", None)  # import fails
    with pytest.warns(UserWarning, match="UMAP runs on the CPU"):
        assert maps.resolve_umap_device("cuda") == "cpu"


def test_explore_with_a_umap_map_and_predict_places_new_events_on_it(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    r = invoke("explore", run, "--map", "umap")
    assert r.exit_code == 0 and "UMAP of 400 events" in r.output, r.output
    meta = json.load(open(run / "model" / "model.json"))
    assert meta["umap"]["device"] == "cpu" and (run / "model" / "umap.npz").exists()
    with np.load(run / "map-umap.npz") as z:
        assert len(z["rows"]) == 400 and np.isfinite(z["xy"]).all()
    out = run / "predict-1"  # where predict puts its output by default
    r = invoke("predict", run, json.load(open(run / "config.json"))["data"], "-o", out, "--device", "cpu")
    assert r.exit_code == 0 and "on the run's UMAP map" in r.output, r.output
    with np.load(out / "map-umap.npz") as z:
        assert len(z["rows"]) == 400 and np.isfinite(z["xy"]).all()
    assert '"method": "umap"' in (out / "explore.html").read_text()
    r = invoke("explore", out, "-o", tmp_path / "again.html")  # the run is found above its predict output
    assert r.exit_code == 0 and '"kind": "predict"' in (tmp_path / "again.html").read_text(), r.output


def test_bench_explore_runs_at_a_tiny_size(run_dir, tmp_path):
    import subprocess
    import sys

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (`apt-get install chromium`; .ci/run does it)")
    pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "e.json"
    r = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "bench_explore.py"), "--run", str(run_dir),
                        "--sizes", "500", "--libs", "canvas,gpuclust", "--map-sizes", "300,600",
                        "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.load(open(out))
    assert [p["page"] for p in doc["pages"]] == ["canvas", "gpuclust"] and all(p["render_s"] > 0 for p in doc["pages"])
    maps = {(m["events"], m["map"]): m for m in doc["maps"]}
    assert set(maps) == {(300, "tsne"), (300, "umap"), (600, "tsne"), (600, "umap")}
    assert "mixture" in maps[600, "umap"]["latents"] and 0 <= maps[300, "tsne"]["neighbour_agreement_10"] <= 1


@pytest.mark.gpu
def test_cumls_umap_places_new_events_and_a_saved_map_rebuilds_on_the_gpu():
    from gpuclust.embedding.maps import fit_umap, has_cuml_umap, neighbour_agreement, rebuild_umap, umap_transform

    if not has_cuml_umap():
        pytest.skip("cuML is not installed")
    z, y = blobs(3000)
    xy, est, params = fit_umap(z[:2000], "cuda", seed=1)
    assert params["device"] == "cuda" and neighbour_agreement(xy, y[:2000]) > 0.95
    new = umap_transform(est, z[2000:])
    nearest = np.linalg.norm(new[:, None] - xy[None], axis=2).argmin(axis=1)
    assert (y[:2000][nearest] == y[2000:]).mean() > 0.95
    rebuild_umap(z[:2000], xy, params)  # cuML with a seed is documented as reproducible: predict relies on it


def test_thumbnails_read_in_blocks_equal_those_read_at_once_and_a_failed_page_does_not_fail_the_run(
        run_dir, monkeypatch):
    from gpuclust import explore
    from gpuclust.explore import thumbs
    from gpuclust.explore.rundata import open_source

    src = open_source(str(run_dir))
    rows = np.arange(0, 400, 3)
    with thumbs.open_data(src) as sf:
        whole = thumbs.read_display(sf, src.norm, rows)
        monkeypatch.setattr(thumbs, "READ_BLOCK", 7)
        blocks = thumbs.read_display(sf, src.norm, rows)
    assert np.array_equal(whole[0], blocks[0]) and np.array_equal(whole[1], blocks[1])

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(explore, "write_explore", full_disk)
    said = []
    assert explore.write_explore_or_warn(str(run_dir), log=said.append) is None
    assert said == ["explore.html not written (OSError: [Errno 28] No space left on device); "
                    "`gpuclust explore` can make it later"]
