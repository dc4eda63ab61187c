"""Which evaluated images a run has already seen: its training and validation images, by content.

Files are compared by the SHA-256 of their bytes (its first 128 bits, as the feature store keys
them), so a copy (``split`` copies by default), a link and the original all count as the same
image. ``train`` records the digests of the images it trained and validated on in the run folder
(``SEEN_RECORD``), so the run's images are those it saw, whatever its data folder holds since. A
run trained before that record existed is compared with the images now in its data folder's
``train/`` and ``valid/``, hashed as they are (never by ``split``'s manifest, which a file changed
by hand since the split makes stale). Given the feature store, digests come from its file index
(path, size, times -> digest), so files the store has seen unchanged are not read again.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from objrec.file_index import DIGEST_CHARS, hash_file
from objrec.listing import list_images
from objrec.progress import Reporter, passes_from_first_step
from objrec.run_files import SEEN_RECORD
from objrec.store import FeatureStore
from objrec.warned import warn_once

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SEEN_SPLITS = ("train", "valid")
"""In a run folder: ``split,digest``, one row per image the run trained (``train``) or validated
(``valid``) on, written by ``train``."""


def digests(paths: Sequence[Path], store: FeatureStore | None) -> list[str]:
    """The content digest of each file: from the store's file index when given, else hashed."""
    if store is not None:
        return store.digests(list(paths))[0]
    return [hash_file(Path(p)) for p in paths]


def near_seen(
    digests: Sequence[str],
    known: Mapping[str, str],
    facts_file: Path,
    on_row: Callable[[int, int], None] | None = None,
) -> tuple[dict[int, str], int]:
    """Which of the images of content ``digests`` are near-duplicates of the run's own (``known``:
    digest -> split) without being byte copies: re-saved, resized or cropped copies, by the rule
    ``split`` keeps photos together by (``dedup.candidate_pairs``), from the image facts the cache
    folder ``facts_file`` keeps (evaluate measured the evaluated images', a split the run's).
    Returns each such image's position and the split of a run image it copies (train first), and
    how many of the run's images the facts have nothing of (not compared: a cache folder cleared,
    a run from another machine). ``on_row(done, total)``: the search's progress."""
    from objrec import dedup, facts_store

    evaluated = set(digests)
    own = [d for d in known if d not in evaluated]
    kept = facts_store.facts_of([*own, *digests], facts_file)
    theirs = [d for d in own if d in kept and not kept[d].error]
    ours = [i for i, d in enumerate(digests) if d in kept and not kept[d].error and d not in known]
    if not theirs or not ours:
        return {}, len(own) - len(theirs)
    # the smaller side's rows against all: each side's own pairs are measured too, and left out
    mine = len(ours) <= len(theirs)
    first = [kept[digests[i]] for i in ours] if mine else [kept[d] for d in theirs]
    second = [kept[d] for d in theirs] if mine else [kept[digests[i]] for i in ours]
    n, found = len(first), dict[int, str]()
    for i, j in dedup.candidate_pairs([*first, *second], rows=range(n), on_row=on_row).tolist():
        if i < n <= j:
            image, split = (
                (ours[i], known[theirs[j - n]]) if mine else (ours[j - n], known[theirs[i]])
            )
            if found.get(image) != "train":
                found[image] = split
    return dict(sorted(found.items())), len(own) - len(theirs)


NEAR_SEEN_PASSES = (
    "comparing with the run's own images",
    "comparing with them turned and trimmed",
    "comparing with their crops",
)
"""The passes of the search for near-duplicates of the run's own images (``COMPARE_PASSES``'s)."""
MEASURING_NEAR = "measuring the images for copies of the run's own"
"""The task of decoding (small) each image not measured before, for its perceptual hashes, when
they are to be compared with the run's own and were not measured for anything else (``suggest``)."""


