"""Shared test settings: GPAW runs serially with one BLAS thread, results go to tmp dirs."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"


@pytest.fixture
def perovcalc_cli():
    """Command prefix that runs the perovcalc CLI with this interpreter."""
    return [sys.executable, "-m", "perovcalc.cli.main"]
