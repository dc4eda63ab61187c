"""``suggest``: which unlabelled images to label next, most useful first.

Each image gets the run's class probabilities and familiarity (the run's own body and head, through
the feature cache), and two reasons to label it, each from 0 to 1:

* its **uncertainty**, one minus the margin between its two most probable classes: 1 when the model
  cannot choose between two of its classes;
* its **unfamiliarity**: 1 for an image the run answers "unknown" (unlike anything it was taught: a
  class it lacks, or a view of one it has not seen), and, where the run's familiarity is readable
  (a typical validation image 1, the unknown line 0), one minus it for the others: 0 for an image as
  familiar as a typical one, nearer 1 the closer it comes to the line.

Its **informativeness** is the larger of the two, so an image the run answers "unknown" ranks above
every image it is sure of, however clear its top class (the margin alone put those last). Images
are picked greedily by informativeness, of which resembling an image already picked costs a share
(``diversity`` times their highest feature similarity to one), so twenty copies of one hard case do
not fill the list. The cost is a share, never a fixed amount: it reorders informative images, and
never lifts an image the model is sure of above an informative one it no longer likes. Ties go to
the image least like the picks so far, then to the less familiar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from objrec import dedup
from objrec.cache import FeatureCache, open_cache, stores_held
from objrec.data import Sample
from objrec.errors import ObjrecError, on_ctrl_c
from objrec.features import cached_features, report_unreadable, require_readable
from objrec.frozen import FrozenBody, PassSettings
from objrec.inference import Answers, Recognizer
from objrec.leakage import near_copies, seen_images
from objrec.listing import list_images
from objrec.outputs import (
    SUGGEST_FILES,
    check_output_dir,
    holds_objrecs_outputs,
    prepare_output_dir,
    refuse_inside,
    staged_outputs,
    takes_back_folders,
    writing_outputs,
)
from objrec.paths import PathGiven, as_path
from objrec.prediction import familiarity_line, score_and_line
from objrec.progress import Reporter, or_silent
from objrec.renames import renamed_arguments, renamed_attribute
from objrec.run_files import output_beside
from objrec.tables import write_table
from objrec.views import ViewSpec
from objrec.warned import warned_once_per_file
from objrec.words import joined

log = logging.getLogger(__name__)

DIVERSITY = 0.5
"""The share of an image's uncertainty that resembling an earlier pick as closely as can be costs:
0 ranks by uncertainty alone, 1 makes an exact copy of an earlier pick worth nothing."""
THUMB = 150
"""The side, in pixels, of the thumbnails on suggestions.html (the audit's page's size)."""


@dataclass
class Suggestions:
    table: pd.DataFrame
    """One row per picked image, best first: rank, path, informativeness, reason, uncertainty,
    unfamiliarity, familiarity, predicted, second, ..."""
    unreadable_files: list[str]
    """``path: reason`` of each image file that could not be read, left out (``unreadable``
    before 7 December 2026, the name still read)."""
    out: Path | None = None
    unknown: int = 0
    """Readable images the run answers "unknown" (its unknown score below the threshold)."""
    readable: int = 0
    labelled: list[str] = field(default_factory=list)
    """The images left out as the run's own training or validation images (by content): they are
    labelled already (an add copies its photos, so they stay in the folder suggested from)."""
    near_copies: list[str] = field(default_factory=list)
    """The images left out as re-saved, resized or cropped copies of the run's own training or
    validation images (by their perceptual hashes, ``leakage.near_copies``): labelled already."""

    def __repr__(self) -> str:
        """One line, as the other results': how many images were picked, read and answered
        "unknown", how many were left out (``table`` and the lists hold them)."""
        where = f", out={str(self.out)!r}" if self.out is not None else ""
        left = f"n_labelled={len(self.labelled)}, n_near_copies={len(self.near_copies)}, "
        left += f"n_unreadable={len(self.unreadable_files)}"
        return (
            f"Suggestions(picked={len(self.table)}, readable={self.readable}, "
            f"unknown={self.unknown}, {left}{where})"
        )

    unreadable = renamed_attribute("Suggestions", "unreadable", "unreadable_files")

    @property
    def all_unknown(self) -> bool:
        """Whether the run knows none of the images: the ranking, among its classes, says little."""
        return self.readable > 0 and self.unknown == self.readable


def uncertainty(probs: np.ndarray) -> np.ndarray:
    """1 - (p1 - p2): 1 when the two best classes tie, near 0 when one class is certain."""
    top = -np.sort(-probs, axis=1)
    second = top[:, 1] if probs.shape[1] > 1 else 0.0
    return 1 - (top[:, 0] - second)


def unfamiliarity(scores: np.ndarray, unknown: np.ndarray, line: float | None) -> np.ndarray:
    """1 for an image answered "unknown"; for the others, when ``scores`` are the run's readable
    familiarity (``line`` its unknown line: a typical validation image scores 1), ``1 - score``
    within 0 and 1 (0 from a typical image up); else (top probability, a raw score) 0."""
    known = np.zeros(len(scores)) if line is None else np.clip(1 - scores, 0, 1)
    return np.where(unknown, 1.0, known)


def pick_diverse(
    scores: np.ndarray,
    unit: np.ndarray,
    n: int,
    diversity: float,
    tiebreak: np.ndarray | None = None,
):
    """Greedy picks maximising ``score * (1 - diversity * s)``, ``s`` an image's highest cosine
    similarity to the picks so far (0 when below): ties (images equally informative) go to the
    least similar, then to the lowest ``tiebreak``. Returns the picks and each one's ``s``."""
    chosen: list[int] = []
    tiebreak = np.zeros(len(scores)) if tiebreak is None else tiebreak
    closest = np.zeros(len(scores))
    similarities: list[float] = []
    available = np.ones(len(scores), dtype=bool)
    for _ in range(min(n, len(scores))):
        value = np.where(available, scores * (1 - diversity * closest), -np.inf)
        best = int(np.lexsort((tiebreak, closest, -value))[0])
        chosen.append(best)
        similarities.append(float(closest[best]))
        available[best] = False
        closest = np.maximum(closest, unit @ unit[best])
    return chosen, similarities


