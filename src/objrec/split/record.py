"""How a split folder was made, in its ``split.json``: the source folder, the settings (ratios,
seed, the classes split or excluded, copy or link, the duplicate, burst and group rules,
``like``), objrec's version and commit, the command line and the folder it was given in, each
``add`` since and each audit plan applied (``apply-plan`` copies the record into its output
folder). ``split`` writes it beside ``manifest.csv``; ``check`` shows it and a run's provenance
carries it, so a reader of a result knows how to make the same split
(``provenance.split_fingerprint`` tells whether they did).

Split folders made before it have no ``split.json``: ``manifest.read_split_record`` gives None,
and everything else reads them as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from objrec import __version__
from objrec.config import SplitConfig
from objrec.manifest import SPLIT_RECORD, read_split_record, sha256_file
from objrec.outputs import staged_file
from objrec.placement import PLACEMENT
from objrec.provenance import command_fields, given_here, source_commit
from objrec.split.result import SplitResult


@dataclass(frozen=True)
class SplitRecord:
    """A split folder's ``split.json``: what made it, to cite it and make it again."""

    source: str
    """The folder split, absolute (a path on the machine that split it)."""
    ratios: list[float]
    seed: int
    exclude: list[str]
    """The class folders left out."""
    classes: list[str]
    """The only class folders split (``split --classes``); empty: every one."""
    mode: str
    """``copy`` or ``link``."""
    strict: bool
    near_duplicates: bool
    """Near-duplicates kept in one split (else byte-identical files only)."""
    burst_seconds: float
    groups: str | None
    """The ``groups`` file, absolute; None without one."""
    groups_sha256: str | None
    """The SHA-256 of the ``groups`` file as it was read."""
    like: str | None
    """The earlier split folder whose images kept their splits, absolute; None without one."""
    placement: int = PLACEMENT
    """The order the groups were placed in (``placement.PLACEMENT``): the same photos, settings
    and ``seed`` give the same manifest under the same one. Absent from a ``split.json`` written
    before 6 December 2026: 1 (:func:`placement_of`)."""
    pairs: str | None = None
    """The rules the near-duplicates kept together were found by (``near_pairs.PAIRS_KEY``);
    None without ``near_duplicates``, or in a ``split.json`` an older objrec wrote. Where they
    are today's, ``evaluate`` knows no near-duplicate lies across the splits
    (``leakage.kept_near_copies_apart``)."""
    objrec: str = __version__
    commit: str | None = None
    """objrec's commit (``provenance.source_commit``, the same form as a run's: the full hash,
    ``-dirty`` when edited); None from a wheel."""
    command: list[str] | None = None
    """The command line that made it (``objrec`` first); None when a script called
    ``split_folder``."""
    cwd: str | None = None
    """The folder ``command`` was given in, which its relative paths start from (None with no
    command)."""
    added: list[dict[str, Any]] = field(default_factory=list)
    """Each ``add`` since, in order (:func:`added_entry`)."""
    applied: list[dict[str, Any]] = field(default_factory=list)
    """Each audit plan applied since, in order (:func:`applied_entry`): its folder is a copy."""
    left_out: dict[str, Any] = field(default_factory=dict)
    """What the split left out or found wrong in the source folder (:func:`left_out_entry`),
    which the report shows beside the data (a manager read "271 images" and never learnt that 3
    of 274 files were not used): empty in a ``split.json`` written before 7 December 2026."""


def split_record(
    src: Path,
    config: SplitConfig,
    command: Sequence[str] | None = None,
    left_out: dict[str, Any] | None = None,
) -> SplitRecord:
    """The record of a split of ``src`` (absolute) made now with ``config``, and what it left
    out (``left_out``: :func:`left_out_entry`)."""
    groups = Path(config.groups).resolve() if config.groups is not None else None
    return SplitRecord(
        source=str(src),
        ratios=list(config.ratios),
        seed=config.seed,
        exclude=list(config.exclude),
        classes=list(config.classes),
        mode=config.mode,
        strict=config.strict,
        near_duplicates=config.near_duplicates,
        burst_seconds=config.burst_seconds,
        groups=str(groups) if groups is not None else None,
        groups_sha256=sha256_file(groups) if groups is not None else None,
        like=str(Path(config.like).resolve()) if config.like is not None else None,
        pairs=pair_rules(config),
        commit=source_commit(Path(__file__).resolve().parents[1]),
        **command_fields(given_here(command)),
        left_out=left_out or {},
    )


