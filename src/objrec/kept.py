"""A run's kept unknown threshold: the stricter one ``evaluate --unknown OTHER --keep-threshold``
recorded, which predict, serve, export and evaluate then use unless given ``--threshold``.

It is a JSON file beside the model (``RUN/threshold.json``; beside a checkpoint file
``ckpt.safetensors``, ``ckpt-threshold.json``), not a change to the checkpoint: the model file's
digest names the model every evaluation of the run was made with, and the threshold the run
calibrated on its validation split stays in it, untouched. The file names that digest, so that
a run whose model ``train --force`` has since replaced does not use a threshold chosen for
another model. Keeping another threshold moves the one kept before into ``previous``; removing
the file gives the run its own threshold back. Plain JSON, read as data (no pickle), holding its
own SHA-256 (``sha256``), checked as it is read: a flipped digit of ``threshold`` is still JSON.
One that no longer matches is used as it reads, with a warning naming it (:data:`EDITED`): a
person who changes the number by hand means it, and a refusal made every command fail on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from objrec.errors import ObjrecError
from objrec.outputs import is_export_sidecar, json_dict
from objrec.run_files import KEPT_NAME, checkpoint_file, output_beside

if TYPE_CHECKING:
    from objrec.evaluation_metrics import EvaluationMetrics, StricterThreshold

log = logging.getLogger(__name__)

DIGEST = "sha256"
"""The key of a kept record's own digest (:func:`record_digest`); one kept before 5 December
2026 has none, and is read as it was."""
EDITED = (
    "{path} was changed since evaluate kept it (its fields no longer match the SHA-256 recorded in "
    "it): unknown below {threshold!r} is used, as it now reads. Changed on purpose, remove its "
    '"sha256" line to use it without this warning; else (a bad copy or disk) copy it again from '
    "where it came, or remove the file to use the run's own threshold"
)
"""What every command that uses a kept threshold whose digest no longer matches says of it."""
KEEP_CALL = "`evaluate(run, data, unknown=folder, keep_threshold=True)`"
"""The call that keeps a threshold with a run: `objrec evaluate RUN DATA --unknown FOLDER
--keep-threshold` in any command's sentence (``cli.messages.call_spelling``)."""
DIGESTS_BEGAN = "2026-12-05"
"""The day evaluate began sealing a kept record with its own digest: one kept since that has none
had its ``sha256`` line removed, as :data:`EDITED` advises for a threshold changed on purpose."""
EDITED_KEY = "edited_by_hand"
"""A record's key saying its threshold was changed by hand since evaluate kept it (in the next
kept one's ``previous``, and in a shared copy)."""


def kept_path(run: Path) -> Path:
    """Where ``run``'s kept threshold is recorded."""
    return output_beside(Path(run), KEPT_NAME)


@dataclass(frozen=True)
class EarlierKept:
    """A threshold kept before the one in the file, as its ``previous`` lists them (the latest
    first)."""

    threshold: float | None
    kept_on: str
    """When it was kept (UTC, ISO 8601; "" where the entry does not say)."""
    model: str | None
    """The digest of the model it was kept for."""