@renamed_arguments(public="suggest_images", folder="unlabelled")
@takes_back_folders("out")
@on_ctrl_c("nothing was written: run it again")
@warned_once_per_file()
@stores_held()
def suggest(
    run: PathGiven,
    unlabelled: PathGiven,
    n: int = 50,
    out: PathGiven | None = None,
    diversity: float = DIVERSITY,
    cache_dir: PathGiven | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
) -> Suggestions:
    """Rank the images below ``unlabelled`` (``objrec suggest RUN UNLABELLED``; ``folder``
    before 7 December 2026, still taken, warning; no labels needed) by how much labelling each
    would teach the model of ``run``; write ``suggestions.csv`` and ``suggestions.html`` to
    ``out`` (new or empty unless ``force``), by default to :func:`default_suggest_dir`, written
    again over objrec's own outputs there only as it recorded writing them
    (:func:`suggest_folder`)."""
    if not 0 <= diversity <= 1:
        raise ObjrecError(f"`diversity` must lie between 0 and 1, not {diversity}")
    run, unlabelled, out, cache_dir = Path(run), Path(unlabelled), as_path(out), as_path(cache_dir)
    paths = list_images(unlabelled) if unlabelled.is_dir() else []
    if not paths:
        raise ObjrecError(f"{unlabelled} holds no images to suggest from")
    out, refresh = suggest_folder(run, out, unlabelled, force)  # before any image is read
    reporter = or_silent(reporter)
    with reporter.task("loading the model", None):  # seconds: the checkpoint, torchvision
        recognizer = Recognizer.load(run)
    data = recognizer.data
    cache = open_cache(cache_dir or recognizer.meta.cache_dir, recognizer.meta.feature_dtype)
    body = FrozenBody(recognizer.model.body, data.input_size, cache, name=recognizer.meta.backbone)
    paths, labelled, near = unlabelled_paths(run, recognizer, paths, cache, (unlabelled, reporter))
    samples = [Sample(p, 0) for p in paths]
    settings = PassSettings(reporter=reporter, description="images")
    found = cached_features(body, samples, ViewSpec(data), settings)
    report_unreadable([found])
    require_readable(found, Path(unlabelled))
    ok = found.ok.numpy()
    answers = recognizer.answer_from_features([found.features[found.ok]])
    kept = [p for p, good in zip(paths, ok, strict=True) if good]
    unit = dedup.normalise(found.features.numpy()[ok])
    line = familiarity_line(recognizer)
    table = rank_table(kept, answers, unit, recognizer.classes, n, diversity, line)
    unknown = int(answers.unknown.sum())
    result = Suggestions(table, found.errors, None, unknown, len(kept), labelled, near)
    prepare_output_dir(out, force, names=SUGGEST_FILES, refresh=refresh)  # made only now
    with writing_outputs(out):
        write_suggestions(result, out, Path(unlabelled), force)
    return result