def near_copies(
    run: Path,
    where: tuple[Path, str | None],
    found: tuple[Sequence[Path], Sequence[str]],
    facts_file: Path,
    reporter: Reporter,
    measure: bool = False,
) -> dict[str, list[str]]:
    """Which images ``found`` (paths, content digests) are near-duplicates of the run's own
    training or validation images without being byte copies (:func:`near_seen`), by split:
    re-saved, resized or cropped copies, which ``evaluate`` warns of and ``suggest`` leaves out
    as labelled already (a phone's or gallery's export is where a user's copies land).
    ``where``: the folder they are in and the run's data folder: not looked for inside it where
    its record proves that no near-duplicate lies across its splits
    (:func:`kept_near_copies_apart`). By ``run``'s record of its images (``SEEN_RECORD``:
    a run of an older objrec has none) and the image facts the cache folder ``facts_file`` keeps
    of them (a split with it measured them): where it keeps none, they are not compared, and
    the log says so. ``measure``: measure ``found``'s facts first where the run's are kept (a
    task of its own); else ``found``'s are already (``evaluate``'s near-duplicate groups)."""
    from objrec import facts_store

    folder, data_dir = where
    inside = data_dir and Path(folder).resolve().is_relative_to(Path(data_dir).resolve())
    kept = inside and kept_near_copies_apart(Path(str(data_dir)))
    known = None if kept else read_seen(run if run.is_dir() else run.parent)
    if not known or (measure and not facts_store.facts_of(list(known), facts_file)):
        return {}
    paths, digests = found
    if measure:
        with reporter.task(MEASURING_NEAR, len(paths)) as advance:
            facts_store.cached_facts(list(paths), list(digests), facts_file, lambda: advance(1))
    with passes_from_first_step(reporter, NEAR_SEEN_PASSES) as on_row:
        near, unmeasured = near_seen(digests, known, facts_file, on_row)
    if unmeasured:
        log.info(
            "near-duplicates of %d of the run's own images not looked for: the cache folder %s "
            "keeps no image facts of them (a split or an audit with it measures them)",
            unmeasured,
            Path(facts_file).parent,
        )
    copies: dict[str, list[str]] = {}
    for i, split in near.items():
        copies.setdefault(split, []).append(str(paths[i]))
    return copies


def kept_near_copies_apart(data: Path) -> bool:
    """Whether the ``split.json`` of the split folder ``data`` proves that no near-duplicate lies
    across its splits by today's rules: ``split`` kept near-duplicates together by
    ``near_pairs.PAIRS_KEY`` (its ``pairs``), and each ``add`` since did too, placing none apart
    from its near-duplicates and finding no group spread across splits. Only then does
    :func:`near_copies` skip the search inside it; a split with exact duplicates only, one an
    older objrec made (other rules, or none recorded), an add that placed a photo apart from its
    near-duplicate (its burst pulled it) are searched. A split edited by hand is ``check``'s."""
    from objrec.manifest import read_split_record
    from objrec.near_pairs import PAIRS_KEY

    record = read_split_record(data) or {}
    if not record.get("near_duplicates") or record.get("pairs") != PAIRS_KEY:
        return False
    added = record.get("added")
    return all(_added_kept_apart(entry, PAIRS_KEY) for entry in added or [])


def _added_kept_apart(entry: object, rules: str) -> bool:
    """Whether an ``add``'s entry of ``split.json`` says it kept near-duplicates together by
    ``rules``, leaving none apart and finding no group spread."""
    if not isinstance(entry, dict):
        return False
    return entry.get("pairs") == rules and entry.get("near_apart") == 0 and entry.get("spread") == 0


HEADER = ["split", "digest"]
DIGEST = re.compile(f"[0-9a-f]{{{DIGEST_CHARS}}}")


def write_seen(run: Path, seen: Mapping[str, Sequence[str]]) -> None:
    """Write ``SEEN_RECORD`` into the run folder, atomically: the digests of each split's
    images."""
    from objrec.checkpoint import atomic_write  # PyTorch: check RUN reads the record without it

    lines = [",".join(HEADER)]
    for split in SEEN_SPLITS:
        lines += [f"{split},{digest}" for digest in sorted(set(seen.get(split, ())))]
    atomic_write(Path(run) / SEEN_RECORD, ("\n".join(lines) + "\n").encode())


