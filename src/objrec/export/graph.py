"""The whole model as one ONNX graph: the body, then :class:`Tail` (the head's calibrated
probabilities, or the scores they come from, and the familiarity score), an int8 body's own graph
joined to the head's (:func:`export_quantized`), written and checked against the same graph in
PyTorch on noise within ``TOLERANCE`` (:func:`check_onnx`), with its JSON sidecar
(:func:`write_checked`). What ``export`` writes, and what ``inference`` answers with in ONNX
Runtime (``runtime='onnx'``): below both, so that neither imports the other. The export's check
on real photos runs objrec's own answers (``inference.Recognizer``): the export hands it in
(``export.exporter.export_checked``), as ``evaluate`` hands ``compare`` its measurement.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from objrec.errors import ObjrecError
from objrec.export.sidecar import (
    checked_record,
    confidence_sidecar,
    int8_sidecar,
    preprocessing,
)
from objrec.int8_body import QuantizedBody, damaged_graph
from objrec.manifest import sha256_file
from objrec.meta import Calibration, RunMeta
from objrec.model import Classifier, HeadEnsemble, as_stored
from objrec.outputs import FILES_SHA256, discard, reported_as, staged_files, temporary_name
from objrec.progress import Reporter, or_silent
from objrec.runtime import TOLERANCE, OnnxModel, export_onnx

if TYPE_CHECKING:
    from objrec.export.check import Agreement

log = logging.getLogger(__name__)

PhotoCheck = Callable[[Path, dict[str, Any]], "list[Agreement]"]
"""How :func:`write_checked` has the file it wrote (at its temporary name) measured against
objrec's own answers on real photos, given the sidecar's ``confidence`` entries: the export's
(``export.exporter.export_checked``: ``export.check.photo_agreement``)."""


class Tail(nn.Module):
    """Body features -> the exported outputs: the head's probabilities, calibrated by the run's
    temperature (or the uncalibrated scores they come from: the log of the heads' averaged
    probabilities, output as ``logits``), and the familiarity score when the run has one."""

    def __init__(
        self, model: Classifier, temperature: float, softmax: bool, feature_dtype: str = "float32"
    ):
        super().__init__()
        self.head, self.familiarity = model.head, model.familiarity
        self.temperature, self.softmax = temperature, softmax
        self.feature_dtype = feature_dtype
        """The run's stored features' dtype: float16 rows are rounded to (``as_stored``)."""

    @property
    def output_names(self) -> tuple[str, ...]:
        first = "probabilities" if self.softmax else "logits"
        return (first,) if self.familiarity is None else (first, "familiarity")

    def forward(self, features: torch.Tensor):
        features = as_stored(features, self.feature_dtype)
        logits = head_scores(self.head, features)
        out = (logits / self.temperature).softmax(1) if self.softmax else logits
        return out if self.familiarity is None else (out, self.familiarity(features))


def head_scores(head: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """The log of the heads' averaged probabilities, as the sidecar says the ``logits`` output
    holds (``sidecar.CALIBRATION``): one head's log-softmax, since a lone head answers raw
    logits (``model.build_head``), which an app reading the output as log-probabilities took
    wrongly (review62a M1). Several heads' written without ``torch.logsumexp``: the ONNX
    ``ReduceLogSumExp`` it exports to loses its axis in OpenVINO (2026.4 reduces over every
    axis), and then OpenVINO refuses the file. The same sum, as ``logsumexp`` computes it: the
    members' largest log-probability, then the log of the sum of the exponentials above it."""
    if not isinstance(head, HeadEnsemble):
        return head(features).log_softmax(-1)
    members = head.member_logits(features).log_softmax(-1)
    top = members.amax(0)
    return top + (members - top).exp().sum(0).log() - math.log(len(members))


def rename_tensors(graph, names: dict[str, str]) -> None:
    """Rename the tensors ``names`` maps wherever ``graph`` names them (nodes, inputs, outputs)."""
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for info in (*graph.input, *graph.output, *graph.value_info):
        info.name = names.get(info.name, info.name)


def node_domains(graph) -> set[str]:
    """The operator domains ``graph``'s nodes use, in the graphs their attributes hold too (an
    ``If``'s branches); ``""`` and ``ai.onnx`` are one domain, the default."""
    domains = set()
    for node in graph.node:
        domains.add(node.domain or "")
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                domains |= node_domains(sub)
    return {"" if d == "ai.onnx" else d for d in domains}