def unlabelled_paths(
    run: Path,
    recognizer: Recognizer,
    paths: list[Path],
    cache: FeatureCache,
    where: tuple[Path, Reporter],
) -> tuple[list[Path], list[str], list[str]]:
    """``paths`` (of the folder ``where`` names, with the reporter shown the search) less the
    run's own training and validation images (its record of them, by content) and their near
    copies, re-saved, resized or cropped (``leakage.near_copies``, which ``evaluate`` warns of:
    an add copies its photos, and a phone's export re-saves them), and the two kinds left out;
    refused when none is left."""
    folder, reporter = where
    seen = seen_images(recognizer.meta.data_dir, paths, cache.store, run=run)
    labelled = sorted(path for split in seen.values() for path in split)
    rest = without(paths, labelled)
    digests = cache.store.readable_digests(rest)[0]  # one unreadable: said by the pass after
    found = ([p for p, d in zip(rest, digests, strict=True) if d], [d for d in digests if d])
    place = (folder, recognizer.meta.data_dir)
    copies = near_copies(Path(run), place, found, cache.facts_file, reporter, measure=True)
    near = sorted(path for split in copies.values() for path in split)
    left = without(rest, near)
    if not left:
        raise ObjrecError(
            f"every image in {folder} is one {run} trained or validated on (by content"
            f"{', or a re-saved, resized or cropped copy of one' if near else ''}): they are "
            "labelled already, so there is nothing to suggest"
        )
    return left, labelled, near


def without(paths: list[Path], left_out: list[str]) -> list[Path]:
    """``paths`` less those ``left_out`` names."""
    out = set(left_out)
    return [path for path in paths if str(path) not in out]


def default_suggest_dir(run: Path) -> Path:
    """Where ``suggest`` writes when given no ``out``: ``RUN/suggest`` for a run folder and for
    its model file (``RUN/model.safetensors``); for any other checkpoint file a folder beside it
    named after it (``RUN/epoch3.safetensors`` -> ``RUN/epoch3-suggest``), so that checkpoints
    kept in one folder each get their own list, never one another's."""
    return output_beside(run, "suggest")


