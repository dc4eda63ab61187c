"""What a run was made with, for citing it and making it again: objrec's version and commit, the
libraries that compute its numbers, the machine and its threads, the pretrained body's weights, the
split it trained on and how that split was made, and the command line with the folder it was given
in (nothing objrec takes on its command line is a secret, so it is recorded whole). ``summary.json``
holds it as ``provenance``.

The same seed gives the same model bit for bit on the same machine and libraries; another CPU may
pick another precision under ``auto`` (config.json has the one used) and round differently, so
the record names the CPU and the libraries whose arithmetic the numbers rest on.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from objrec import __version__
from objrec.manifest import manifest_rows, read_split_record

LIBRARIES = ("torch", "torchvision", "timm", "onnxruntime", "openvino", "numpy", "pillow")
"""The installed libraries whose versions a run records (those installed): what computes and
decodes."""


@dataclass(frozen=True)
class Provenance:
    """A run's origin, as ``summary.json``'s ``provenance`` holds it."""

    objrec: str
    """objrec's version."""
    commit: str | None
    """objrec's commit (:func:`source_commit`, as ``split.json``'s: the full hash, ``-dirty``
    when edited since it); None when objrec is not run from its checkout (an installed wheel)."""
    python: str
    libraries: dict[str, str] = field(default_factory=dict)
    """Each of :data:`LIBRARIES` installed, and its version."""
    machine: str = ""
    """The operating system and architecture (``platform.platform()``)."""
    cpu: str = ""
    """The CPU's model name: int8 and bf16 round differently on another."""
    threads: int = 1
    """PyTorch's threads; the head came out bit for bit alike on 1 and 2."""
    body_fingerprint: str | None = None
    """SHA-256 of the architecture and weights of the body the run answers with: the pretrained
    one (its int8 graph for an int8 body), or the tuned one after a kept fine-tuning."""
    data: str | None = None
    """The data folder trained on, absolute."""
    split_fingerprint: str | None = None
    """16 hex digits of a hash over the manifest's sorted (split, class, content SHA-256) rows:
    the same split of the same photos, wherever they lie; None without a manifest."""
    split_record: dict[str, Any] | None = None
    """How the split folder was made, as its ``split.json`` says (``split.record``: the source
    folder, ratios, seed, excluded classes, the duplicate, burst and group rules, each ``add``);
    None for a split folder made before objrec recorded it."""
    command: list[str] | None = None
    """The command line that started the run (``objrec train ...``; under torchrun ``torchrun
    --standalone --nproc-per-node N -m objrec train ...``, torchrun's words as typed where its
    process's command line can be read, else rebuilt from its environment without the flags
    that does not tell), to run it again; None when a script called ``train``."""
    cwd: str | None = None
    """The folder ``command`` was given in, which its relative paths start from (None with no
    command, or from a run's summary written before objrec recorded it)."""

    def to_json(self) -> dict[str, Any]:
        """As ``summary.json``'s ``provenance`` holds it: each field by its name, in this order."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Provenance | None:
        """The provenance a ``summary.json`` holds (:meth:`to_json`; read by the model card and a
        resume); None where it holds none (a run written before objrec recorded it). A field it
        lacks, or holds of another type (an edited file), reads as its default: ``objrec`` and
        ``python`` "", ``commit`` None."""
        if not isinstance(data, Mapping) or not data:
            return None
        given = {f.name: data[f.name] for f in fields(cls) if of_its_type(f.name, data.get(f.name))}
        return cls(**{"objrec": "", "commit": None, "python": ""} | given)


def of_its_type(name: str, value: Any) -> bool:
    """Whether ``value`` is of the type of :class:`Provenance`'s field ``name``, as JSON holds it
    (a ``command`` of words only)."""
    if name == "command":
        return isinstance(value, list) and all(isinstance(word, str) for word in value)
    kinds = {"libraries": dict, "split_record": dict, "threads": int}
    return isinstance(value, kinds.get(name, str)) and not isinstance(value, bool)


@dataclass(frozen=True)
class CommandLine:
    """A command line and the folder it was given in: ``cd cwd && shlex.join(words)`` runs it
    again, its relative paths as typed."""

    words: list[str]
    cwd: str | None
    """Absolute; None when not recorded (a run's summary written before objrec recorded it)."""


def given_here(command: Sequence[str] | None) -> CommandLine | None:
    """``command`` (the CLI's, ``objrec`` first) given in this process's working folder; None for
    no command (a script's call). The folder is recorded, not the command's paths resolved: they
    stay as typed, and the folder names no more of the machine than the data folder's absolute
    path already does."""
    return CommandLine(list(command), os.getcwd()) if command else None


def command_fields(command: CommandLine | None) -> dict[str, Any]:
    """``command`` and ``cwd`` as a record holds them (both None for no command)."""
    return {"command": list(command.words), "cwd": command.cwd} if command else NO_COMMAND


NO_COMMAND: dict[str, Any] = {"command": None, "cwd": None}


@dataclass(frozen=True)
class SplitState:
    """What a split folder's manifest and ``split.json`` said when a run listed its images: an
    ``add`` while the run trains changes both, not what the run trained on."""

    fingerprint: str | None
    """:func:`split_fingerprint` of its manifest."""
    record: dict[str, Any] | None
    """Its ``split.json`` (``manifest.read_split_record``)."""


def split_state(data: Path) -> SplitState:
    """The split folder ``data``'s :class:`SplitState` now."""
    return SplitState(split_fingerprint(data / "manifest.csv"), read_split_record(data))


def provenance(
    body_fingerprint: str | None,
    data: str | None,
    threads: int,
    command: CommandLine | None = None,
    split: SplitState | None = None,
) -> Provenance:
    """The provenance of a run trained on the split folder ``data`` by ``command``; ``split``:
    that folder as the run listed it (read now when not given). It runs ``git`` (the commit):
    under torchrun only rank 0, which writes the run, asks for it."""
    if split is None and data:
        split = split_state(Path(data))
    return Provenance(
        objrec=__version__,
        commit=source_commit(Path(__file__).resolve().parent),
        python=platform.python_version(),
        libraries=library_versions(),
        machine=platform.platform(),
        cpu=cpu_name(),
        threads=threads,
        body_fingerprint=body_fingerprint,
        data=str(Path(data).resolve()) if data else None,
        split_fingerprint=split.fingerprint if split else None,
        split_record=split.record if split else None,
        **command_fields(command),
    )


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def source_commit(package: Path) -> str | None:
    """The commit of the checkout ``package`` (``src/objrec``) lies in, when it is objrec's own
    (a ``pyproject.toml`` beside ``src``); None otherwise, or without git. ``git describe
    --always --dirty --abbrev=40``: the full hash (after an annotated tag ``TAG-N-gHASH``),
    ``-dirty`` when edited; the one form every record of objrec's (a run's provenance,
    ``split.json``, each ``add`` and applied plan in it) gives."""
    root = package.parent.parent
    if package.parent.name != "src" or not (root / "pyproject.toml").is_file():
        return None
    command = ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"]
    # --dirty refreshes the index, under index.lock: a developer's `git commit` in the checkout at
    # that moment would fail. GIT_OPTIONAL_LOCKS=0 reads it without (as editors' `git status` do).
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=10, check=False, env=env
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def cpu_name() -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def split_fingerprint(manifest: Path) -> str | None:
    """16 hex digits over the sorted (split, class, sha256) rows of ``manifest``: the paths
    and the source folder aside, so a reviewer's split of the same photos compares equal."""
    rows = sorted(f"{r['split']},{r['class']},{r['sha256']}" for r in manifest_rows(manifest))
    if not rows:
        return None
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
