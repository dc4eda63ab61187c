"""What a backbone weighs, for a person choosing one (``objrec backbones``): the features it gives
the head, its parameters and the size of its weights on disk, known without running an image
(the registry declares them; another body is built on the meta device, no weight read); where the
repo measured it, its accuracy on the reference protocol, cited; and, when asked, its frozen
pass's milliseconds per image here, in each precision ``train`` would run it in, measured by the
code ``train`` runs it with (``frozen.FrozenBody``, ``frozen.in_body``, ``quantize.quantize_body``).

A newcomer compared Lite0 against the default by training both, paying the frozen pass twice:
these are the figures that choice rests on. The listing imports no PyTorch (it answers at once);
measuring does, and builds one body at a time.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from objrec.backbones import (
    BackboneSpec,
    build_body,
    builds_on_meta,
    get_backbone,
    list_backbones,
    list_torchvision_backbones,
)
from objrec.config import DEFAULT_BACKBONE
from objrec.errors import ObjrecError
from objrec.paths import PathGiven, as_path
from objrec.progress import Reporter, or_silent

if TYPE_CHECKING:
    from objrec.bodies import Body
    from objrec.cache import FeatureCache
    from objrec.frozen import FrozenBody
    from objrec.quantize import Fidelity

log = logging.getLogger(__name__)

MEASURED_IMAGES = 128
"""Images each precision's pass is timed on, after a warm-up: eight of the frozen pass's
batches, 1 to 5 s a body and precision on 2 cores."""

REFERENCE_PAGE = "benchmarks/README.md#accuracypy-each-setting-on-the-test-split"
"""Where the reference figures come from: ``benchmarks/accuracy.py``'s table."""


@dataclass(frozen=True)
class Reference:
    """A backbone's accuracy on the reference protocol, as the repo measured it: the test split of
    Caltech-101's 100-class protocol, split seed 0, one run, each body in fp32
    (``benchmarks/accuracy.py``, the table of :data:`REFERENCE_PAGE`). Cited, never computed:
    ``tests/test_backbone_facts.py`` checks each figure against that table's row."""

    top1: float
    top5: float
    row: str
    """The start of the table's row it is copied from (its setting)."""
    source: str = REFERENCE_PAGE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


REFERENCES = {
    "efficientnet_lite0": Reference(0.9572, 0.9968, "Lite0 alone, 224 px, 1 augmented view"),
    "efficientnet_lite1": Reference(0.9488, 0.9948, "Lite1 alone, 240 px, 1 augmented view"),
    "efficientnet_lite2": Reference(0.9585, 0.9929, "Lite2 alone, 260 px, 1 augmented view"),
    "efficientnet_lite0+efficientnet_lite1": Reference(
        0.9617, 0.9974, "Lite0+Lite1 (the previous default)"
    ),
    DEFAULT_BACKBONE: Reference(0.9663, 0.9968, "**default**: Lite0+Lite1+Lite2, 240 px"),
}
"""The reference figures the repo has, by backbone name (each at its registered input size);
a backbone not here has none."""


@dataclass(frozen=True)
class PassSpeed:
    """The frozen pass's time per image in one precision, measured here on ready tensors (no
    file decoded), as ``train`` runs it: its batch size, its threads."""

    precision: str
    """``fp32`` or ``int8``."""
    engine: str
    """What ran it: ``onnxruntime`` (or ``torch``) for fp32, ``openvino`` or ``onnxruntime`` for
    int8."""
    ms_per_image: float
    batch_size: int
    threads: int
    """PyTorch's thread count (``cores.cpu_threads``), which the pass's batches share."""
    auto: bool
    """Whether ``precision="auto"`` runs the body in it here."""
    fidelity: Fidelity | None = None
    """int8's: how closely its features follow fp32's on objrec's calibration images, in the
    engine that runs it (``quantize.Fidelity``), measured as the copy was made, or remembered
    since in the cache folder; None for fp32, or where not known (a copy an objrec before 7
    December 2026 made)."""

    def to_json(self) -> dict[str, Any]:
        fidelity = None if self.fidelity is None else self.fidelity.to_json()
        return asdict(self) | {"ms_per_image": round(self.ms_per_image, 2), "fidelity": fidelity}


