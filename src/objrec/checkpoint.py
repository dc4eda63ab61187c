"""Checkpoints of plain data: tensors in safetensors, metadata as JSON in its header. No pickle.

A checkpoint alone is enough to predict: it holds the whole model's weights (body and head, so a
fine-tuned body or a body from a local weights file travels with it), the backbone name, the class
names in label order, the data config and the head's shape. It holds its own SHA-256 too
(:data:`SEAL_KEY`), checked whenever it is read: safetensors checks the header, not the values,
so a flipped byte in a weight loaded and answered wrong without a word.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save, save_file

from objrec import __version__
from objrec.backbones import BadBackbone, build_body, builds_on_meta, get_backbone
from objrec.bodies import load_into, loaded_in_place, restore_input_transform
from objrec.errors import ObjrecError
from objrec.int8_body import QuantizedBody, is_quantized
from objrec.meta import RunMeta
from objrec.model import Classifier, build_head
from objrec.model_file import (
    DAMAGED,
    DIGEST_CHARS,
    META_KEY,
    UNSEALED,
    checkpoint_meta,
    content_digest,
    named_in_errors,
    not_a_checkpoint,
    objrec_header,
    refusal_cause,
    require_intact,
    safetensors_metadata,
    seal,
)
from objrec.model_file import SEAL_KEY as SEAL_KEY  # the seal's functions live in model_file
from objrec.model_file import Damaged as Damaged
from objrec.model_file import is_checkpoint as is_checkpoint
from objrec.model_file import is_sealed as is_sealed
from objrec.model_file import model_digest as model_digest
from objrec.model_file import seal_at as seal_at
from objrec.outputs import renamed_over, temporary_folder, temporary_name
from objrec.paths import PathGiven
from objrec.run_files import BEST, LAST, require_checkpoint_file
from objrec.run_place import summary_finished
from objrec.unknown_scores import familiarity_from_state, tie_head

log = logging.getLogger(__name__)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` beside ``path``, flush it to disk, then rename it over ``path`` in one step; a
    failed write is an OSError about ``path``."""
    with replacing(Path(path)) as tmp:
        write_synced(tmp, data)


def atomic_save(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str], *, sealed: bool = False
) -> str | None:
    """:func:`atomic_write` of ``tensors`` in safetensors, written by its ``save_file`` straight
    from the tensors: the same bytes as ``save``'s, which copies them into one ``bytes`` first
    (0.10 s against 0.26 s for a warm retrain's 75 MB training state, benchmarks/README.md).
    ``save_file`` reports a failed write (a full disk) as a SafetensorError of its own, without
    the system's reason: the file is then written again from ``save``'s bytes, whose failure is
    the system's OSError about ``path``, which the CLI turns into one sentence. ``save_file``
    writes a file of its own beside ``tmp`` (``.tmpXXXXXX``) and renames it over it, readable by
    its owner only: ``tmp``, made first, says what permissions a new file gets, and the file is
    given them. Both are in a temporary folder of objrec's name, so that a run killed meanwhile
    leaves nothing the next one could not tell for its own (``leftovers.remove_leftovers``).
    ``sealed``: ``metadata`` holds :data:`SEAL_KEY`'s placeholder, the file's SHA-256 is written
    over it before the file is renamed into place (:func:`seal`), and its SHA-256 (hex, whole)
    returned, of the bytes the seal read (None: not ``sealed``)."""
    digest = None
    with temporary_folder(Path(path)) as folder, replacing(Path(path), folder) as tmp:
        tmp.touch()
        mode = stat.S_IMODE(tmp.stat().st_mode)
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except SafetensorError:
            write_synced(tmp, save(tensors, metadata=metadata))
        else:
            os.chmod(tmp, mode)
        with open(tmp, "rb+") as f:
            if sealed:
                digest = seal(f)
            os.fsync(f.fileno())
    return digest


