"""The recognizer's answers for a set of images, from their features in the feature store: each
view's features (:func:`view_tables`), then one pass of the head and the familiarity score over
them (:func:`table_answers`). Every stage of ``evaluate`` reads its images so: the evaluated
folder, the ``--unknown`` folder and the run's validation images (:mod:`objrec.open_set`), the
class folders the model was not taught (:mod:`objrec.untaught`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from objrec.config import EvaluateConfig
from objrec.data import ClassFolder
from objrec.devices import loader_settings
from objrec.features import FeatureTable, digested_for_each_view, feature_tables
from objrec.frozen import PassSettings, Probe
from objrec.inference import Answers, Recognizer
from objrec.progress import Reporter
from objrec.views import ViewSpec


def view_tables(
    recognizer: Recognizer,
    images: ClassFolder,
    name: str,
    config: EvaluateConfig,
    reporter: Reporter,
    probe: Probe | None = None,
) -> list[FeatureTable]:
    """The features of ``images`` in each of the recognizer's views, from the feature store
    (in the dtype the run's features were stored in), computed on the recognizer's device, each
    image the store lacks decoded once for all its views (``features.feature_tables``: with TTA,
    an evaluation decoded each image once per view), and measured by ``probe`` there."""
    frozen = recognizer.frozen_body(config.cache_dir)
    num_workers = loader_settings(recognizer.device, config.num_workers).num_workers
    views = recognizer.view_names(config.tta)
    digested = list(digested_for_each_view(frozen.cache.store, images.samples, len(views)))
    return feature_tables(
        frozen,
        images.samples,
        [ViewSpec(recognizer.data, tta=view) for view in views],
        [
            PassSettings(
                num_workers=num_workers, reporter=reporter, description=view_label(name, view)
            )
            for view in views
        ],
        digested=digested,
        probe=probe,
    )


VIEW_WORDS = {
    "flip": "mirrored",
    "reframed": "the other framing",
    "reframed_flip": "the other framing, mirrored",
}
"""The test-time views (``transforms.TTA_VIEWS``) but the centre, in the words ``--tta``'s help
describes them in: a bar said ``test features (reframed_flip)``, a name of objrec's code."""


def view_label(images: str, view: str) -> str:
    """The progress bar's name for the features of ``images`` (``test``, ...) in ``view``, as
    ``train`` names its own: ``test features``, ``test features (mirrored)``."""
    if view == "centre":
        return f"{images} features"
    return f"{images} features ({VIEW_WORDS.get(view, view)})"


def table_answers(
    recognizer: Recognizer,
    tables: list[FeatureTable],
    ok: torch.Tensor,
    batch: int = 1024,
    advance: Callable[[int], object] = lambda n: None,
) -> tuple[Answers, torch.Tensor, torch.Tensor]:
    """The recognizer's answers for the images ``ok``, from every view's features, read batch by
    batch; its probabilities from the first (plain) view alone; and its probabilities before
    calibration: all three from one pass of the head and the familiarity score over each batch
    (three passes: 17.4 s against 6.4 s for the 100-class protocol's 1,542 test images on a
    loaded 2-core machine, ``benchmarks/answered_once.py``); ``advance(n)`` told of each batch's
    ``n`` images once answered."""
    where = torch.nonzero(ok).flatten().split(batch) or (torch.empty(0, dtype=torch.long),)
    parts = []
    for idx in where:
        outputs = recognizer.outputs_from_features([table.read(idx.numpy()) for table in tables])
        plain = recognizer.combine([outputs[0][0]])
        parts.append((recognizer.decide(outputs), plain, recognizer.uncalibrated(outputs)))
        advance(len(idx))
    probs, scores, unknown = (
        torch.cat([getattr(a, f) for a, _, _ in parts]) for f in ("probs", "scores", "unknown")
    )
    answers = Answers(probs, scores, unknown, recognizer.classes)
    return answers, torch.cat([p for _, p, _ in parts]), torch.cat([u for _, _, u in parts])


def answers_read_in_every_view(recognizer: Recognizer, tables: list[FeatureTable]) -> Answers:
    """The recognizer's answers for the images of ``tables`` readable in every view (the
    ``--unknown`` folder's, the class folders the model was not taught)."""
    ok = torch.stack([t.ok for t in tables]).all(0)
    return table_answers(recognizer, tables, ok)[0]
