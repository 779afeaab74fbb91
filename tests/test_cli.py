"""The command-line program: version, help on every subcommand, doctor."""

import subprocess
import sys

import perovcalc
from perovcalc.cli.main import build_parser
from tests.conftest import WORKFLOWS


def run(cli, *args, **kw):
    return subprocess.run([*cli, *args], capture_output=True, text=True, **kw)


def test_version(perovcalc_cli):
    proc = run(perovcalc_cli, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"perovcalc {perovcalc.__version__}"


def test_every_subcommand_has_help(perovcalc_cli):
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"doctor", "run", "status"} <= set(commands)
    for name in commands:
        proc = run(perovcalc_cli, name, "--help")
        assert proc.returncode == 0, name
        assert proc.stdout.startswith(f"usage: perovcalc {name}"), name


def test_output_into_a_closed_pipe_ends_quietly(perovcalc_cli):
    """`perovcalc reference TABLE | head -1`: the reader goes early; no traceback."""
    proc = subprocess.Popen(
        [*perovcalc_cli, "reference", "computed_surface_barriers"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait() == 1
    assert err == ""


def test_doctor_passes_here(perovcalc_cli):
    proc = run(perovcalc_cli, "doctor")
    assert proc.returncode == 0, proc.stdout
    for piece in (
        "gpaw",
        "ase",
        "pymatgen",
        "spglib",
        "GPAW MPI",
        "ranks per task",
        "PAW datasets",
    ):
        assert piece in proc.stdout
    assert "GPAW MPI         yes" in proc.stdout


def test_doctor_names_missing_gpaw(tmp_path):
    hidden = tmp_path / "gpaw"
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError('GPAW hidden by the test')\n")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
         "from perovcalc.cli.main import main; sys.exit(main(['doctor']))", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "gpaw is not usable: missing (GPAW hidden by the test)" in proc.stdout
    assert "scripts/setup.sh" in proc.stdout


def test_bad_ranks_is_a_clear_error(perovcalc_cli, tmp_path):
    proc = run(
        perovcalc_cli,
        "run",
        str(WORKFLOWS / "smoke.toml"),
        "--ranks",
        "two",
        "--workdir",
        str(tmp_path),
    )
    assert proc.returncode == 2
    assert "--ranks = 'two' is not allowed; allowed: a positive integer" in proc.stderr