@contextmanager
def replacing(path: Path, folder: Path | None = None) -> Iterator[Path]:
    """A temporary name beside ``path`` (``outputs.temporary_name``), or in ``folder``
    (``outputs.temporary_folder``), for the block to write, renamed over ``path`` in one step
    when the block ends, removed when it fails; an OSError about it is raised about ``path``.
    A run killed meanwhile leaves it under a name the next one knows for objrec's
    (``leftovers.remove_leftovers``)."""
    tmp = folder / path.name if folder is not None else temporary_name(path)
    with renamed_over(path, tmp) as written:
        yield written


def write_synced(path: Path, data: bytes) -> None:
    """``data`` written to ``path`` and flushed to disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(
    path: Path,
    model: Classifier,
    meta: RunMeta,
) -> str:
    """Write the model's state and ``meta`` atomically to ``path``, sealed with its SHA-256
    (:data:`SEAL_KEY`). Returns the file's content digest (``model_digest``'s), of the bytes
    written: the run names its model by it, not by a read of the file again."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return save_model_state(path, state, meta.to_json())[:DIGEST_CHARS]


def save_model_state(path: Path, state: dict[str, torch.Tensor], meta: Mapping[str, Any]) -> str:
    """Write a model's tensors and its metadata (``RunMeta.to_json``'s form) atomically to
    ``path``, sealed with its SHA-256 (:data:`SEAL_KEY`): every model file objrec writes. Returns
    the SHA-256 (hex, whole) of the file written (:func:`atomic_save`)."""
    header = {META_KEY: json.dumps(meta), SEAL_KEY: UNSEALED.decode()}
    digest = atomic_save(path, state, header, sealed=True)
    assert digest is not None  # sealed
    return digest


def save_model_sealed(path: Path, state: dict[str, torch.Tensor], meta: Mapping[str, Any]) -> str:
    """:func:`save_model_state`, the file made and sealed in memory before it is written: the
    SHA-256 (hex, whole) of the bytes written, for a caller that names the file by it (``share``:
    its content digest, its line in ``SHA256SUMS``) without reading it back. A copy of the
    tensors in memory, where :func:`atomic_save` streams them."""
    header = {META_KEY: json.dumps(meta), SEAL_KEY: UNSEALED.decode()}
    buffer = io.BytesIO(save(state, metadata=header))
    digest = seal(buffer)
    atomic_write(path, buffer.getvalue())
    return digest


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], RunMeta]:
    """Tensors and metadata of an objrec checkpoint (its ``digest``, of the bytes read: the model
    every record of its use names); anything else is refused before use."""
    state, header, digest = read_model_state(path)
    return state, checkpoint_meta(path, header, digest)


def read_model_state(
    path: Path, damaged: str = DAMAGED
) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """Tensors, the raw JSON header and the content digest (:func:`content_digest`) of an objrec
    safetensors file of this format version (what :func:`save_model_state` takes: ``share``
    writes a model file again without its paths), from one reading of the whole file into
    memory. ``load_file`` mapped the file, and the model kept tensors of that mapping (the
    familiarity score's): a copy over the file in place (``cp new.safetensors
    run/model.safetensors``, which truncates it first) killed a running ``serve`` with SIGBUS at
    its next answer; read in full, the model holds no part of the file, and the header, the
    tensors and the digest come from the same version of it, which its SHA-256 is checked on
    (:func:`require_intact`, refusing it in the sentence ``damaged``). The digest is of these
    bytes, hashed beside the check, not of the file read again later: a retrain renaming its
    model over the file meanwhile had its digest name the model read before. The check and the
    digest are two SHA-256 passes by definition (the check's reads the 64 digits of the file's
    own SHA-256 as zeros, the digest's reads them as written, so the two differ from the header
    on: benchmarks/README.md, "load_hashes.py"); they run at once, hashlib letting go of the
    GIL."""
    state, meta, digest = read_state(path, damaged, digested=True)
    assert digest is not None
    return state, meta, digest


