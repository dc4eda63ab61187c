"""What ``pip install objrec`` gets: the version said in one place, and a wheel, built from the
source distribution as pip builds it, that holds every file of the package and nothing else."""

import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import objrec
from objrec.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_once_and_pyproject_reads_it():
    """The version was written twice, in pyproject.toml and in objrec/__init__.py, both "0.1.0":
    a release that raised one would have said two. pyproject reads ``objrec.__version__``."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "objrec.__version__"}


def test_python_3_12_and_3_13_may_install_objrec():
    """requires-python was ">=3.11,<3.12" from the first commit, without a reason given: pip
    refused Python 3.12 and 3.13, for which every pinned package (torch 2.14.1, torchvision
    0.29.1, onnxruntime 1.32, openvino 2026.4 and the rest) publishes wheels (portable42)."""
    from packaging.specifiers import SpecifierSet

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    admitted = SpecifierSet(pyproject["project"]["requires-python"])
    assert all(version in admitted for version in ("3.11.7", "3.12.1", "3.13.0"))
    assert "3.10.13" not in admitted


def test_pyproject_and_the_readme_name_the_pythons_the_suite_passes_on():
    """pyproject admitted 3.11 to 3.13 but named none in its classifiers, and the README said the
    tests ran on 3.11 only. The suite passes on 3.11.7, 3.12.1 and 3.13.0 (py3x, 5 December):
    requires-python admits those minor versions and no other, the classifiers name the same,
    and the README's install section says so."""
    from packaging.specifiers import SpecifierSet

    passed = ["3.11", "3.12", "3.13"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    admitted = SpecifierSet(project["requires-python"])
    assert [f"3.{minor}" for minor in range(6, 16) if f"3.{minor}.0" in admitted] == passed
    language = "Programming Language :: Python :: "
    named = [c.removeprefix(language) for c in project["classifiers"] if c.startswith(language)]
    assert [n for n in named if n.startswith("3.")] == passed
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "tested on Linux with Python 3.11, 3.12 and 3.13" in readme
    assert "Its test suite passes on Linux x86-64 with Python 3.11, 3.12 and 3.13" in readme


def test_version_says_the_source_s_version_not_a_stale_install_s(capsys, monkeypatch):
    """``objrec --version`` read the installed package's metadata, which an editable install keeps
    from the day it was installed: after a version change it said the old version while serve's
    /info and a run's summary said the new. It says ``objrec.__version__``, as they do."""
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.1")
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"objrec, version {objrec.__version__}"


def build(backend_call: str, folder: Path, out: Path) -> Path:
    """The file that setuptools' PEP 517 backend (``build_sdist`` or ``build_wheel``) writes
    into ``out`` for the project in ``folder``, built in a process of its own, as pip builds
    it; fails the test with setuptools' output when it warns (a deprecation, a missing file)."""
    out.mkdir(exist_ok=True)
    code = f"from setuptools import build_meta; print(build_meta.{backend_call}({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, check=False
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0 and "Deprecat" not in said and "!!" not in said, said
    return out / done.stdout.strip().splitlines()[-1]


def source_copy(dest: Path) -> Path:
    """The repository's files a source distribution may take (the top folder's files, src,
    tests, docs, benchmarks and scripts), without caches or a build's leftovers."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*")
    dest.mkdir()
    for path in ROOT.iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy2(path, dest / path.name)
    for name in ("src", "tests", "docs", "benchmarks", "scripts"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


def benchmark_scripts(root: Path) -> set[str]:
    """The benchmarks' scripts under ``root``: tests load some (test_export, export_check.py)."""
    return {p.name for p in (root / "benchmarks").glob("*.py")}


@pytest.mark.slow  # builds the sdist, then the wheel from it: about 5 s
def test_the_wheel_built_from_the_sdist_holds_the_whole_package_and_only_it(tmp_path):
    """The wheel is what a team's index serves and ``pip install objrec`` unpacks: every file of
    src/objrec (the serve page, the report's template, the sample, py.typed) must be in it, built
    from the sdist alone, as pip builds it, and no test or cache; its metadata says
    ``objrec.__version__``. The wheel lacked py.typed, so mypy ignored objrec's annotations; the
    sdist lacked the benchmarks' scripts, so a test failed there (FileNotFoundError); the wheel
    carried no licence text, which MIT asks every copy to carry."""
    sdist = build("build_sdist", source_copy(tmp_path / "repo"), tmp_path)
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    assert (
        sorted(benchmark_scripts(ROOT) - benchmark_scripts(next(tmp_path.glob("unpacked/*")))) == []
    )
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    wheel = build("build_wheel", unpacked, tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"objrec-{objrec.__version__}.dist-info/METADATA").decode()
    package = ROOT / "src"
    source = {
        p.relative_to(package).as_posix()
        for p in (package / "objrec").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert "objrec/py.typed" in source and "objrec/static/index.html" in source
    assert sorted(source - names) == []
    assert {n.split("/")[0] for n in names} == {"objrec", f"objrec-{objrec.__version__}.dist-info"}
    assert f"\nVersion: {objrec.__version__}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    assert f"objrec-{objrec.__version__}.dist-info/licenses/LICENSE" in names
