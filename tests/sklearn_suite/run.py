"""Run scikit-learn's own test files for GaussianMixture and KMeans against gpuclust's classes.

The installed scikit-learn's sklearn/mixture/tests/test_gaussian_mixture.py and
sklearn/cluster/tests/test_k_means.py are copied to a temporary folder with one
change each, the import of the class under test, and run with pytest and
scikit-learn's own fixtures (sklearn.conftest), float32 tests and array-API tests
included. KMeans is run twice: as it is (NumPy input goes to scikit-learn itself)
and with engine="array_api", gpuclust's transcription, which is what runs on GPU
and other array libraries.

    python -m tests.sklearn_suite.run [gmm] [kmeans] [kmeans-array-api] [--json results.json]

Deselected tests are listed in DESELECT below, each with its reason; no other test is left out.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

DESELECT = {
    "gmm": {
        "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters":
            "mocks scikit-learn's private _estimate_gaussian_parameters, which gpuclust's EM does not call",
        "test_gaussian_mixture_raises_where_array_api_not_implemented":
            "asserts a scikit-learn limitation (no k-means inits under array API) that gpuclust does not have",
    },
    "kmeans": {},
    "kmeans-array-api": {},
}

ARRAY_API_KMEANS = '''
from gpuclust import KMeans as _KMeans


class KMeans(_KMeans):
    """gpuclust.KMeans with engine="array_api" by default: its own Lloyd on NumPy input too."""

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300, tol=1e-4, verbose=0,
                 random_state=None, copy_x=True, algorithm="lloyd", engine="array_api"):
        super().__init__(n_clusters=n_clusters, init=init, n_init=n_init, max_iter=max_iter, tol=tol,
                         verbose=verbose, random_state=random_state, copy_x=copy_x, algorithm=algorithm,
                         engine=engine)
'''

SUITES = {
    "gmm": ("mixture/tests/test_gaussian_mixture.py", r"^from sklearn\.mixture import GaussianMixture$",
            "from gpuclust import GaussianMixture"),
    "kmeans": ("cluster/tests/test_k_means.py",
               r"^from sklearn\.cluster import KMeans, MiniBatchKMeans, k_means, kmeans_plusplus$",
               "from sklearn.cluster import MiniBatchKMeans, k_means, kmeans_plusplus\nfrom gpuclust import KMeans"),
    "kmeans-array-api": ("cluster/tests/test_k_means.py",
                         r"^from sklearn\.cluster import KMeans, MiniBatchKMeans, k_means, kmeans_plusplus$",
                         "from sklearn.cluster import MiniBatchKMeans, k_means, kmeans_plusplus\n"
                         "from _array_api_kmeans import KMeans"),
}


def prepare(suite: str, folder: str) -> str:
    """The scikit-learn test file with its one import switched, written into folder; returns its path."""
    import sklearn

    rel, pattern, replacement = SUITES[suite]
    with open(os.path.join(os.path.dirname(sklearn.__file__), rel)) as fh:
        text = fh.read()
    text, n = re.subn(pattern, replacement, text, flags=re.M)
    if n != 1:
        raise RuntimeError(f"{rel}: the import to switch was not found (scikit-learn changed the file?)")
    if suite == "kmeans-array-api":
        with open(os.path.join(folder, "_array_api_kmeans.py"), "w") as fh:
            fh.write(ARRAY_API_KMEANS)
    path = os.path.join(folder, f"test_sklearn_{suite.replace('-', '_')}.py")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def run(suite: str) -> dict:
    """Run one suite; returns counts and the failed test ids."""
    with tempfile.TemporaryDirectory() as folder:
        path = prepare(suite, folder)
        report = os.path.join(folder, "report.txt")
        # Parametrised test ids: deselect by name with -k.
        k_expr = " and ".join(f"not {name}" for name in DESELECT[suite]) or None
        env = dict(os.environ, SCIPY_ARRAY_API="1", SKLEARN_RUN_FLOAT32_TESTS="1", PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "pytest", path, "-q", "-p", "no:cacheprovider", "-p", "sklearn.conftest",
               "-rf", "--no-header", f"--junitxml={report}.xml", "-W", "ignore::DeprecationWarning"]
        if k_expr:
            cmd += ["-k", k_expr]
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
        counts = _counts(proc.stdout)
        failed = re.findall(r"^FAILED (\S+)", proc.stdout, flags=re.M)
        return {"suite": suite, "returncode": proc.returncode, **counts, "failed_tests": failed,
                "deselected_because": DESELECT[suite], "tail": proc.stdout[-3000:]}


def _counts(out: str) -> dict:
    last = [line for line in out.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    counts = {"passed": 0, "failed": 0, "skipped": 0, "deselected": 0, "errors": 0}
    if last:
        for n, what in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", last[-1]):
            counts["errors" if what.startswith("error") else what] = int(n)
    return counts


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out = None
    if "--json" in argv:
        i = argv.index("--json")
        out = argv[i + 1]
        del argv[i:i + 2]
    results = [run(s) for s in (argv or list(SUITES))]
    for r in results:
        print(f"{r['suite']:>17}: {r['passed']} passed, {r['failed']} failed, {r['errors']} errors, "
              f"{r['skipped']} skipped (dependencies or devices this machine lacks), {r['deselected']} deselected")
        for t in r["failed_tests"]:
            print(f"    FAILED {t}")
    if out:
        with open(out, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0 if all(r["failed"] == 0 and r["errors"] == 0 and r["passed"] > 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
