"""The suite runs under pytest-xdist (``pytest -n auto``): a failing test whose text is not UTF-8
must still fail the run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("xdist")

REPO = Path(__file__).resolve().parents[1]

TESTS = """
import logging, os, warnings

NAME = os.fsdecode(b"caf\\xe9.jpg")  # a name that is not UTF-8


def test_logs_it():
    logging.getLogger("objrec").warning("cannot read %s", NAME)


def test_warns_it():
    warnings.warn(f"cannot read {NAME}")


def test_fails_on_it():
    assert NAME == "cafe.jpg"
"""


@pytest.mark.slow
def test_a_failure_about_a_name_that_is_not_utf8_fails_the_run_in_workers(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "from tests.xdist_text import pytest_report_to_serializable, pytest_warning_recorded\n"
    )
    (tmp_path / "test_names.py").write_text(TESTS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "INTERNALERROR" not in done.stdout + done.stderr
    assert done.returncode == 1
    assert "1 failed, 2 passed, 1 warning" in done.stdout
