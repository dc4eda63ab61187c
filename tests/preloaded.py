"""A Python that has imported PyTorch once, forked for each test's ``python -c CODE``.

Tests of what a command imports (``torchvision``, ``torch._dynamo``, matplotlib, the packages a
GPU image may lack) run their code in a new process, whose ``sys.modules`` holds only what that
code imported. Each such process spent 2 to 3 s of CPU importing PyTorch before its code ran, as
many times as there were tests. Here one server process per pytest process imports PyTorch and
nothing else (no objrec, no torchvision), then forks a child for each code: the child runs it as
``python -c CODE ARGS`` would, with the environment and folder it is given, and exits. Code that
checks a process's own start or end (its age, its exit, signals, the heap it freezes), or that
``import objrec`` leaves PyTorch out, keeps a Python of its own.

``tests/conftest.py``'s ``preloaded_python`` fixture starts the server; ``test_preloaded.py``
checks it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SERVER = r"""
import atexit, builtins, json, os, sys, traceback
import torch  # the preloaded part; nothing of objrec, nothing torch imports lazily

replies = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    asked = json.loads(line)
    child = os.fork()
    if child == 0:
        os.chdir(asked["cwd"])
        os.environ.clear()
        os.environ.update(asked["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(os.open(asked["stdout"], os.O_WRONLY), 1)
        os.dup2(os.open(asked["stderr"], os.O_WRONLY), 2)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        sys.argv = ["-c", *asked["args"]]
        code = 0
        try:
            exec(compile(asked["code"], "<string>", "exec"), {"__name__": "__main__", "__builtins__": builtins})
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
            if not isinstance(stop.code, int | None):
                print(stop.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(child, 0)
    print(os.waitstatus_to_exitcode(status), file=replies, flush=True)
"""


class PreloadedPython:
    """The server (:data:`SERVER`), started at once; ``run`` sends it one code at a time."""

    def __init__(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(
        self,
        code: str,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | str | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess:
        """``subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
        text=True, env=env, cwd=cwd, check=check)``, run by a fork of the server: ``env`` (this
        process's environment when None) and ``cwd`` as there."""
        with tempfile.TemporaryDirectory(prefix="objrec-preloaded-") as folder:
            out, err = Path(folder, "stdout"), Path(folder, "stderr")
            out.touch()
            err.touch()
            asked = {
                "code": code,
                "args": [str(arg) for arg in args],
                "env": dict(os.environ if env is None else env),
                "cwd": str(cwd or os.getcwd()),
                "stdout": str(out),
                "stderr": str(err),
            }
            assert self.server.stdin and self.server.stdout
            self.server.stdin.write(json.dumps(asked) + "\n")
            self.server.stdin.flush()
            reply = self.server.stdout.readline()
            assert reply, f"the preloaded Python ended (exit code {self.server.wait()})"
            argv = [sys.executable, "-c", code, *asked["args"]]
            done = subprocess.CompletedProcess(
                argv, int(reply), out.read_text(errors="replace"), err.read_text(errors="replace")
            )
        if check:
            done.check_returncode()
        return done

    def close(self) -> None:
        """The server ends once its input does."""
        if self.server.stdin:
            self.server.stdin.close()
        self.server.wait(timeout=60)