def suggest_folder(run: Path, out: Path | None, folder: Path, force: bool) -> tuple[Path, bool]:
    """The folder ``suggest`` writes to, checked before any image is read (it is made once there
    is a list), and whether it is written again without ``force`` (``refresh``): ``out`` must be
    new or empty, and lie outside ``folder``; the default folder (:func:`default_suggest_dir`),
    once objrec made it (``outputs.holds_objrecs_outputs``), is refreshed over objrec's own outputs
    only as it recorded writing them (``outputs.users_file``: a list the user edited is refused),
    as ``explore``'s default folder is; one of the user's of that name stays refused."""
    if out is not None:
        refuse_inside(out, folder, what="image folder")
        check_output_dir(out, force, names=SUGGEST_FILES)
        return Path(out), False
    out = default_suggest_dir(run)
    refresh = not force and holds_objrecs_outputs(out)
    check_output_dir(out, force, names=SUGGEST_FILES, refresh=refresh)
    if refresh:
        log.info("writing again into %s (objrec's earlier outputs)", out)
    return out, refresh


def rank_table(
    paths, answers: Answers, unit, classes, n: int, diversity: float, line: float | None = None
) -> pd.DataFrame:
    """The picked images, best first, each with its two best classes, its uncertainty and
    unfamiliarity (``line``: the familiarity's unknown line, None when the run's score is not
    one), the larger of which, its informativeness, ranks it, and that reason in words."""
    probs = answers.probs.double().numpy()
    scores = answers.scores.double().numpy()
    unsure = uncertainty(probs)
    unfamiliar = unfamiliarity(scores, answers.unknown.numpy(), line)
    worth = np.maximum(unsure, unfamiliar)
    chosen, closest = pick_diverse(worth, unit, n, diversity, tiebreak=scores)
    order = np.argsort(-probs, axis=1, kind="stable")  # a tie in the classes' order, as answered
    rows = []
    for rank, (i, sim) in enumerate(zip(chosen, closest, strict=True), start=1):
        first, second = order[i, 0], order[i, 1] if probs.shape[1] > 1 else order[i, 0]
        familiarity = None if line is None else float(scores[i])
        rows.append(
            {
                "rank": rank,
                "path": str(paths[i]),
                "informativeness": round(float(worth[i]), 4),
                "reason": reason(
                    unsure[i], unfamiliar[i], bool(answers.unknown[i]), familiarity, line
                ),
                "uncertainty": round(float(unsure[i]), 4),
                "unfamiliarity": round(float(unfamiliar[i]), 4),
                "familiarity": None if familiarity is None else round(familiarity, 4),
                "predicted": classes[first],
                "prob": round(float(probs[i, first]), 4),
                "second": classes[second],
                "prob_second": round(float(probs[i, second]), 4),
                "similarity_to_earlier": round(sim, 4),
                "unknown": bool(answers.unknown[i]),
            }
        )
    return with_ties(pd.DataFrame(rows))