def seen_tensors(seen: Mapping[str, Sequence[str]]) -> dict[str, torch.Tensor]:
    """``seen`` as tensors of a training state (``seen.train``, ``seen.valid``: 16 bytes a
    digest), so that a resumed run records the images it saw before the resume as well as those
    there since (:func:`seen_in_state`), even when it was killed before writing its record."""
    import torch

    tensors = {}
    for split in SEEN_SPLITS:
        packed = b"".join(bytes.fromhex(d) for d in sorted(set(seen.get(split, ()))))
        rows = np.frombuffer(packed, dtype=np.uint8).reshape(-1, DIGEST_CHARS // 2)
        tensors[f"seen.{split}"] = torch.from_numpy(rows.copy())
    return tensors


def seen_in_state(tensors: Mapping[str, torch.Tensor]) -> dict[str, list[str]]:
    """The digests :func:`seen_tensors` put in a training state, per split; none from a state
    an older objrec wrote."""
    return {
        split: [bytes(row).hex() for row in tensors[f"seen.{split}"].numpy()]
        for split in SEEN_SPLITS
        if f"seen.{split}" in tensors
    }


def union_seen(*records: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The digests of each split in any of ``records``."""
    return {
        split: sorted({digest for record in records for digest in record.get(split, ())})
        for split in SEEN_SPLITS
    }


def read_seen(run: Path) -> dict[str, str] | None:
    """Content digest -> split, from the run folder's ``SEEN_RECORD``; None when it has none (a
    run from an older objrec, or a checkpoint copied out of its folder) or it cannot be read: a
    record without its header, with a row that is not a split and a digest, or with no training
    image (empty, or cut off) is said to be unreadable, never taken as a run that saw nothing."""
    record = Path(run) / SEEN_RECORD
    try:
        return seen_record(record)
    except (OSError, ValueError, csv.Error) as exc:
        if record.exists():
            warn_once("seen record", record, "%s cannot be read (%s)", record, exc)
        return None


def seen_record(record: Path) -> dict[str, str]:
    """Content digest -> split from the ``SEEN_RECORD`` file ``record``; OSError, or ValueError
    (``csv.Error``) saying what is wrong with one that is not whole."""
    with Path(record).open(newline="") as f:
        return by_digest(checked_rows(csv.reader(f)))


def checked_rows(reader: Iterable[list[str]]) -> list[tuple[str, str]]:
    """The (split, digest) rows of a record after its header; a ValueError saying what is wrong
    with one that is not whole."""

    def whole(row: list[str]) -> bool:
        return len(row) == 2 and row[0] in SEEN_SPLITS and bool(DIGEST.fullmatch(row[1]))

    checked = [
        (split, digest)
        for split, digest in rows_after(reader, HEADER, whole, "a split and a digest")
    ]
    if not any(split == "train" for split, _ in checked):
        raise ValueError("it lists no training image")
    return checked


def rows_after(
    reader: Iterable[list[str]], header: list[str], whole: Callable[[list[str]], bool], what: str
) -> list[list[str]]:
    """The rows of one of a run's records after its ``header``; a ValueError naming the first
    line that is not ``what`` (not ``whole``), or a first line that is not the header: a record
    cut off or edited is said to be unreadable, never read as far as it goes."""
    rows = iter(reader)
    if next(rows, None) != header:
        raise ValueError(f"its first line is not {','.join(header)}")
    checked = []
    for n, row in enumerate(rows, 2):
        if not whole(row):
            raise ValueError(f"line {n} is not {what}")
        checked.append(row)
    return checked


def by_digest(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Content digest -> split; an image both in train and in valid counts as a training one."""
    known: dict[str, str] = {}
    for split, digest in rows:
        if known.get(digest) != "train":
            known[digest] = split
    return known


def seen_hashes(data_dir: Path, store: FeatureStore | None = None) -> dict[str, str]:
    """Content digest -> split (``train`` or ``valid``) for every image now in the folder's
    ``train/`` and ``valid/``."""
    data_dir = Path(data_dir)
    files = [
        (split, path)
        for split in SEEN_SPLITS
        if (data_dir / split).is_dir()
        for path in list_images(data_dir / split)
    ]
    hashed = digests([path for _, path in files], store)
    return by_digest((split, digest) for (split, _), digest in zip(files, hashed, strict=True))


def seen_words(counts: Mapping[str, int], of: str, what: str = "") -> str:
    """``3 of the 10 evaluated images are the run's own 2 training and 1 validation images``:
    ``counts`` by split, ``of`` whose (``the 10 evaluated images``), ``what`` before "the run's"
    (``near-duplicates of ``). Of one split, its count is not said again: "15 of the 25 images
    answered are the run's own 15 training images" read as a run of 15 training images, and "1
    of the 10 evaluated images is the run's own 1 training image" as a run of one."""
    seen = sum(counts.values())
    kinds = {s: "training" if s == "train" else "validation" for s in counts}
    if len(counts) > 1:  # two splits: two images or more
        parts = " and ".join(f"{c} {kinds[s]}" for s, c in counts.items())
        return f"{seen} of {of} are {what}the run's own {parts} images"
    (kind,) = kinds.values()
    if seen == 1:
        what = what.replace("near-duplicates", "a near-duplicate")
        return f"1 of {of} is {what}one of the run's own {kind} images"
    return f"{seen} of {of} are {what}the run's own {kind} images"


def recorded_among(
    run: Path,
    paths: Sequence[Path],
    store: FeatureStore | None = None,
    digests: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """The ``paths`` that are the run's own training or validation images by its record
    (``SEEN_RECORD``), per split (train first); empty for a run without one, whose data folder
    is not hashed for it. Each file's digest is the caller's where it has it (``digests``, by
    path as given: ``predict``'s, of the bytes it decoded), else the store's file index's where
    it knows the file unchanged, else from its bytes (read, not decoded); nothing is recorded:
    ``predict`` reads only, and its photos are mostly new."""
    known = read_seen(run)
    if not known or not paths:
        return {}
    found: dict[str, list[str]] = {}
    for path, digest in zip(paths, given_or_indexed(paths, store, digests or {}), strict=True):
        with suppress(OSError):  # gone since it was answered: not said
            split = known.get(digest or hash_file(Path(path)))
            if split:
                found.setdefault(split, []).append(str(path))
    return {split: found[split] for split in SEEN_SPLITS if split in found}


def given_or_indexed(
    paths: Sequence[Path], store: FeatureStore | None, given: Mapping[str, str]
) -> list[str | None]:
    """Each file's digest as ``given`` (by path), else as the store's file index knows it
    unchanged (:meth:`FeatureStore.known_digests`), else None."""
    todo = [path for path in paths if str(path) not in given]
    indexed = iter(store.known_digests(todo) if store is not None and todo else [None] * len(todo))
    return [given[str(path)] if str(path) in given else next(indexed) for path in paths]


def known_hashes(
    run: Path | None, data_dir: str | Path | None, store: FeatureStore | None
) -> dict[str, str]:
    """Content digest -> split of the run's images: its record, else its data folder as it is
    now (said, as it may not hold what the run trained on); empty when neither is there."""
    recorded = read_seen(run) if run is not None else None
    if recorded is not None:
        return recorded
    if data_dir is None or not Path(data_dir).is_dir():
        log.info("the run's data folder %s is not there: overlap with it not checked", data_dir)
        return {}
    if run is not None:  # once a command: evaluate --unknown reads it for two folders
        warn_once(
            "no seen record",
            run,
            "%s has no readable %s (a run trained by an older objrec has none): the evaluated "
            "images are compared with the training and validation images now in %s, which may "
            "not be those it trained on",
            run,
            SEEN_RECORD,
            data_dir,
        )
    return seen_hashes(Path(data_dir), store)


def seen_images(
    data_dir: str | Path | None,
    paths: Sequence[Path | str],
    store: FeatureStore | None = None,
    run: Path | None = None,
) -> dict[str, list[str]]:
    """The ``paths`` that are training or validation images of the run, per split.

    ``run``: the run folder, whose record of its images decides; without one, the images now in
    ``data_dir`` (the run's data folder) do. Empty when neither is there (nothing can be said).
    """
    known = known_hashes(run, data_dir, store)
    if not known:
        return {}
    found: dict[str, list[str]] = {}
    for path, digest in zip(paths, digests([Path(p) for p in paths], store), strict=True):
        split = known.get(digest)
        if split:
            found.setdefault(split, []).append(str(path))
    return found
