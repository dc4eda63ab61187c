"""``suggest``: which unlabelled images to label next, most useful first.

Each image gets the run's class probabilities (the run's own body and head, through the feature
cache) and an uncertainty, one minus the margin between its two most probable classes. Images are
then picked greedily by their uncertainty, of which resembling an image already picked costs a
share (``diversity`` times their highest feature similarity to one), so twenty copies of one hard
case do not fill the list. The cost is a share, never a fixed amount: it reorders informative
images, and never lifts an image the model is sure of above an uncertain one it no longer likes
(with a fixed penalty, a sure image of 0.0004 outranked an unknown one of 0.21 in a small folder).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from objrec import dedup
from objrec.data import Sample
from objrec.errors import ObjrecError
from objrec.features import (
    FrozenBody,
    PassSettings,
    ViewSpec,
    cached_features,
    open_cache,
    report_unreadable,
    require_readable,
)
from objrec.images import list_images, warned_once_per_file
from objrec.inference import Answers, Recognizer
from objrec.outputs import (
    SUGGEST_FILES,
    check_output_dir,
    prepare_output_dir,
    refuse_inside,
    takes_back_folders,
)
from objrec.progress import SILENT, Reporter

log = logging.getLogger(__name__)

DIVERSITY = 0.5
"""The share of an image's uncertainty that resembling an earlier pick as closely as can be costs:
0 ranks by uncertainty alone, 1 makes an exact copy of an earlier pick worth nothing."""


@dataclass
class Suggestions:
    table: pd.DataFrame
    """One row per picked image, best first: rank, path, predicted, second, uncertainty, ..."""
    unreadable: list[str]
    out: Path | None = None
    unknown: int = 0
    """Readable images the run answers "unknown" (its unknown score below the threshold)."""
    readable: int = 0

    @property
    def all_unknown(self) -> bool:
        """Whether the run knows none of the images: the ranking, among its classes, says little."""
        return self.readable > 0 and self.unknown == self.readable


def uncertainty(probs: np.ndarray) -> np.ndarray:
    """1 - (p1 - p2): 1 when the two best classes tie, near 0 when one class is certain."""
    top = -np.sort(-probs, axis=1)
    second = top[:, 1] if probs.shape[1] > 1 else 0.0
    return 1 - (top[:, 0] - second)


def pick_diverse(scores: np.ndarray, unit: np.ndarray, n: int, diversity: float):
    """Greedy picks maximising ``score * (1 - diversity * s)``, ``s`` an image's highest cosine
    similarity to the picks so far (0 when below): ties (images the model is equally sure of)
    go to the least similar. Returns the picks and each one's ``s`` when picked."""
    chosen: list[int] = []
    closest = np.zeros(len(scores))
    gains: list[float] = []
    available = np.ones(len(scores), dtype=bool)
    for _ in range(min(n, len(scores))):
        value = np.where(available, scores * (1 - diversity * closest), -np.inf)
        best = int(np.lexsort((closest, -value))[0])
        chosen.append(best)
        gains.append(float(closest[best]))
        available[best] = False
        closest = np.maximum(closest, unit @ unit[best])
    return chosen, gains