@dataclass(frozen=True)
class KeptThreshold:
    """A kept threshold as read back, and whether it was kept for the model now in the run; what
    its file records beside the threshold is read by attribute (:attr:`replaced`,
    :attr:`model`, :attr:`previous`, :attr:`sealed`)."""

    threshold: float
    kept_on: str
    """When it was kept (UTC, ISO 8601)."""
    path: Path
    current: bool
    """False: kept for a model the run no longer holds (it is then not used)."""
    record: dict[str, Any]
    """The file's JSON object as written (or read): its digest seals these very keys and
    values, a person's edits with them, and ``evaluate --keep-threshold --json`` prints it as
    ``threshold_kept``."""
    edited: bool = False
    """Its fields no longer match its digest: changed since evaluate kept it (:data:`EDITED`)."""

    @property
    def replaced(self) -> float | None:
        """The threshold it replaced: the one in use when it was kept."""
        return self.record.get("replaced")

    @property
    def model(self) -> str | None:
        """The digest of the model it was kept for."""
        return self.record.get("model")

    @property
    def previous(self) -> list[EarlierKept]:
        """The thresholds kept before it, the latest first."""
        return [
            EarlierKept(entry.get("threshold"), str(entry.get("kept_on") or ""), entry.get("model"))
            for entry in self.record.get("previous") or []
            if isinstance(entry, dict)
        ]

    @property
    def sealed(self) -> bool:
        """Whether its file holds its own digest (one kept before 5 December 2026 has none)."""
        return DIGEST in self.record

    def fields(self) -> dict[str, Any]:
        """Its record without its own digest and the records it replaced, and saying
        ``edited_by_hand`` when changed since it was kept: for a record that carries it on (the
        next kept one's ``previous``, a shared copy, which is sealed anew)."""
        fields = {k: v for k, v in self.record.items() if k not in ("previous", DIGEST)}
        return fields | ({EDITED_KEY: True} if self.edited else {})

    def words(self) -> str:
        """``unknown below 0.2, kept by `evaluate` from photos of none of the classes on
        2026-12-03``, where it is kept and how to go back to the run's own (the note said only
        that `threshold` overrides it), or why it is not used. Predict, serve and export say it,
        each of which takes a `threshold`, and check (not used: the call that keeps another): the
        API's names in backticks, as every sentence of the library's (the CLI spells them as its
        own command's flags, ``cli.messages.to_cli``: --threshold, `objrec evaluate`)."""
        if not self.current:
            return (
                f"{self.path} keeps a threshold chosen for an earlier model of this run: not used "
                "(the run's own threshold is); remove it, or keep one for this model with "
                f"{KEEP_CALL}"
            )
        how = "kept by `evaluate` from photos of none of the classes"
        if self.edited:
            how = "edited by hand since `evaluate` kept one"
        return (
            f"unknown below {self.threshold!r}, {how} on {self.kept_on[:10]} ({self.path}; "
            "`threshold` overrides it; removing the file gives the run its own back)"
        )


def read_kept(run: Path, warn: bool = True, model: str | None = None) -> KeptThreshold | None:
    """The kept threshold of ``run`` (None when none is kept); a file that is no kept threshold
    (its ``kept_on`` no ISO 8601 time, as the notes print it) is refused in a sentence naming
    it. It is ``current`` when kept for the model of digest ``model`` (``RunMeta.digest``: the
    one a command loaded; None: the model file as it is now). One kept for another model, or
    changed since it was kept (:data:`EDITED`), is warned of (``warn``), with what to do."""
    path = kept_path(run)
    if not path.is_file():
        return None
    record = kept_json(path)
    try:
        threshold = kept_number(path, record)
        kept_on, kept_for = str(record["kept_on"]), str(record["model"])
        if not math.isfinite(threshold):
            raise ValueError(f"threshold {threshold}")
        # printed in every note: a date, never text of a run from elsewhere (terminal escapes)
        datetime.fromisoformat(kept_on.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ObjrecError(
            f"{path} is not a threshold that evaluate kept ({exc!r}): remove it to "
            "use the run's own threshold"
        ) from exc
    from objrec.model_file import model_digest
    from objrec.warned import warn_once

    current = kept_for == (model or model_digest(checkpoint_file(run)))
    kept = KeptThreshold(threshold, kept_on, path, current, record, changed_by_hand(record))
    # said here, once per command (report reads it twice), with what to do: commands note a used one
    if warn and not current:
        warn_once("kept_other_model", path, "%s", kept.words())
    elif warn and kept.edited and DIGEST in record:  # without it: changed on purpose, as advised
        warn_once("kept_edited", path, "%s", EDITED.format(path=path, threshold=threshold))
    return kept


NOT_JSON = (
    "{path} is not JSON any more ({where}), as a slip in an edit leaves it: mend it there, or "
    "remove the file to use the run's own threshold"
)
"""What every command that reads the kept threshold says of one that no longer parses."""


def kept_json(path: Path) -> dict[str, Any]:
    """The JSON object of the kept threshold ``path``; refused in a sentence naming the file,
    where it stops being JSON and the two ways out (:data:`NOT_JSON`): a typo in an edit by hand
    is the likely cause, which the repr of the decoder's error never said."""
    try:
        record = json.loads(path.read_bytes())
    except OSError as exc:
        raise ObjrecError(
            f"{path} cannot be read ({exc.strerror or exc}): make it readable, or remove it to "
            "use the run's own threshold"
        ) from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}: {exc.msg[:1].lower()}{exc.msg[1:]}"
        raise ObjrecError(NOT_JSON.format(path=path, where=where)) from exc
    except ValueError as exc:  # not UTF-8 (nor UTF-16 or -32, which json reads too)
        raise ObjrecError(NOT_JSON.format(path=path, where="not text")) from exc
    if not isinstance(record, dict):
        raise ObjrecError(
            f"{path} holds {json_kind(record)}, not the object of fields evaluate keeps: remove "
            "it to use the run's own threshold"
        )
    return record


