"""``evaluate``: a trained run on a labelled folder: overall and per-class results, confusions."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from objrec import plots
from objrec.checkpoint import load_model
from objrec.config import DataConfig
from objrec.data import SPLITS, is_split_folder, scan_class_folder
from objrec.errors import ObjrecError
from objrec.features import FrozenBody, ViewSpec, cached_features
from objrec.metrics import confusion_matrix, most_confused, per_class_table, summarize
from objrec.outputs import prepare_output_dir
from objrec.progress import SILENT, Reporter
from objrec.train import feature_cache

log = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """Overall metrics, the per-class table (worst first) and the most confused pairs."""

    metrics: dict[str, float]
    per_class: pd.DataFrame
    confused: pd.DataFrame
    confusion: torch.Tensor
    classes: list[str]
    out: Path | None = None

    def worst(self, n: int = 10) -> pd.DataFrame:
        return self.per_class.head(n)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "worst_classes": self.worst().to_dict(orient="records"),
            "most_confused": self.confused.to_dict(orient="records"),
        }


def resolve_eval_folder(folder: Path, split: str) -> Path:
    """``folder/split`` for a split folder, else ``folder`` itself (one sub-folder per class)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ObjrecError(f"{folder} is not a folder")
    if is_split_folder(folder):
        if split not in SPLITS:
            raise ObjrecError(f"--split must be one of {', '.join(SPLITS)}")
        return folder / split
    return folder


def evaluate(
    run: Path,
    folder: Path,
    split: str = "test",
    out: Path | None = None,
    cache_dir: Path | None = None,
    num_workers: int = 0,
    reporter: Reporter = SILENT,
    force: bool = False,
) -> EvaluationResult:
    """Evaluate the model of ``run`` on ``folder`` (a split folder's ``split``, or a class folder).

    Writes ``per_class.csv``, ``confusion.csv``, ``most_confused.csv``, ``metrics.json`` and
    ``accuracy_vs_train.png`` to ``out`` (default ``run/eval-<split>``; a folder of the user's must
    be empty or new, unless ``force``) and returns the numbers.
    """
    model, meta = load_model(run)
    classes = meta["classes"]
    target = resolve_eval_folder(folder, split)
    images = scan_class_folder(target, classes)
    data = DataConfig.from_dict(meta["data_config"])
    frozen = FrozenBody(model.body, data.input_size, feature_cache(cache_dir))
    fs = cached_features(
        frozen,
        images.samples,
        ViewSpec(data),
        num_workers=num_workers,
        reporter=reporter,
        description=f"{target.name} features",
    )
    fs = fs.readable()
    with torch.inference_mode():
        logits = model.head(fs.features)
    result = summarize_logits(logits, fs.labels, classes, meta.get("n_train"))
    if out is None:  # inside the run folder, objrec's own: refreshed on every evaluation
        out = Path(run) / f"eval-{target.name}"
    else:
        prepare_output_dir(out, force)
    write_evaluation(result, Path(out))
    log.info("evaluated %s on %s: top1 %.4f", run, target, result.metrics["top1"])
    return result


def summarize_logits(logits, labels, classes, n_train=None) -> EvaluationResult:
    metrics = summarize(logits, labels, len(classes))
    table = per_class_table(logits, labels, classes, n_train)
    table = table.sort_values(["top1", "loss"], ascending=[True, False]).reset_index(drop=True)
    matrix = confusion_matrix(logits.argmax(1), labels, len(classes))
    return EvaluationResult(metrics, table, most_confused(matrix, classes), matrix, list(classes))


def write_evaluation(result: EvaluationResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result.per_class.to_csv(out / "per_class.csv", index=False)
    result.confused.to_csv(out / "most_confused.csv", index=False)
    pd.DataFrame(result.confusion.numpy(), index=result.classes, columns=result.classes).to_csv(
        out / "confusion.csv"
    )
    (out / "metrics.json").write_text(json.dumps(result.to_json(), indent=2))
    if len(result.per_class) and result.per_class["n_train"].sum() > 0:
        plots.accuracy_vs_train_size(result.per_class, out / "accuracy_vs_train.png")
    result.out = out