def drop_unused_opsets(model) -> None:
    """Keep only the opset imports of the domains ``model``'s nodes and functions use (and the
    default domain's), once each. ONNX Runtime's pre-processing stamps the int8 body with nine
    (ai.onnx.ml 5, com.microsoft.nchwc, ...), and an ONNX Runtime before 1.18 refuses a file
    that imports an opset newer than it knows, used or not: a default run's int8 export did not
    load in 1.16 or 1.17 (a small board's may be older than objrec's), its fp32 export did."""
    used = node_domains(model.graph) | {""}
    for function in model.functions:
        used |= {function.domain} | node_domains(function)
    kept = {}  # the first import of a domain: the joined graph imports the default one twice
    for opset in model.opset_import:
        domain = "" if opset.domain == "ai.onnx" else opset.domain
        if domain in used and domain not in kept:
            kept[domain] = opset
    del model.opset_import[:]
    model.opset_import.extend(kept.values())


def int8_graph(body: QuantizedBody):
    """The int8 body's graph as an ONNX model; refused in one sentence when it does not parse."""
    import onnx

    try:
        return onnx.load_from_string(body.graph_bytes())
    except Exception as exc:  # protobuf's DecodeError and onnx's own: any means "damaged"
        raise damaged_graph(exc) from exc


def export_quantized(body: QuantizedBody, head: Tail, path: Path) -> Path:
    """One graph: the int8 body exactly as trained, then the fp32 head (joined by onnx.compose).

    Its input and outputs have the names an fp32 body's export gives them (``input``, then the
    head's ``probabilities`` or ``logits`` and ``familiarity``), not the prefixed names joining
    the two graphs gives them, so a caller reads any export by the same names."""
    import onnx
    from onnx import compose

    head_path = temporary_name(path)
    try:
        with reported_as(path, head_path):  # a full disk: the file asked for, not the head's
            export_onnx(
                head.eval(),
                head_path,
                body.n_features,
                sample_shape=(body.n_features,),
                output_names=head.output_names,
            )
        body_graph = int8_graph(body)
        head_graph = onnx.load(str(head_path))
    finally:
        discard(head_path)
    head_graph = compose.add_prefix(head_graph, "head/")
    head_graph.ir_version = body_graph.ir_version
    joined = compose.merge_models(
        body_graph,
        head_graph,
        io_map=[(body_graph.graph.output[0].name, "head/input")],
        prefix1="body/",
    )
    names = {joined.graph.input[0].name: "input"}
    names |= {f"head/{name}": name for name in head.output_names}
    rename_tensors(joined.graph, names)
    drop_unused_opsets(joined)
    onnx.save(joined, str(path))
    return path


def as_tuple(outputs) -> tuple[torch.Tensor, ...]:
    return outputs if isinstance(outputs, tuple) else (outputs,)


FAMILIARITY_RTOL = 1e-3
"""How closely ONNX Runtime must reproduce the familiarity score, relative to its size: the score
sums squares over thousands of features, so float32 rounding (and an int8 body's two runtimes) move
it by about 1e-4 of its size."""


def onnx_differences(
    module: nn.Module, path: Path, input_size: int, softmax: bool
) -> tuple[float, float]:
    """ONNX Runtime against PyTorch on sample inputs: the max absolute difference of
    probabilities, and the max difference of familiarity scores relative to their size (0 without
    one)."""
    onnx_model = OnnxModel(path)
    g = torch.Generator().manual_seed(0)
    worst, familiarity = 0.0, 0.0
    for batch in (1, 5):
        x = torch.randn(batch, 3, input_size, input_size, generator=g)
        with torch.inference_mode():
            expected = as_tuple(module(x))
        got = onnx_model.outputs(x)
        e, o = (expected[0], got[0]) if softmax else (expected[0].softmax(1), got[0].softmax(1))
        worst = max(worst, largest_gap((e - o).abs()))
        if len(expected) > 1:
            relative = (expected[1] - got[1]).abs() / expected[1].abs().clamp(min=1)
            familiarity = max(familiarity, largest_gap(relative))
    return worst, familiarity


def largest_gap(gaps: torch.Tensor) -> float:
    """The largest of ``gaps`` (differences from objrec's answers), infinite where one is NaN: a
    file answering NaN is not close, and ``max(worst, nan)`` keeps ``worst``, so a check that
    took the largest with ``max`` passed such a file as agreeing."""
    return float(gaps.nan_to_num(nan=math.inf).max())


def check_onnx(module: nn.Module, path: Path, input_size: int, softmax: bool) -> float:
    """Max absolute difference of probabilities, ONNX Runtime against PyTorch, on sample inputs;
    a familiarity score further off than ``FAMILIARITY_RTOL`` counts as a difference of 1."""
    diff, familiarity = onnx_differences(module, path, input_size, softmax)
    return diff if familiarity <= FAMILIARITY_RTOL else 1.0