def read_state(
    path: Path, damaged: str, digested: bool
) -> tuple[dict[str, torch.Tensor], dict[str, Any], str | None]:
    """:func:`read_model_state`, its content digest computed only when ``digested``: a training
    state is resumed from, never named in a record, and its digest was one SHA-256 of 80 MB
    (the default head's) more at every resume for nothing."""
    path = require_checkpoint_file(path)
    try:
        data = path.read_bytes()
        with ThreadPoolExecutor(1) as pool:
            digest = pool.submit(content_digest, data) if digested else None
            require_intact(path, data, damaged)
            state = load(data)
        header = safetensors_metadata(data)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ObjrecError(not_a_checkpoint(path, damaged)) from refusal_cause(path, exc)
    return state, objrec_header(path, header), digest.result() if digest is not None else None


def tensors_of(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    """The tensors of the checkpoint ``path`` from its bytes ``data``, read and checked against
    their seal already (``model_file.read_header``'s), refused as :func:`read_state` refuses
    them: for :func:`load_model`'s ``read`` without a second read of the file."""
    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ObjrecError(not_a_checkpoint(path)) from refusal_cause(path, exc)


def build_from_meta(meta: RunMeta) -> Classifier:
    """The model's architecture (no pretrained weights loaded) as the metadata describes it; a
    backbone this objrec cannot build is one sentence for whoever received the checkpoint: what
    made it and what to upgrade, not the names ``--backbone`` takes, which they did not choose."""
    try:
        spec = get_backbone(meta.backbone)
    except BadBackbone as exc:
        raise ObjrecError(
            f"its backbone {meta.backbone!r} is none this objrec ({__version__}) can build: it was "
            "made by a later objrec, or with a torchvision or timm this one lacks (the run's "
            "summary.json names their versions in `provenance`): upgrade them"
        ) from exc
    body = build_body(spec, pretrained=False)
    h = meta.head
    head = build_head(h.n_features, h.n_classes, h.hidden, h.dropout, h.members)
    return Classifier(body, head).freeze_body()


def load_model(
    path: PathGiven, read: tuple[dict[str, torch.Tensor], RunMeta] | None = None
) -> tuple[Classifier, RunMeta]:
    """Rebuild the model of a run folder or checkpoint file, in eval mode, on the CPU; from
    ``read``, its :func:`read_checkpoint` (tensors and metadata) where the caller read it already
    (its tensors are then the model's), not read again.

    Where the body may be built on the meta device (objrec's own, :func:`builds_on_meta`), the
    model takes the checkpoint's tensors as its own, as a train's bodies take their weights
    files' (``loaded_in_place``): no weight drawn at random for the file's to replace, none
    copied. The tensors are the model's alone (:func:`read_model_state` read the file whole)."""
    path = Path(path)
    state, meta = read or read_checkpoint(path)
    where = path / BEST if path.is_dir() else path
    in_place = builds_on_meta(meta.backbone)
    with named_in_errors(where), torch.device("meta") if in_place else nullcontext():
        model = build_from_meta(meta)
    if is_quantized(state):
        model.body = QuantizedBody(model.body)
    with named_in_errors(where):
        model.familiarity = familiarity_from_state(state)
    if in_place:
        loaded_in_place(model, "", state, str(where))
    else:
        load_into(model, state, str(where))
    if restore_input_transform(model.body, meta.body_fingerprint):
        log.info(
            "%s: its %s body runs without the input transform, as it trained", path, meta.backbone
        )
    tie_head(model.familiarity, model.head)  # a score with the heads' energy uses the model's
    return model.eval(), meta


def warn_if_unfinished(run: Path) -> None:
    """Say that ``run``, a run folder or its model file (``RUN/model.safetensors``), is of a run
    whose training was stopped before its end (its training state is still there): its model is
    the best of the epochs before the stop, uncalibrated, which predict, evaluate, serve and
    export otherwise used as if it were finished."""
    if run.name == BEST and run.is_file():
        run = run.parent
    if (run / LAST).is_file() and not summary_finished(run):
        log.warning(
            "%s holds an unfinished run: training stopped before its end, so its model is the "
            'best so far, its probabilities are not calibrated and it has no "unknown" '
            "threshold of its own; resume its training to finish it",
            run,
        )