JSON_KINDS = {list: "array", str: "string", int: "number", float: "number"}
"""What JSON calls the values Python reads from it (``json.loads``)."""


def json_kind(value: Any) -> str:
    """What JSON calls ``value``, as a sentence says it: "a JSON array", not Python's "list";
    ``null``, ``true`` and ``false`` by name."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return f"a JSON {JSON_KINDS.get(type(value), 'value')}"


def kept_number(path: Path, record: dict[str, Any]) -> float:
    """The ``threshold`` of the kept ``record`` (of ``path``); one edited into no number (text,
    ``null``) is refused in a sentence saying so and how to write one."""
    if "threshold" not in record:
        raise ObjrecError(
            f'{path} gives no threshold: write one ("threshold": 0.25), or remove the file to '
            "use the run's own threshold"
        )
    value = record["threshold"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ObjrecError(
            f"{path} gives the threshold {json.dumps(value)[:40]}, not a number: write one "
            '("threshold": 0.25), or remove the file to use the run\'s own threshold'
        )
    return float(value)


def changed_by_hand(record: dict[str, Any]) -> bool:
    """Whether a kept ``record`` was changed since evaluate kept it: its fields no longer match
    its digest, or it has none though kept since :data:`DIGESTS_BEGAN` (its line removed)."""
    if DIGEST in record:
        return bool(record[DIGEST] != record_digest(record))
    return str(record["kept_on"])[:10] >= DIGESTS_BEGAN


def usable_kept(
    run: Path, threshold: float | None, unknown: bool = True, model: str | None = None
) -> KeptThreshold | None:
    """The kept threshold a command uses for ``run``'s model of digest ``model`` (the one it
    loaded: :func:`read_kept`) when not given one (``threshold`` None) and answering unknown;
    None otherwise. One kept for another model is returned too (its ``current`` False), for the
    command to say why it is not used."""
    if threshold is not None or not unknown:
        return None
    return read_kept(run, model=model)


ThresholdSource = Literal["own", "kept", "given"]
"""Where the unknown threshold a command answers with comes from: the run's ``own`` (chosen on
its validation images), the one ``evaluate --keep-threshold`` ``kept`` for its model, or one a
caller ``given`` (``threshold=``, even one equal to the run's own)."""


def threshold_source(given: float | None, kept: KeptThreshold | None) -> ThresholdSource:
    """The source of the threshold a command answers with, decided once where it is chosen
    (``Recognizer``, the export), from what it was ``given`` and the run's ``kept`` threshold
    (:func:`usable_kept`): read from there by whatever says it (``threshold_images``, the kept
    date, the sidecar's ``threshold_given``), never inferred again from the threshold's value (a
    threshold given equal to the run's own was said to be the run's, "chosen on N validation
    images")."""
    if given is not None:
        return "given"
    return "kept" if kept is not None and kept.current else "own"


EXPORT_SIDECAR = "model.json"
"""The sidecar an export into the run folder writes beside ``model.onnx``."""


def stale_export(run: Path, threshold: float) -> tuple[Path, float] | None:
    """The sidecar of an export in ``run`` written with another unknown threshold than
    ``threshold``, just kept, and that one, which its files (``model_infer.py``, the sidecar)
    still answer by until exported again (:func:`export_answers_other`); None where the run
    holds no export, or one of this threshold."""
    sidecar = Path(run) / EXPORT_SIDECAR
    if not is_export_sidecar(sidecar):
        return None
    written = export_answers_other(run, json_dict(sidecar), threshold)
    return None if written is None else (sidecar, written)


def export_answers_other(
    run: Path,
    sidecar: dict[str, Any],
    threshold: float | None = None,
    kept: KeptThreshold | None = None,
) -> float | None:
    """The unknown threshold an export of ``run`` answers by, as its ``sidecar`` records it,
    where that is another value than ``threshold`` (None: the one the run uses now, the kept one
    for its model, else its own, which the sidecar records as ``run_threshold``); else None, and
    for one given to ``export`` by hand (``threshold_given``: the user's choice). ``kept``: the
    run's kept threshold where the caller has read it (``check``), else read here. One rule, by
    value, for ``check`` and ``evaluate --keep-threshold``'s note; ``share --onnx`` copies an
    export only where it records the kept threshold's date too
    (``export.exporter.reusable_export``), since its sidecar and script say when it was kept."""
    unknown = sidecar.get("unknown")
    if not isinstance(unknown, dict) or unknown.get("threshold_given"):
        return None
    if threshold is None:
        kept = read_kept(run, warn=False) if kept is None else kept
        threshold = kept.threshold if kept is not None and kept.current else None
        threshold = unknown.get("run_threshold") if threshold is None else threshold
    written = unknown.get("threshold")
    return None if written is None or threshold is None or written == threshold else written


def keep_threshold(
    run: Path, threshold: float, why: dict[str, Any], model: str | None = None
) -> KeptThreshold:
    """Record ``threshold`` as ``run``'s kept threshold for the model of digest ``model`` (the
    one evaluated, ``RunMeta.digest``, not the file read again, which a retrain may have
    replaced since; None: the model file as it is now), written whole, then renamed over the
    file, ``why`` saying where it came from; the record it replaces goes into ``previous``.
    Not ``current`` where the run's model file is no longer that model: a retrain landed during
    the evaluation, and predict, serve and export, loading the new one, do not use it."""
    from objrec.checkpoint import atomic_write, model_digest

    now = model_digest(checkpoint_file(run))
    model = model or now
    path = kept_path(run)
    earlier = read_kept(run, warn=False, model=model)  # one not used was warned of: replaced
    previous: list[dict[str, Any]] = []
    if earlier is not None:
        previous = [earlier.fields(), *(earlier.record.get("previous") or [])]
    record = {
        "threshold": threshold,
        "kept_on": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "kept_by": "evaluate --keep-threshold",
        **why,
        "model": model,
        "previous": previous,
    }
    record = sealed(record)
    atomic_write(path, (json.dumps(record, indent=2) + "\n").encode())
    return KeptThreshold(threshold, record["kept_on"], path, model == now, record)


def sealed(record: dict[str, Any]) -> dict[str, Any]:
    """A kept ``record`` with its own digest, made last, as every writer of one writes it."""
    return {key: value for key, value in record.items() if key != DIGEST} | {
        DIGEST: record_digest(record)
    }


def record_digest(record: dict[str, Any]) -> str:
    """The SHA-256 of a kept ``record``'s fields but its own digest, as JSON with its keys sorted
    and no spaces: what a changed byte of the file changes, whatever its layout."""
    fields = {key: value for key, value in record.items() if key != DIGEST}
    return hashlib.sha256(
        json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def stricter_offered(metrics: EvaluationMetrics) -> StricterThreshold | None:
    """``evaluate --unknown``'s stricter threshold in ``metrics`` (``open_set.stricter``) when it
    catches more of the unknown images than the run's: the one rule by which evaluate shows it,
    recommended or not, and :func:`recommended_threshold` keeps it (spelled in both, with
    ``recommended``, which implies it); None else."""
    open_set = metrics.open_set
    if open_set is None or open_set.stricter is None or open_set.unknown_accepted is None:
        return None
    if open_set.stricter.unknown_accepted >= open_set.unknown_accepted:
        return None
    return open_set.stricter


def recommended_threshold(metrics: EvaluationMetrics) -> float | None:
    """The stricter threshold ``evaluate --unknown`` recommends in ``metrics``: offered
    (:func:`stricter_offered`) and worth its trade (``recommended``:
    ``thresholds.threshold_trade``), else None."""
    stricter = stricter_offered(metrics)
    return float(stricter.threshold) if stricter and stricter.recommended else None


def keep_recommended(
    run: Path,
    metrics: EvaluationMetrics,
    unknown: Path,
    evaluated: Path | None,
    model: str | None = None,
) -> KeptThreshold | None:
    """Keep the threshold ``metrics`` recommend (:func:`recommended_threshold`) for ``run``'s
    model of digest ``model`` (the one evaluated: ``EvaluationResult.model_digest``; None: the
    file's now), recording the unknown images it was judged on and the evaluated ones it was
    measured on (the validation images it was chosen and judged on are the run's); None, and
    the run untouched, when none is."""
    threshold = recommended_threshold(metrics)
    stricter = stricter_offered(metrics)
    if threshold is None or stricter is None or metrics.unknown is None:
        return None
    why = {
        "unknown_score": metrics.unknown.score,
        "replaced": metrics.unknown.threshold,
        "unknown": str(Path(unknown).resolve()),
        "evaluated": str(Path(evaluated).resolve()) if evaluated else None,
        "valid_kept": stricter.valid_kept,
    }
    return keep_threshold(run, threshold, why, model)