def left_out_entry(result: SplitResult) -> dict[str, Any]:
    """What a split (``result``) left out of the source folder, or found wrong in it, as its
    warnings said only in the terminal: ``unreadable`` (the files that cannot be read, relative
    to the source folder), ``in_two_classes`` (each picture found in two classes, a pair of
    files: one label is probably wrong, both trained on), and ``ignored`` (how many files of each
    kind were not images or lay outside any class folder: ``listing.IGNORED_KINDS``)."""
    ignored = result.ignored_files
    kinds = ignored.by_kind() if ignored is not None else {}
    return {
        "unreadable": list(result.unreadable_files),
        "in_two_classes": [list(pair) for pair in result.cross_class_duplicates],
        "ignored": {kind: len(files) for kind, files in kinds.items()},
    }


def added_entry(
    new: Sequence[Path],
    class_name: str | None,
    config: SplitConfig,
    own: bool,
    command: Sequence[str] | None,
    **made: Any,
) -> dict[str, Any]:
    """One ``add``'s entry in ``added``: the folders or files added from (absolute), the class
    given, its settings (``ratios`` None: the folder's own, as ``own`` says; ``pairs``, the
    near-duplicate rules), how many files it wrote and the near-duplicates it left apart
    (``made``: ``files``, ``near_apart``, ``spread``) and its command line and the folder it was
    given in."""
    return {
        "new": [str(Path(p).resolve()) for p in new],
        "class": class_name,
        "ratios": None if own else list(config.ratios),
        "seed": config.seed,
        "placement": PLACEMENT,
        "mode": config.mode,
        "near_duplicates": config.near_duplicates,
        "pairs": pair_rules(config),
        "burst_seconds": config.burst_seconds,
        "objrec": __version__,
        "commit": source_commit(Path(__file__).resolve().parents[1]),
        **made,
        **command_fields(given_here(command)),
    }


def pair_rules(config: SplitConfig) -> str | None:
    """The near-duplicate rules a split or an add with ``config`` keeps together by
    (``near_pairs.PAIRS_KEY``), None without ``near_duplicates``."""
    from objrec.near_pairs import PAIRS_KEY

    return PAIRS_KEY if config.near_duplicates else None


def placement_of(record: dict[str, Any]) -> int:
    """The order a split (``split.json``'s ``record``) or an ``add`` (an entry of its ``added``)
    placed groups in: 1, the order before ``placement`` was recorded, where it is absent."""
    placement = record.get("placement", 1)
    return placement if isinstance(placement, int) else 1


def applied_entry(
    data: Path, plan: tuple[Path, str], mode: str, command: Sequence[str] | None
) -> dict[str, Any]:
    """One ``apply-plan``'s entry in ``applied``: the split folder it copied (absolute), the plan
    file (absolute) and its SHA-256 as it was read (``plan``), ``copy`` or ``link``, objrec's
    version and commit, the command line and the folder it was given in; the counts of what it
    did are added to it (:func:`record_applied`)."""
    return {
        "data": str(Path(data).resolve()),
        "plan": str(Path(plan[0]).resolve()),
        "plan_sha256": plan[1],
        "mode": mode,
        "objrec": __version__,
        "commit": source_commit(Path(__file__).resolve().parents[1]),
        **command_fields(given_here(command)),
    }


def record_applied(data: Path, out: Path, entry: dict[str, Any]) -> None:
    """``out``'s ``split.json``, the record of ``data`` (a split folder ``out`` is a copy of:
    how it was split, each ``add``) with ``entry`` (:func:`applied_entry` and its counts)
    appended to ``applied``; only ``applied`` when ``data`` has none (split before objrec
    recorded how)."""
    record = read_split_record(data) or {}
    applied = record.get("applied")
    record["applied"] = [*(applied if isinstance(applied, list) else []), entry]
    write_split_record(out, record)


def write_split_record(folder: Path, record: SplitRecord | dict[str, Any]) -> None:
    """``folder/split.json``, written whole or not at all."""
    data = asdict(record) if isinstance(record, SplitRecord) else record
    with staged_file(Path(folder) / SPLIT_RECORD) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def record_added(folder: Path, entry: dict[str, Any]) -> None:
    """Append ``entry`` (:func:`added_entry`) to the ``added`` of ``folder``'s ``split.json``;
    nothing when it has none (a split made before objrec recorded how)."""
    record = read_split_record(folder)
    if record is None:
        return
    added = record.get("added")
    record["added"] = [*(added if isinstance(added, list) else []), entry]
    write_split_record(folder, record)
