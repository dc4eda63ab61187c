"""The whole model as one ONNX graph, kept in the run's cache folder for ``runtime="onnx"``
(``Recognizer``): its key (the model file's digest, objrec's version, :data:`MODEL_GRAPH`, and as
every graph of ``onnx/``, the model's code and PyTorch's version), opened where it is whole and of
this model, else exported again (checked against PyTorch), and run as the recognizer's runner
(:func:`graph_runner`). Split out of ``inference``, whose
``Recognizer`` defines the answer and takes this as one of its runners."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import torch

from objrec import __version__
from objrec.bodies import body_key, fingerprint_module
from objrec.cache import open_cache
from objrec.errors import ObjrecError
from objrec.export.graph import ExportSettings, Tail, write_checked
from objrec.meta import RunMeta
from objrec.model import Classifier
from objrec.outputs import json_dict
from objrec.runtime import OnnxModel, using_graph

log = logging.getLogger(__name__)

MODEL_GRAPH = 4
"""The form of the whole-model graph that ``runtime="onnx"`` caches, part of its key: raised
whenever the graph objrec exports for a checkpoint changes."""

Outputs = tuple[torch.Tensor, torch.Tensor | None]
"""One view's (logits, familiarity or None) for a batch: what each of a ``Recognizer``'s runners
gives."""


class GraphUnmade(ObjrecError):
    """The ONNX graph a run is answered with in ONNX Runtime could not be made (a cache folder
    that cannot be written, an exporter's failure): PyTorch answers without it."""


def open_graph(path: Path, outputs: tuple[str, ...]) -> OnnxModel:
    """The ONNX model at ``path``, refused unless its outputs are ``outputs``."""
    model = OnnxModel(path)
    names = tuple(o.name for o in model.session.get_outputs())
    if names != outputs:
        raise ObjrecError(f"its outputs are {', '.join(names)}, not {', '.join(outputs)}")
    return model


def require_made_from(graph: Path, digest: str | None) -> None:
    """Refuse the cached whole-model ``graph`` unless the record written with it (its sidecar's
    ``model_digest``) names the model file of ``digest`` (None: a model not read from a file,
    keyed by its tensors): a graph filed under another model's key would answer with its
    network and this model's calibration and threshold, the answers of neither."""
    if digest is None:
        return
    made = json_dict(graph.with_suffix(".json")).get("model_digest")
    if made != digest:
        raise ObjrecError(
            f"it was made from another model file ({made or 'unrecorded'}) than this one ({digest})"
        )


def graph_runner(model: Classifier, meta: RunMeta) -> Callable[[torch.Tensor, bool], Outputs]:
    """The whole ``model``'s graph as a runner: it computes the familiarity whether asked for or
    not (one graph), and gives it only when asked for, as the other runners do."""
    cache = open_cache(meta.cache_dir)  # the run's, as its body's graphs (frozen_body)
    onnx_model = cached_graph(cache.model_onnx_path(graph_key(model, meta)), model, meta)

    def run(x: torch.Tensor, familiar: bool) -> Outputs:
        outputs = onnx_model.outputs(x)
        return outputs[0], outputs[1] if familiar and len(outputs) > 1 else None

    return run


def graph_key(model: Classifier, meta: RunMeta) -> str:
    """The cached graph's key, by the rule of every graph in ``onnx/`` (``bodies.body_key``): the
    model's code (its classes' methods; torch's, timm's and torchvision's versions) and the
    version of PyTorch, which exports it, beside what the model is: the digest of the model
    file's bytes loaded (``meta.digest``; without one, the model's repr and tensors and its data
    config), objrec's version and :data:`MODEL_GRAPH`. By the model file, objrec's version
    and :data:`MODEL_GRAPH` alone, a graph PyTorch or timm exported before an upgrade was
    answered with after it (store60). Never the file read again: a retrain renaming its model
    over it meanwhile would file this model's graph under the new model's key, and later loads
    of the new model would answer with it."""
    made = f"objrec {__version__} graph {MODEL_GRAPH}\n"
    if meta.digest is not None:
        made += meta.digest
    else:
        made += f"{meta.data!r}\n{fingerprint_module(model)}"
    return body_key(model, hashlib.sha256(made.encode()).hexdigest())


def cached_graph(path: Path, model: Classifier, meta: RunMeta) -> OnnxModel:
    """The whole model as ONNX at ``path``, exported (and checked against PyTorch) when it is
    not there, and again when it is damaged or lacks this model's outputs (as
    ``runtime.make_runner`` does with the body's graph); one sentence naming the file when it
    cannot be made."""
    with using_graph(path):
        return open_or_export(path, model, meta)


def open_or_export(path: Path, model: Classifier, meta: RunMeta) -> OnnxModel:
    """:func:`cached_graph`'s work, with ``path``'s folder held (``runtime.using_graph``)."""
    expected = Tail(model, 1.0, softmax=False).output_names
    if path.exists():
        try:
            require_made_from(path, meta.digest)
            return open_graph(path, expected)
        except Exception as exc:  # ONNX Runtime raises many types: any means "not usable"
            log.warning(
                "the cached ONNX model %s is not usable (%s): exporting it again", path, exc
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_checked(model, meta, path, ExportSettings(softmax=False, digest=meta.digest))
        return open_graph(path, expected)
    except Exception as exc:  # the exporter too
        raise GraphUnmade(f"cannot make the ONNX model {path} for this run: {exc}") from exc
