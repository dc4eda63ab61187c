"""Which arithmetic ``train``'s frozen body and new head run in, the one rule for both:
``precision="auto"`` settled to int8 or fp32 (the CPU's 8-bit dot products, a body int8 was
validated on, the frozen pass on the CPU), ``head_precision="auto"`` to bf16 or fp32 (the CPU's
bfloat16 matrix instructions, one process), each with why in words (:class:`Precision`), so that
the run records the one used; and what train says of them at its start. The audit reads images
with the body auto settles on too. Making the int8 body is ``quantize``'s.

Imported without PyTorch, which only settling ``auto`` needs: a run's record
(``run_record``, the model card) reads :class:`Precision` without it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from objrec.backbones import BackboneSpec, get_backbone, network_words
from objrec.config import TrainConfig, precision_words
from objrec.errors import ObjrecError

if TYPE_CHECKING:
    import torch

    from objrec.distributed import World

INT8_DOT_PRODUCT = ("avx512_vnni", "avx_vnni", "asimddp")
"""CPU flags (``/proc/cpuinfo``) of 8-bit dot-product instructions: AVX-512 VNNI, AVX-VNNI, ARM's
dot product. Without them ONNX Runtime's int8 convolutions lose most of their speed."""

BF16_MATRIX_FLAGS = ("amx_bf16", "avx512_bf16")
"""The CPU flags (``/proc/cpuinfo``) of bfloat16 matrix instructions with which PyTorch (oneDNN)
multiplies bfloat16 matrices faster than float32 ones, most capable first: AMX's bfloat16 tiles
(Intel Xeon since Sapphire Rapids; a 3095 x 3840 by 3840 x 256 product took 2.4 ms in bfloat16
against 18.3 ms in float32 on 2 cores) and AVX-512 BF16's dot products (AMD since Zen 4; the same
product took 34.8 ms against 70.6 ms on 2 cores of an AMD EPYC; benchmarks/README.md)."""


@dataclass(frozen=True)
class Settled:
    """One arithmetic a run uses (``used``: ``int8``, ``fp32`` or ``bf16``) and ``why``, in words:
    what ``auto`` found, or that it was asked for."""

    used: str
    why: str


@dataclass(frozen=True, kw_only=True)
class Precision:
    """What a run's frozen body runs in and its new head trains in, and why: settled as the run
    opens (:func:`settle_precision`, :func:`settle_head_precision`), said at its start
    (:func:`precision_notes`), written in its ``summary.json`` (:meth:`to_json`)."""

    body: Settled
    """The frozen body's: ``int8`` or ``fp32``."""
    head: Settled
    """The new head's while it trains: ``bf16`` or ``fp32`` (its weights are kept in fp32)."""
    engine: str | None = None
    """What runs an int8 body: ``openvino`` or ``onnxruntime``; None for an fp32 body."""

    @classmethod
    def configured(cls, config: TrainConfig) -> Precision:
        """``config``'s precisions, no reason given: for a run record made without settling
        them (no run that ``train`` writes)."""
        return cls(body=Settled(config.precision, ""), head=Settled(config.head_precision, ""))

    def to_json(self) -> dict[str, str]:
        """As ``summary.json`` holds it (docs/json.md): ``used`` and ``why`` (the body's),
        ``engine`` for an int8 body, ``head`` and ``head_why``."""
        engine = {} if self.engine is None else {"engine": self.engine}
        body = {"used": self.body.used, "why": self.body.why}
        return body | engine | {"head": self.head.used, "head_why": self.head.why}

    @classmethod
    def from_json(cls, data: Any) -> Precision | None:
        """The precision a ``summary.json`` holds (:meth:`to_json`; ``runs.load_run``); None
        where it holds none."""
        if not isinstance(data, Mapping) or not data:
            return None
        body = Settled(str(data.get("used", "")), str(data.get("why", "")))
        head = Settled(str(data.get("head", "")), str(data.get("head_why", "")))
        return cls(body=body, head=head, engine=data.get("engine"))


