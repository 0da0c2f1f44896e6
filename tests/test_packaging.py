"""The installed command works next to other modules, and the wheel holds every package."""
import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_package_is_listed_for_installation():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        listed = set(tomllib.load(fh)["tool"]["setuptools"]["packages"])
    found = {os.path.relpath(d, ROOT).replace(os.sep, ".") for d, _, files in os.walk(os.path.join(ROOT, "gpuclust"))
             if "__init__.py" in files}
    assert found <= listed, f"add to pyproject's packages: {sorted(found - listed)}"
    assert "gpuclust_cli" in listed


def test_a_module_named_cli_elsewhere_does_not_shadow_the_command(tmp_path):
    """Regression: the click layer was installed as a top-level `cli` package."""
    (tmp_path / "cli.py").write_text("raise ImportError('someone else's cli module')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    code = "import sys; from gpuclust_cli.main import main; sys.argv = ['gpuclust', '--version']; main()"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "gpuclust, version" in out.stdout, out.stderr


def test_the_command_line_offers_exactly_the_library_normalisations():
    """cli/options.py spells them out (no NumPy at CLI start-up); run, train and embed offer all of them."""
    from gpuclust.data.normalise import NORMALISATIONS
    from gpuclust_cli.commands import cli
    from gpuclust_cli.options import NORMALISATIONS as OFFERED

    assert OFFERED == NORMALISATIONS
    for command in ("run", "train", "embed"):
        norm = next(p for p in cli.commands[command].params if p.name == "norm")
        assert tuple(norm.type.choices) == NORMALISATIONS, command
