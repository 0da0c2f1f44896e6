"""The data commands as a user types them."""
from click.testing import CliRunner

from gpuclust_cli.commands import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_help_lists_every_command_and_version():
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("synth", "spectrograms", "info"):
        assert cmd in r.output
    assert "0.1.0" in run("--version").output


def test_synth_then_info(tmp_path):
    out = tmp_path / "s.h5"
    r = run("synth", out, "--rows", 64, "--seed", 1)
    assert r.exit_code == 0, r.output
    r = run("info", out)
    assert r.exit_code == 0 and "64" in r.output and "ground truth" in r.output


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    r = run("info", tmp_path / "missing.h5")
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "no such file" in r.output
    assert "Traceback" not in r.output


def test_spectrograms_command_on_a_real_recording(tmp_path):
    from tests.test_synth_and_waveforms import real_waveform

    out = tmp_path / "real.h5"
    r = run("spectrograms", real_waveform(), "-o", out, "--on", "3", "--off", "1.5")
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output
    r = run("info", out)
    assert "87 x 100" in r.output and "catalogue: yes" in r.output
    r = run("spectrograms", real_waveform(), "-o", out, "--on", "1e9", "--off", "1e8", "--append")
    assert r.exit_code == 2 and "no events detected" in r.output


def test_an_output_file_named_like_a_directory_is_refused_before_any_work(tmp_path):
    """`x.h5/` is a directory's name: one line up front, not a failure on a temporary file at the end."""
    r = run("synth", f"{tmp_path / 'new.h5'}/", "--rows", 16)
    assert r.exit_code == 2 and "a directory's name; OUTPUT must name a file" in r.output, r.output
    r = run("synth", tmp_path, "--rows", 16)  # an existing directory: click's own check
    assert r.exit_code == 2 and "is a directory" in r.output, r.output
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_an_input_or_not_a_regular_file_is_refused_and_left_alone(tmp_path):
    """`embed ... in.h5 -o in.h5` replaced the input with its latents (exit 0); `synth FIFO` replaced the FIFO
    (and, as root, `synth /dev/full` the device) with an HDF5 file."""
    import os

    data = tmp_path / "in.h5"
    assert run("synth", data, "--rows", 16).exit_code == 0
    before = data.read_bytes()
    r = run("embed", tmp_path / "no-checkpoint.pt", data, "-o", data)  # refused before the checkpoint is read
    assert r.exit_code == 2 and "is also an input" in r.output and str(data) in r.output, r.output
    assert data.read_bytes() == before
    r = run("spectrograms", data, "-o", data)
    assert r.exit_code == 2 and "is also an input" in r.output, r.output
    assert data.read_bytes() == before
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = run("synth", fifo, "--rows", 16)
    assert r.exit_code == 2 and "not a regular file" in r.output, r.output
    assert not os.path.isfile(fifo) and not (tmp_path / "fifo.csv").exists()
    r = run("embed", tmp_path / "no-checkpoint.pt", data, "-o", f"{tmp_path / 'nodir'}/")
    assert r.exit_code == 2 and "a directory's name" in r.output and ".tmp" not in r.output, r.output


def test_a_thread_count_no_runtime_survives_is_refused(tmp_path):
    """`--threads 100000` ended in a segmentation fault in torch's OpenMP runtime, with no message."""
    r = run("--threads", 100000, "info", tmp_path / "missing.h5")
    assert r.exit_code == 2 and "1<=x<=1024" in r.output, r.output
