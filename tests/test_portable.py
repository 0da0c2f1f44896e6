"""Portable mode (`gpuclust --portable`): the pins it sets, when it refuses, and the committed reference run."""
import importlib.util
import json
import os

import pytest

from gpuclust import portable
from gpuclust.errors import GpuclustError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "benchmarks", "results", "portable-reference.json")


def reference_tool():
    spec = importlib.util.spec_from_file_location("portable_reference",
                                                  os.path.join(ROOT, "benchmarks", "portable_reference.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_cpu_without_avx2_and_fma_is_refused_naming_what_it_lacks(monkeypatch):
    monkeypatch.setattr(portable.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(portable, "cpu_flags", lambda: {"sse2", "fma"})
    with pytest.raises(GpuclustError, match="needs a CPU with AVX2 and FMA; this one lacks AVX2$"):
        portable.enable()
    monkeypatch.setattr(portable.platform, "machine", lambda: "aarch64")
    with pytest.raises(GpuclustError, match="x86-64 .* aarch64"):
        portable.enable()


def test_it_is_refused_once_numpy_is_loaded(monkeypatch):
    importlib.import_module("numpy")  # loaded here anyway: the point is that the pins would come too late

    monkeypatch.setattr(portable, "cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.setattr(portable.platform, "machine", lambda: "x86_64")
    before = dict(os.environ)
    with pytest.raises(GpuclustError, match="before numpy.* is loaded"):
        portable.enable()
    assert dict(os.environ) == before  # a refusal sets nothing


def test_the_reference_says_how_it_was_made():
    ref = json.load(open(REFERENCE))
    assert ref["cpu"]["portable"] is True and ref["cpu"]["torch_isa"] == "AVX2"
    assert {k: ref["cpu"]["pinned"][k] for k in portable.PINS} == portable.PINS
    assert set(ref["digests"]) == {"data", "latents", "labels.csv", "tsne.csv"} and ref["versions"]["torch"]


def test_a_version_change_makes_the_check_not_comparable_and_a_digest_change_different():
    tool = reference_tool()
    ref = json.load(open(REFERENCE))
    code, line = tool.compare(ref, {**ref, "versions": {**ref["versions"], "numpy": "9.9"}})
    assert code == tool.NOT_COMPARABLE and "numpy 2" in line and "9.9" in line
    code, line = tool.compare(ref, {**ref, "digests": {**ref["digests"], "labels.csv": "0" * 64}})
    assert code == tool.DIFFERENT and "labels.csv" in line
    assert tool.compare(ref, ref)[0] == tool.SAME


@pytest.mark.slow
def test_a_portable_run_gives_the_reference_bits_whatever_paths_the_user_pinned():
    """The committed digests were made on the 2-core AMD EPYC VM. On any x86-64 CPU with AVX2 and the same
    package versions they must come out again: on this type of CPU a regression test, on another the
    promise itself. The user's own pins (other code paths, each of which changes the bits without portable
    mode: README, Reproducible results) are overridden."""
    tool = reference_tool()
    ref = json.load(open(REFERENCE))
    if tool.versions() != ref["versions"]:
        pytest.skip(f"the reference was made with {ref['versions']}, this Python has {tool.versions()}: "
                    "regenerate it with benchmarks/portable_reference.py --write")
    here = tool.measure({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "AUTO",
                         "OPENBLAS_CORETYPE": "Sandybridge", "NPY_DISABLE_CPU_FEATURES": "X86_V3"})
    assert here["cpu"]["portable"] is True
    assert {k: here["cpu"]["pinned"][k] for k in portable.PINS} == portable.PINS
    code, line = tool.compare(ref, here)
    assert code == tool.SAME, line


def test_the_cli_says_a_refusal_in_one_line_with_exit_2(monkeypatch):
    from click.testing import CliRunner

    from gpuclust_cli.main import cli

    monkeypatch.setattr(portable, "cpu_flags", lambda: {"sse2"})
    monkeypatch.setattr(portable.platform, "machine", lambda: "x86_64")
    r = CliRunner().invoke(cli, ["--portable", "info", "x.h5"])
    assert r.exit_code == 2
    assert r.output.strip() == "gpuclust: error: portable mode needs a CPU with AVX2 and FMA; this one lacks AVX2, FMA"