@takes_back_folders("out")
@warned_once_per_file()
def suggest(
    run: Path,
    folder: Path,
    n: int = 50,
    out: Path | None = None,
    diversity: float = DIVERSITY,
    cache_dir: Path | None = None,
    reporter: Reporter = SILENT,
    force: bool = False,
) -> Suggestions:
    """Rank the images below ``folder`` (no labels needed) by how much labelling each would teach
    the model of ``run``; write ``suggestions.csv`` and ``suggestions.html`` to ``out``
    (default ``run/suggest``)."""
    if not 0 <= diversity <= 1:
        raise ObjrecError(f"`diversity` must lie between 0 and 1, not {diversity}")
    paths = list_images(Path(folder)) if Path(folder).is_dir() else []
    if not paths:
        raise ObjrecError(f"{folder} holds no images to suggest from")
    if out is not None:  # refused before any image is read, made once there is a list
        refuse_inside(out, folder, what="image folder")
        check_output_dir(out, force, names=SUGGEST_FILES)
    recognizer = Recognizer.load(run)
    data = recognizer.data
    cache = open_cache(cache_dir, recognizer.meta.feature_dtype)  # where the run's features are
    body = FrozenBody(recognizer.model.body, data.input_size, cache, name=recognizer.meta.backbone)
    samples = [Sample(p, 0) for p in paths]
    settings = PassSettings(reporter=reporter, description="images")
    found = cached_features(body, samples, ViewSpec(data), settings)
    report_unreadable([found])
    require_readable(found, Path(folder))
    ok = found.ok.numpy()
    answers = recognizer.answer_from_features([found.features[found.ok]])
    kept = [p for p, good in zip(paths, ok, strict=True) if good]
    unit = dedup.normalise(found.features.numpy()[ok])
    table = rank_table(kept, answers, unit, recognizer.classes, n, diversity)
    unknown = int(answers.unknown.sum())
    result = Suggestions(table, found.errors, unknown=unknown, readable=len(kept))
    out = (
        Path(run) / "suggest"
        if out is None
        else prepare_output_dir(out, force, names=SUGGEST_FILES)
    )
    write_suggestions(result, Path(out), Path(folder))
    return result


def rank_table(paths, answers: Answers, unit, classes, n: int, diversity: float) -> pd.DataFrame:
    """The picked images, best first, each with its two best classes and whether the run answers
    it "unknown" (ranked all the same: by the margin between those two classes)."""
    probs = answers.probs.double().numpy()
    scores = uncertainty(probs)
    chosen, closest = pick_diverse(scores, unit, n, diversity)
    order = np.argsort(-probs, axis=1)
    rows = []
    for rank, (i, sim) in enumerate(zip(chosen, closest, strict=True), start=1):
        first, second = order[i, 0], order[i, 1] if probs.shape[1] > 1 else order[i, 0]
        rows.append(
            {
                "rank": rank,
                "path": str(paths[i]),
                "uncertainty": round(float(scores[i]), 4),
                "predicted": classes[first],
                "prob": round(float(probs[i, first]), 4),
                "second": classes[second],
                "prob_second": round(float(probs[i, second]), 4),
                "similarity_to_earlier": round(sim, 4),
                "unknown": bool(answers.unknown[i]),
            }
        )
    return pd.DataFrame(rows)


def write_suggestions(result: Suggestions, out: Path, folder: Path) -> None:
    from jinja2 import Environment, select_autoescape

    from objrec.audit_report import thumbnail

    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "suggestions.csv", index=False)
    rows = [{**r, "src": thumbnail(Path(r["path"]))} for r in result.table.to_dict("records")]
    env = Environment(autoescape=select_autoescape(default=True))
    (out / "suggestions.html").write_text(env.from_string(PAGE).render(folder=folder, rows=rows))
    result.out = out


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>objrec suggest: {{ folder }}</title>
<link rel="icon" href="data:,"><style>
body { font-family: system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
.grid { display: flex; flex-wrap: wrap; gap: .8rem; }
figure { margin: 0; width: 160px; font-size: .75rem; word-break: break-all; }
figure img { max-width: 160px; max-height: 160px; display: block; }
.muted { color: #666; }
</style></head><body>
<h1>Label these next</h1>
<p>From {{ folder }}: the images the model is least sure about, most useful first, skipping
near-copies of images already listed.</p>
<div class="grid">{% for r in rows %}<figure>{% if r.src %}<img src="{{ r.src }}" alt="">{% endif %}
<figcaption>#{{ r.rank }} {{ r.predicted }} {{ '%.0f' % (100 * r.prob) }}% or {{ r.second }}
{{ '%.0f' % (100 * r.prob_second) }}%<br><span class="muted">{{ r.path }}</span></figcaption>
</figure>{% endfor %}</div></body></html>
"""