def write_onnx_checked(
    model: Classifier, module: nn.Module, tail: Tail, part: Path, size: int, softmax: bool
) -> float:
    """``module`` (the body as the file runs it, then ``tail``) written to ``part`` and checked
    against PyTorch: its largest difference, refused over ``TOLERANCE``."""
    if isinstance(model.body, QuantizedBody):
        export_quantized(model.body, tail, part)
    else:
        export_onnx(module, part, size, output_names=tail.output_names)
    diff = check_onnx(module, part, size, softmax)
    if diff > TOLERANCE:
        raise ObjrecError(
            f"the ONNX export differs from PyTorch by {diff:.2g} (over {TOLERANCE}); "
            "nothing written"
        )
    return diff


def checked_module(model: Classifier, tail: Tail) -> nn.Module:
    """The body, then ``tail``, as the exported file runs them: an int8 body on ONNX Runtime, so
    that the check runs the graph as the file is run."""
    body = model.body
    if isinstance(body, QuantizedBody):
        body = body.on_engine("onnxruntime")
    return nn.Sequential(body, tail).eval()


def files_sha256(written: Mapping[Path, Path]) -> dict[str, str]:
    """Each file's SHA-256 by its name (of the file it becomes), read from where it was written."""
    return {path.name: sha256_file(part) for path, part in written.items()}


@dataclass(frozen=True, kw_only=True)
class ExportSettings:
    """What an export's graph and sidecar say beyond the model, passed whole from the export
    down to :func:`write_staged`: they travelled as positional tuples of five to eight values in
    two orders, several of one type (``kept_on``, ``digest``), which a parameter added or moved
    would have misrouted with mypy silent (review62a C1); each named where made."""

    softmax: bool = True
    """The graph ends in the calibrated probabilities; False: in the scores they come from,
    output as ``logits``."""
    threshold: float | None = None
    """The sidecar's unknown threshold; None: the run's own."""
    kept_on: str | None = None
    """When ``threshold`` is the one kept with the run: when it was kept."""
    digest: str | None = None
    """The content digest of the model file the model was read from (the sidecar names it)."""


def write_checked(
    model: Classifier,
    meta: RunMeta,
    path: Path,
    settings: ExportSettings = ExportSettings(),
    reporter: Reporter | None = None,
    beside: Mapping[Path, Path] | None = None,
    photos: PhotoCheck | None = None,
) -> tuple[float, list[Agreement]]:
    """:func:`write_staged` at temporary names, the model and its sidecar then replacing the
    files at their names together (``outputs.staged_files``)."""
    with staged_files([path, path.with_suffix(".json")]) as parts:
        return write_staged(model, meta, path, parts, settings, reporter, beside, photos)


def write_staged(
    model: Classifier,
    meta: RunMeta,
    path: Path,
    parts: Sequence[Path],
    settings: ExportSettings = ExportSettings(),
    reporter: Reporter | None = None,
    beside: Mapping[Path, Path] | None = None,
    photos: PhotoCheck | None = None,
) -> tuple[float, list[Agreement]]:
    """Export, verify against PyTorch within ``TOLERANCE``, measure the file against objrec's own
    answers on real photos where ``photos`` is given (none: not measured), and write the sidecar
    JSON (:class:`ExportSettings`; :data:`FILES_SHA256` of the graph and the files ``beside``
    it, by name -> written as) to ``parts``, the temporary names of the model and its sidecar,
    for the caller to rename (:func:`write_checked`, the export with its script);
    ``reporter`` shows the writing. Returns the file's largest difference from PyTorch and its
    answers on the photos."""
    softmax = settings.softmax
    calibration = meta.calibration or Calibration()
    tail = Tail(model, calibration.temperature, softmax, meta.feature_dtype)
    module = checked_module(model, tail)
    part, text = parts
    with or_silent(reporter).task("writing the ONNX file and checking it", None):
        diff = write_onnx_checked(model, module, tail, part, meta.data.input_size, softmax)
    outputs = [o.name for o in OnnxModel(part).session.get_outputs()]
    confidence = confidence_sidecar(
        meta, model, softmax, outputs, settings.threshold, settings.kept_on
    )
    answers = photos(part, confidence) if photos is not None else []
    answer = {
        **preprocessing(meta, settings.digest),
        **int8_sidecar(model.body),
        **confidence,
        "max_abs_diff": diff,
        **({"answers_checked": checked_record(answers)} if answers else {}),
        FILES_SHA256: files_sha256({path: part, **(beside or {})}),
    }
    text.write_text(json.dumps(answer, indent=2))
    log.info("exported %s (max |diff| %.2g)", path, diff)
    return diff, answers
