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