@dataclass(frozen=True)
class BackboneFacts:
    """One backbone as ``objrec backbones`` describes it (docs/json.md): the registry's entry, what
    it weighs, its reference accuracy, and its pass's speeds where measured."""

    name: str
    input_size: int
    offline: bool
    default: bool
    description: str
    features: int | None
    """Features it gives the head (None: unknown without building it)."""
    parameters: int | None
    """Its body's parameters (its ImageNet classifier left out)."""
    weights_bytes: int | None
    """The size on disk of the files its pretrained weights are read from (an EfficientNet-Lite
    file holds the classifier too); for a body without them, of the weights it holds as built."""
    reference: Reference | None
    speeds: tuple[PassSpeed, ...] | None = None
    """Measured when asked: fp32, then int8 where ``precision="auto"`` could pick it here."""
    no_int8: str = ""
    """Measured, why no int8 speed: ``auto``'s reason for fp32 (no 8-bit dot products here)."""

    def to_json(self) -> dict[str, Any]:
        """As ``objrec backbones --json`` lists it: ``speeds`` and ``no_int8`` when measured."""
        row = {
            "name": self.name,
            "input_size": self.input_size,
            "offline": self.offline,
            "default": self.default,
            "description": self.description,
            "features": self.features,
            "parameters": self.parameters,
            "weights_bytes": self.weights_bytes,
            "reference": None if self.reference is None else self.reference.to_json(),
        }
        if self.speeds is None:
            return row
        return row | {"speeds": [s.to_json() for s in self.speeds], "no_int8": self.no_int8}


def describe_backbones(
    names: Sequence[str] = (),
    *,
    torchvision: bool = False,
    measure: bool = False,
    images: int = MEASURED_IMAGES,
    cache_dir: PathGiven | None = None,
    reporter: Reporter | None = None,
) -> list[BackboneFacts]:
    """What each backbone weighs (:class:`BackboneFacts`): of ``names`` (any name ``backbone``
    takes), else of the registry's networks and the default ensemble, and torchvision's models
    with ``torchvision`` (their counts unknown unless measured: building each takes seconds).

    ``measure``: time the frozen pass of each on ``images`` random images on this machine's CPU
    (a body at a time,
    through the feature cache of ``cache_dir``, where its graphs are kept for ``train``: a
    network's int8 copy, made once per network and cache folder, is made first where missing),
    shown to ``reporter``. The feature store the int8 copy opens is let go of as it returns
    (``cache.stores_held``), as ``train``'s is: a prune or clear elsewhere waits for it no longer.
    """
    refuse_measuring(names, torchvision, measure, images)
    specs = [get_backbone(n) for n in names] if names else listed(torchvision)
    if not measure:
        return [described(spec) for spec in specs]
    from objrec.cache import open_cache, stores_held

    cache, told = open_cache(as_path(cache_dir)), or_silent(reporter)
    with stores_held():
        return [measured(spec, cache, images, told) for spec in specs]


def refuse_measuring(names: Sequence[str], torchvision: bool, measure: bool, images: int) -> None:
    """An ObjrecError, said before anything loads, for a measure that cannot be or should not
    be: of fewer than one image, or of every torchvision model."""
    if images < 1:
        raise ObjrecError(f"`images` must be 1 or more to measure, got {images}")
    if measure and torchvision and not names:
        raise ObjrecError(
            "`measure` with `torchvision` would time every one of torchvision's models, "
            "downloading their weights: name the networks to measure instead"
        )


def listed(torchvision: bool) -> list[BackboneSpec]:
    """The registry's networks (the default ensemble among them), then torchvision's if asked."""
    return list_backbones() + (list_torchvision_backbones() if torchvision else [])


def described(spec: BackboneSpec, body: Body | None = None) -> BackboneFacts:
    """``spec``'s facts, its counts from ``body`` (built) where the registry declares none."""
    features, parameters, size = weighed(spec, body)
    return BackboneFacts(
        name=spec.name,
        input_size=spec.data_config.input_size,
        offline=spec.offline(),
        default=spec.name == DEFAULT_BACKBONE,
        description=spec.description,
        features=features,
        parameters=parameters,
        weights_bytes=size,
        reference=REFERENCES.get(spec.name),
    )


def weighed(spec: BackboneSpec, body: Body | None = None) -> tuple[int | None, ...]:
    """Features, parameters and bytes of weights on disk: as the registry declares them (no
    PyTorch), else counted on ``body``, else on the body built on the meta device (objrec's own:
    no weight read or drawn); unknown (None) for another library's model not built."""
    files = spec.weights_files()
    on_disk = sum(f.stat().st_size for f in files) if files else None
    if spec.n_features and spec.parameters:
        return spec.n_features, spec.parameters, on_disk
    if body is None and not builds_on_meta(spec.name):
        return None, None, on_disk
    if body is None:
        import torch

        with torch.device("meta"):
            body = build_body(spec, pretrained=False)
    parameters = sum(p.numel() for p in body.parameters())
    held = sum(t.numel() * t.element_size() for t in body.state_dict().values())
    return body.n_features, parameters, on_disk or held