def with_ties(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``tied``: whether another image listed has its informativeness (to the 4
    decimals written), so that their order among them is the tie-break's (the least like the
    images above, then the less familiar), not their informativeness: rows that all say
    "informativeness 1.00" would otherwise come in an order that says nothing of why."""
    if table.empty:
        return table.assign(tied=pd.Series(dtype=bool))
    return table.assign(tied=table["informativeness"].duplicated(keep=False))


def worth_words(values: list[float], tied: list[bool]) -> list[str]:
    """Each shown informativeness: 2 decimals, 4 where two that differ would read the same in 2
    (0.9987 and 0.9962 both read "1.00"), and ``(tied)`` where another image listed has the same
    (:func:`with_ties`), so that rows reading "1.00" alike say why their order is not theirs."""
    short = [f"{v:.2f}" for v in values]
    words = []
    for value, text, tie in zip(values, short, tied, strict=True):
        alike = any(t == text and v != value for v, t in zip(values, short, strict=True))
        words.append((f"{value:.4f}" if alike else text) + (" (tied)" if tie else ""))
    return words


def tie_lines(rows) -> list[str]:
    """One line per informativeness shared by images shown: which ranks tie, and how their order
    among them was chosen (:func:`pick_diverse`'s tie-break)."""
    texts = worth_words(list(rows["informativeness"]), [False] * len(rows))
    worded = dict(zip(rows["informativeness"], texts, strict=True))
    lines = []
    for value, group in rows[rows["tied"]].groupby("informativeness", sort=False):
        ranks = [int(rank) for rank in group["rank"]]
        if len(ranks) < 2:
            continue
        run = len(ranks) > 2 and ranks == list(range(ranks[0], ranks[-1] + 1))
        which = f"{ranks[0]} to {ranks[-1]}" if run else joined([str(r) for r in ranks])
        lines.append(
            f"ranks {which} tie at informativeness {worded[value]}: among them, the image least "
            "like those ranked above it comes first, then the less familiar"
        )
    return lines


def all_unknown_line(readable: int) -> str:
    """What the console and the page say above the ranking when the run answers every one of
    the ``readable`` images unknown (their tie lines would say it of them all)."""
    every = "the only image is" if readable == 1 else f"all {readable} images are"
    return (
        f"{every} answered unknown by the run: they look like none of its classes, so all are as "
        "informative: each is listed the least like those above it"
    )


def reason(
    unsure: float, unfamiliar: float, unknown: bool, familiarity: float | None, line: float | None
) -> str:
    """Why an image ranks where it does, in words: the larger of its two reasons, with its number
    ("answered unknown (familiarity -0.83, unknown below 0)", "familiarity 0.42, a typical image
    1", "margin 0.23 between its two best classes")."""
    if unknown:
        if line is None or familiarity is None:
            return "answered unknown"
        score, at = score_and_line(familiarity, line)
        return f"answered unknown (familiarity {score}, unknown below {at})"
    if unfamiliar > unsure:
        return f"familiarity {familiarity:.2f}, a typical image 1"
    return f"margin {1 - unsure:.2f} between its two best classes"


def write_suggestions(result: Suggestions, out: Path, folder: Path, force: bool = False) -> None:
    """suggestions.csv and suggestions.html, put in place together once both are written
    (``outputs.staged_outputs``): never a new list beside the earlier one's page."""
    from jinja2 import Environment, select_autoescape

    from objrec.thumbnails import thumbnail

    table = result.table
    worth = worth_words(list(table["informativeness"]), list(table["tied"]))
    records = table.to_dict("records")
    rows = [
        {**r, "src": thumbnail(Path(r["path"]), THUMB), "worth": said}
        for r, said in zip(records, worth, strict=True)
    ]
    said = [all_unknown_line(result.readable)] if result.all_unknown else tie_lines(table)
    env = Environment(autoescape=select_autoescape(default=True))
    page = env.from_string(PAGE).render(folder=folder, rows=rows, said=said)
    with staged_outputs(out, SUGGEST_FILES, force) as place:
        write_table(table, place("suggestions.csv"))
        place("suggestions.html").write_text(page)
    result.out = out


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>objrec suggest: {{ folder }}</title>
<link rel="icon" href="data:,"><style>
body { font-family: system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
.grid { display: flex; flex-wrap: wrap; gap: .8rem; }
figure { margin: 0; width: 160px; font-size: .75rem; word-break: break-all; }
figure img { max-width: 160px; max-height: 160px; display: block; }
.muted { color: #666; }
</style></head><body><main>
<h1>Label these next</h1>
<p>From {{ folder }}: the images the model is least sure about or finds least familiar (its
"unknown" answers among them), most useful first, skipping near-copies of images already
listed.</p>
<div class="grid">{% for r in rows %}<figure>{% if r.src %}<img src="{{ r.src }}" alt="">{% endif %}
<figcaption>#{{ r.rank }} {{ r.predicted }} {{ '%.0f' % (100 * r.prob) }}% or {{ r.second }}
{{ '%.0f' % (100 * r.prob_second) }}%<br>informativeness {{ r.worth }}:
{{ r.reason }}<br><span class="muted">{{ r.path }}</span></figcaption>
</figure>{% endfor %}</div>{% for line in said %}
<p>{{ line }}</p>{% endfor %}</main></body></html>
"""
