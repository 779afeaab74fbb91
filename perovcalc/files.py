"""Reading the files a user names (campaigns, profiles, structures) and checking where outputs
go, with errors that name the file and say what to do (never a traceback)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from ase import Atoms

from perovcalc.errors import OutputError, UnreadableInput


def read_text(path: str | Path, what: str) -> str:
    """The text of the UTF-8 file ``path``; ``what`` names it in errors ("campaign file")."""
    path = Path(path).expanduser()
    if not path.is_file():
        found = "a folder" if path.is_dir() else "nothing"
        raise UnreadableInput(f"{what} not found: {path} ({found} there)")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableInput(
            f"{what} {path} is not UTF-8 text (byte {err.start}): save it as UTF-8"
        ) from None
    except OSError as err:
        raise UnreadableInput(f"{what} {path} cannot be read: {err.strerror}") from None


def read_toml(path: str | Path, what: str) -> dict:
    """The parsed TOML file ``path`` (see :func:`read_text`)."""
    try:
        return tomllib.loads(read_text(path, what))
    except tomllib.TOMLDecodeError as err:
        raise UnreadableInput(f"{what} {path} is not valid TOML: {err}") from None


def read_structure(
    filename: str | Path, index=None, format: str | None = None, what: str = "structure file"
) -> Atoms | list[Atoms]:
    """The structure in ``filename`` (any format ASE reads; the last frame, or the frames
    ``index`` selects as ``ase.io.read`` does)."""
    from ase.io import read

    path = Path(filename).expanduser()
    if not path.is_file():
        found = "a folder" if path.is_dir() else "nothing"
        raise UnreadableInput(f"{what} not found: {path} ({found} there)")
    try:
        atoms = read(path, index=index, format=format)
    except Exception as err:  # ASE readers raise anything on a bad file: all mean "unreadable"
        reason = " ".join(str(err).split()) or type(err).__name__
        raise UnreadableInput(
            f"{what} {path} cannot be read as a structure ({reason}); give a structure file "
            "ASE reads (extxyz, CIF, POSCAR, ...), or name its format"
        ) from None
    frames = atoms if isinstance(atoms, list) else [atoms]
    if not frames or any(len(a) == 0 for a in frames):
        raise UnreadableInput(f"{what} {path} holds no atoms")
    return atoms


def output_path(path: str | Path, what: str = "output") -> Path:
    """``path`` (``~`` expanded) once it is clear that a file can be written there: its folder
    exists and may be written, and it is no folder itself."""
    path = Path(path).expanduser()
    folder = path.parent
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
    if not folder.is_dir():
        raise OutputError(f"{what} {path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{what} {path}: the folder {folder} may not be written")
    return path


def plot_path(filename: str | Path, what: str = "plot") -> Path:
    """``filename`` once it is clear that matplotlib can write a figure there: an extension it
    knows (.png, .pdf, .svg, ...) and a folder that exists (see :func:`output_path`)."""
    from matplotlib.figure import Figure

    from perovcalc.errors import InputError

    formats = sorted(Figure().canvas.get_supported_filetypes())
    if Path(filename).suffix.lower().lstrip(".") not in formats:
        raise InputError(what, str(filename), f"a file name ending in .{', .'.join(formats)}")
    return output_path(filename, what)