def bf16_matrix_unit(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The first of :data:`BF16_MATRIX_FLAGS` this CPU has, or None: also where ``cpuinfo``
    cannot be read (not Linux) or PyTorch was built without oneDNN."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return None
    flags = cpu_flags(cpuinfo)
    return next((flag for flag in BF16_MATRIX_FLAGS if flag in flags), None)


def int8_dot_product(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """This CPU's 8-bit dot-product instruction set (a name of ``INT8_DOT_PRODUCT``), or None,
    also where ``cpuinfo`` cannot be read (not Linux)."""
    flags = cpu_flags(cpuinfo)
    return next((flag for flag in INT8_DOT_PRODUCT if flag in flags), None)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The words of ``cpuinfo``, among them each flag of the CPU (``avx512_vnni``); none where it
    cannot be read (not Linux)."""
    try:
        return set(Path(cpuinfo).read_text().split())
    except OSError:
        return set()


def auto_precision(
    spec: BackboneSpec, device: torch.device, weights: str | None = None, finetune_blocks: int = 0
) -> tuple[str, str]:
    """What ``precision="auto"`` runs the body in, ``int8`` or ``fp32``, and why, in words. The
    body's ``weights`` from a file other than its registry's own take fp32: int8 was validated on
    those alone, and the int8 copy's activation ranges are measured on the built-in sample's
    photos, which may not be what a fine-tuned or domain-specific body sees. With
    ``finetune_blocks`` fp32 (:data:`FINETUNE_FP32`): fine-tuning's pass to the cut makes the fp32
    body's features too (``finetune.FromTheCut``), where an int8 body ran its own pass over every
    view besides, and was made first on a cache folder's first run (10 Caltech classes, a new
    cache folder each run: 76 and 96 s in int8 against 67 and 54 s in fp32, at the same validation
    accuracy)."""
    from objrec.runtime import onnxruntime_available

    flag = int8_dot_product()
    fp32_because = (
        (device.type != "cpu", f"the frozen pass runs on {device.type}, int8 on the CPU only"),
        (not spec.int8, f"int8 was not validated on {spec.name}"),
        (
            not own_weights(spec, weights),
            f"int8 was validated on {spec.name}'s own weights, not on the weights file {weights}",
        ),
        (not onnxruntime_available(), "onnxruntime is not installed"),
        (flag is None, "this CPU has no 8-bit dot-product instructions (VNNI, ARM dot product)"),
        (finetune_blocks > 0, FINETUNE_FP32),
    )
    for applies, why in fp32_because:
        if applies:
            return "fp32", why
    return "int8", f"this CPU has 8-bit dot-product instructions ({flag})"


FINETUNE_FP32 = (
    "fine-tuning's pass to the cut computes the body's features in fp32 as it goes, where int8 "
    "would pass every image through the body again"
)
"""Why ``auto`` runs a fine-tuned run's body in fp32 (:func:`auto_precision`)."""


def own_weights(spec: BackboneSpec, weights: str | None) -> bool:
    """Whether ``weights`` (a file, None: the body's pretrained ones) are ``spec``'s own: none
    given, or the very file its registry reads them from (``BackboneSpec.weights_files``)."""
    if weights is None:
        return True
    own = {path.resolve() for path in spec.weights_files()}
    return Path(weights).expanduser().resolve() in own


def without_flags(why: str) -> str:
    """``why`` without its closing parenthesis where it names only CPU flags
    (:data:`INT8_DOT_PRODUCT`, :data:`BF16_MATRIX_FLAGS`: ``(avx512_vnni)``): the line a person
    reads says "8-bit dot-product instructions" in words, ``summary.json``'s ``why`` keeps the
    flags for whoever compares machines (newcomer63b)."""
    start = why.rfind(" (")
    named = why[start + 2 : -1].split(", ")
    flags = set(INT8_DOT_PRODUCT) | set(BF16_MATRIX_FLAGS)
    if start < 0 or not why.endswith(")") or not set(named) <= flags:
        return why
    return why[:start]


def precision_notes(precision: Precision, backbone: str = "") -> list[str]:
    """What train says at start of the arithmetic body (of ``backbone``: one network or several,
    :func:`backbones.network_words`) and head run in, and why, the CPU's flags left out
    (:func:`without_flags`; what an int8 body in OpenVINO means for its export is logged:
    ``train.EXPORT_IN_OPENVINO``)."""
    body, head = precision.body, precision.head
    on = f" on {precision.engine}" if precision.engine is not None else ""
    used, trains = precision_words(body.used), precision_words(head.used)
    network = network_words(backbone)
    kept = "kept as it is, runs" if "+" not in backbone else "kept as they are, run"
    # bf16 is the head's arithmetic while it learns, never what it keeps: said, or a user who
    # asks for --precision fp32 reads "the head trains in bf16" and wonders whether fp32 took
    kept_as = "; its weights are kept in fp32" if head.used == "bf16" else ""
    return [
        f"{network}, {kept} in {used}{on}, {without_flags(body.why)}",
        f"the new head trains in {trains}, {without_flags(head.why)}{kept_as}",
    ]


def settle_precision(
    config: TrainConfig, world: World, why: str | None = None
) -> tuple[TrainConfig, Settled]:
    """``config`` with ``precision="auto"`` settled to ``int8`` or ``fp32`` for this machine and
    body (:func:`auto_precision`), so the run records the one used; and which, and why
    (``why`` for a precision set in ``config``; default: "asked for", as the head's, in words
    for a Python caller and the CLI alike)."""
    if config.precision != "auto":
        return config, Settled(config.precision, why or "asked for")
    spec = get_backbone(config.backbone)
    used, why = auto_precision(spec, world.device, config.weights, config.finetune_blocks)
    return replace(config, precision=used), Settled(used, f"auto: {why}")


def settle_head_precision(
    config: TrainConfig, world: World, resumed: bool = False
) -> tuple[TrainConfig, Settled]:
    """``config`` with ``head_precision="auto"`` settled to ``bf16`` or ``fp32``
    (:func:`auto_head_precision`), so the run records the one used; and which, and why. bf16 is
    refused under torchrun, whose DistributedDataParallel head trains in fp32, but for a
    ``resumed`` run that trained in bf16 so far (its settings cannot be changed): it goes on in
    fp32, saying so."""
    if config.head_precision == "bf16" and world.distributed:
        if not resumed:
            raise ObjrecError('`head_precision="bf16"` does not run under torchrun yet: use fp32')
        why = "the run trained in bf16 so far; under torchrun the head trains in fp32"
        return replace(config, head_precision="fp32"), Settled("fp32", why)
    if resumed:
        return config, Settled(config.head_precision, "the resumed run's own")
    if config.head_precision != "auto":
        return config, Settled(config.head_precision, "asked for")
    used, why = auto_head_precision(world)
    return replace(config, head_precision=used), Settled(used, f"auto: {why}")


def auto_head_precision(world: World) -> tuple[str, str]:
    """What ``head_precision="auto"`` trains the head in, ``bf16`` or ``fp32``, and why, in words:
    bf16 only where it was measured to pay: a CPU with bfloat16 matrix instructions (AMX's tiles,
    AVX-512 BF16) and one process."""
    if world.device.type != "cpu":
        return "fp32", f"the head trains on {world.device.type}"
    if world.distributed:
        return "fp32", "under torchrun the head trains in fp32"
    flag = bf16_matrix_unit()
    if flag is None:
        flags = ", ".join(BF16_MATRIX_FLAGS)
        return "fp32", f"this CPU has no bfloat16 matrix instructions ({flags})"
    return "bf16", f"this CPU has bfloat16 matrix instructions ({flag})"
