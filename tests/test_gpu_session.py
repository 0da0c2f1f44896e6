"""The GPU session script parses, and its helper reads runs and logs as it should (checked here: GPU time is scarce)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "benchmarks", "gpu_session_tools.py")


@pytest.mark.parametrize("script", ["gpu_session.sh", "gpu_check.sh"])
def test_the_scripts_parse(script):
    subprocess.run(["bash", "-n", os.path.join(ROOT, "benchmarks", script)], check=True)


def write_run(path, clusters):
    os.makedirs(path)
    with open(os.path.join(path, "labels.csv"), "w") as fh:
        fh.write("row,cluster,unknown\n" + "".join(f"{i},{c},0\n" for i, c in enumerate(clusters)))


def tool(*args):
    return subprocess.run([sys.executable, TOOLS, *args], check=True, capture_output=True, text=True).stdout


def test_labels_of_two_runs_are_compared(tmp_path):
    write_run(tmp_path / "a", [0, 0, 1, 1, 2])
    write_run(tmp_path / "b", [1, 1, 0, 0, 2])  # the same partition, other names
    write_run(tmp_path / "c", [0, 1, 1, 1, 2])
    tool("compare-labels", str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(tmp_path / "ab.json"))
    tool("compare-labels", str(tmp_path / "a"), str(tmp_path / "c"), "--json", str(tmp_path / "ac.json"))
    ab, ac = json.load(open(tmp_path / "ab.json")), json.load(open(tmp_path / "ac.json"))
    assert ab["ari"] == 1.0 and not ab["identical"]
    assert ac["ari"] < 1.0 and ac["same_label_fraction"] == 0.8


def test_peak_device_memory_is_read_from_an_nvidia_smi_log(tmp_path):
    (tmp_path / "m.log").write_text("1024\n81920\n[N/A]\n2048\n")
    tool("peak-memory", str(tmp_path / "m.log"), "--json", str(tmp_path / "m.json"))
    assert json.load(open(tmp_path / "m.json")) == {"peak_mib": 81920.0, "samples": 3}
