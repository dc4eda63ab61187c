"""The preloaded Python forked for each code (``tests/preloaded.py``)."""

import subprocess

import pytest

pytestmark = pytest.mark.slow  # its server imports PyTorch: 2 s, once a process

SAYS = """
import os, sys
import colorsys  # in this child's modules only
print(sys.argv[1:], os.getcwd(), os.environ["SAID"], "torch" in sys.modules)
print("objrec" in sys.modules, "torchvision" in sys.modules, file=sys.stderr)
"""


def test_each_code_runs_as_python_dash_c_in_a_fork_holding_pytorch_alone(
    preloaded_python, tmp_path
):
    """The arguments, folder and environment given; its output and exit code; PyTorch imported
    before it ran, objrec and torchvision not, nor what the code before it imported."""
    done = preloaded_python.run(SAYS, "a", 2, env={"SAID": "yes"}, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"['a', '2'] {tmp_path} yes True\n",
        "False False\n",
    )
    later = preloaded_python.run("import sys; print('colorsys' in sys.modules)")
    assert later.stdout == "False\n"


def test_a_child_s_exit_code_is_its_code_s_as_python_gives_it(preloaded_python):
    assert preloaded_python.run("import sys; sys.exit(3)").returncode == 3
    assert preloaded_python.run("import sys; sys.exit()").returncode == 0
    words = preloaded_python.run("import sys; sys.exit('no')")
    assert (words.returncode, words.stderr) == (1, "no\n")
    raised = preloaded_python.run("import atexit; atexit.register(print, 'ended'); 1 / 0")
    assert raised.returncode == 1 and raised.stdout == "ended\n"
    assert raised.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    with pytest.raises(subprocess.CalledProcessError):
        preloaded_python.run("raise SystemExit(2)", check=True)