def measured(spec: BackboneSpec, cache: FeatureCache, images: int, reporter: Reporter):
    """``spec``'s facts with its frozen pass timed in each precision ``train`` could run it in
    here (:func:`pass_speeds`); its pretrained body built for it, and let go after."""
    import torch

    from objrec.precision import auto_precision

    body = build_body(spec, pretrained=True)
    auto, why = auto_precision(spec, torch.device("cpu"))
    speeds = tuple(pass_speeds(spec, body, cache, images, reporter, auto))
    no_int8 = "" if auto == "int8" else f"auto runs fp32 here: {why}"
    return replace(described(spec, body), speeds=speeds, no_int8=no_int8)


def pass_speeds(
    spec: BackboneSpec,
    body: Body,
    cache: FeatureCache,
    images: int,
    reporter: Reporter,
    auto: str,
) -> Iterator[PassSpeed]:
    """The pass's speed in fp32, then in int8 where ``auto`` picks it: the int8 copy made (or
    found in ``cache``) as ``train`` makes it, a task of its own before the timing's."""
    from objrec.frozen import FrozenBody

    runs = [("fp32", body)]
    if auto == "int8":
        runs.append(("int8", int8_copy(spec, body, cache, reporter)))
    size = spec.data_config.input_size
    total = timed_images(images) * len(runs)
    with reporter.task(f"measuring the frozen pass of {spec.name}", total) as advance:
        for precision, run in runs:
            frozen = FrozenBody(run, size, cache, name=spec.name)
            speed = timed(frozen, precision, images, advance, auto == precision)
            yield replace(speed, fidelity=getattr(run, "fidelity", None))


def int8_copy(spec: BackboneSpec, body: Body, cache: FeatureCache, reporter: Reporter) -> Body:
    """``body``'s int8 copy on the engine ``auto`` picks, as ``train`` makes or finds it, with
    its ``fidelity`` where known."""
    from objrec.quantize import quantize_body

    data, store, name = spec.data_config, cache.store, spec.name
    # the warning of a copy that strays names train's fp32 (the CLI: objrec train ... --precision
    # fp32): backbones has no precision of its own for it to name (late62 L5c)
    fp32 = f'`train(data, out=run, backbone={name!r}, precision="fp32")`'
    return quantize_body(
        body, data, cache.root, reporter=reporter, store=store, name=name, fp32=fp32
    )


def timed(frozen: FrozenBody, precision: str, images: int, advance, auto: bool) -> PassSpeed:
    """The time per image of ``frozen``'s pass over ``images`` random images (:func:`timed_images`),
    a round of ``frozen.callers`` batches at a time in the body (``frozen.in_body``, as a pass
    runs them), after a warm-up round (a session's first run allocates its buffers): the median
    round's, which another process's burst on a shared machine moves less than the mean (whole
    runs' means of 64 images varied by 30 to 50% on 2 busy cores)."""
    import torch

    from objrec import cores
    from objrec.frozen import in_body

    batch, callers = frozen.batch_size, frozen.callers
    frozen.get_ready(batch)
    pixels = list(random_batches(frozen, callers, batch))  # made once, outside the timing
    rounds = []
    with torch.inference_mode():
        deque(in_body(frozen, pixels), maxlen=0)
        for _ in range(timed_images(images) // (batch * callers)):
            started = time.perf_counter()
            for done, _ in in_body(frozen, pixels):
                advance(len(done.indices))
            rounds.append((time.perf_counter() - started) / (batch * callers))
    ms = 1000 * statistics.median(rounds)
    engine = (frozen.backend_used or "torch").removesuffix(" int8")
    log.info("%s in %s on %s: %.1f ms an image", frozen.name, precision, engine, ms)
    return PassSpeed(precision, engine, ms, batch, cores.cpu_threads(), auto)


def timed_images(images: int) -> int:
    """The images a precision's pass is timed on: ``images`` rounded up to whole rounds of
    ``BODY_CALLERS`` batches of ``FROZEN_BATCH`` (OpenVINO compiles a graph per batch size: a
    shorter batch would time a compile)."""
    from objrec.frozen import BODY_CALLERS, FROZEN_BATCH

    whole = FROZEN_BATCH * BODY_CALLERS
    return -(-images // whole) * whole


def random_batches(frozen: FrozenBody, batches: int, batch: int) -> Iterator[Any]:
    """``batches`` batches of ``batch`` random normalised images at the body's size, as the pass's
    loader hands them to the body."""
    import torch

    from objrec.loaders import Batch

    generator = torch.Generator().manual_seed(0)
    for _ in range(batches):
        pixels = torch.randn(batch, 3, frozen.input_size, frozen.input_size, generator=generator)
        yield Batch(pixels, torch.zeros(batch, dtype=torch.long), torch.arange(batch), [])
