"""How many distinct photos evaluated images are: each image's near-duplicate group, the groups
``split`` kept together as the manifest records them, else found here as ``split`` would find
them (:func:`near_duplicate_groups`). A score over 75 frames of 14 scenes rests on 14 photos:
``evaluate`` counts its intervals, its per-class trust and its confusions by them, and the
stricter threshold's classes are judged by them (:mod:`objrec.open_set`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import compress
from pathlib import Path

import torch

from objrec.cache import open_cache
from objrec.config import EvaluateConfig, SplitConfig
from objrec.data import Sample
from objrec.features import FeatureTable
from objrec.inference import Recognizer
from objrec.paths import PathGiven
from objrec.progress import COMPARE_PASSES, Reporter, or_silent, passes_from_first_step


def readable_groups(
    recognizer: Recognizer,
    samples: Sequence[Sample],
    table: FeatureTable,
    ok: torch.Tensor,
    config: EvaluateConfig,
    reporter: Reporter | None = None,
) -> tuple[list[Path], list[str], list[int]]:
    """The paths and content digests of the images ``ok`` of ``samples`` (``table``: their
    first view's features) and each one's near-duplicate group (:func:`near_duplicate_groups`,
    its search shown to ``reporter``): what ``measure`` counts the evaluated images' distinct
    photos by, and ``valid_images`` the validation images'."""
    paths = [s.path for s, good in zip(samples, ok.tolist(), strict=True) if good]
    digests = list(compress(table.digests, ok.tolist()))
    named = [recognizer.classes[label] for label in table.labels[ok].tolist()]
    cache = config.cache_dir or recognizer.meta.cache_dir
    return paths, digests, near_duplicate_groups(paths, digests, cache, named, reporter)


def near_duplicate_groups(
    paths: Sequence[Path],
    digests: Sequence[str],
    cache_dir: PathGiven | None,
    classes_of: Sequence[str] | None = None,
    reporter: Reporter | None = None,
) -> list[int]:
    """Each image's near-duplicate group, numbered from 0 in order of first appearance: the
    groups ``split`` kept together, as the manifest of the split folder holding the images
    records them (``manifest.recorded_groups``: with a ``groups`` file's groups and the
    ``burst_seconds`` that split was given; ``add`` records its images' so). The images no
    manifest records (added by hand; a split before it recorded groups; a file changed since) are
    grouped here (:func:`grouped_here`), and join a recorded group where they duplicate one of its
    images. A score over 75 frames of 14 scenes rests on 14 distinct photos, and evaluate says
    so."""
    from objrec.grouping import join_groups
    from objrec.manifest import recorded_groups

    if not paths:
        return []
    recorded = recorded_groups(paths, digests)
    keys = [f"split {group}" for group in recorded if group is not None]
    if len(keys) < len(paths):
        here = grouped_here(paths, digests, cache_dir, classes_of, reporter)
        alone = {key for key, group in zip(here, recorded, strict=True) if group is None}
        own = {
            path: f"split {group}" if group else f"here {key}"
            for path, group, key in zip(paths, recorded, here, strict=True)
        }
        links = {path: key for path, key in zip(paths, here, strict=True) if key in alone}
        keys = list(join_groups(own, links)[0].values())
    numbers: dict[str, int] = {}
    return [numbers.setdefault(key, len(numbers)) for key in keys]


MEASURING_FACTS = "measuring the images for near-duplicates"
"""The task of decoding (small) each image a split did not measure, for its perceptual hashes:
shown, as it takes about 21 s for 800 new photos; none for a split's own images."""


def grouped_here(
    paths: Sequence[Path],
    digests: Sequence[str],
    cache_dir: PathGiven | None,
    classes_of: Sequence[str] | None = None,
    reporter: Reporter | None = None,
) -> list[str]:
    """Each image's placing key as ``split`` would give it by default: byte-identical files and
    those its perceptual hashes link (``grouping.near_groups``, from the image facts the cache
    folder keeps by ``digests``, the feature store's: a split measured them, the others are
    measured now, at a small size), and a burst: one camera's photos of one class (``classes_of``,
    each image's) within split's default ``burst_seconds`` by their EXIF
    (``grouping.burst_keys``). ``reporter`` is shown the measuring (:data:`MEASURING_FACTS`) and
    the search (every image against every other but those a split compared: ``near_pairs``)."""
    from objrec import facts_store
    from objrec.grouping import burst_keys, near_groups

    facts_file = open_cache(cache_dir).facts_file
    reporter = or_silent(reporter)
    with reporter.task(MEASURING_FACTS, len(paths)) as advance:  # minutes for a new folder
        facts = facts_store.cached_facts(list(paths), list(digests), facts_file, lambda: advance(1))
    files: dict[str, list[Path]] = {}
    for path, name in zip(paths, classes_of or [""] * len(paths), strict=True):
        files.setdefault(name, []).append(path)
    hashes = dict(zip(paths, digests, strict=True))
    facts_of = dict(zip(paths, facts, strict=True))
    with passes_from_first_step(reporter, COMPARE_PASSES) as on_row:
        keys = near_groups(files, hashes, facts_of, on_row=on_row, kept=facts_file)
    seconds = SplitConfig().burst_seconds
    keys = burst_keys(files, keys, seconds, digests=hashes, kept=facts_file)[0]
    return [keys[p] for p in paths]


def distinct_per_class(
    labels: torch.Tensor, groups: Sequence[int], classes: Sequence[str]
) -> dict[str, int]:
    """How many distinct photos (near-duplicate ``groups``) each class's images are."""
    pairs = {(int(label), group) for label, group in zip(labels.tolist(), groups, strict=True)}
    return dict(Counter(classes[label] for label, _ in pairs))
