import importlib.util
import re
import shutil
import sys
import types
import urllib.error
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from objrec.backbones import BadBackbone, build_body, get_backbone, list_backbones
from objrec.bodies import TinyBody, build_timm
from objrec.config import DEFAULT_BACKBONE
from objrec.errors import ObjrecError
from objrec.transforms import build_transforms

from .conftest import MOBILENET, drawn_weights, make_image


@pytest.mark.slow
@pytest.mark.parametrize("spec", list_backbones(include_tests=True), ids=lambda s: s.name)
def test_every_registered_offline_backbone_builds_with_its_declared_features(spec):
    if not spec.offline():
        pytest.skip(f"{spec.name}: weights not installed")
    body = build_body(spec).eval()
    image = make_image((120, 60, 30), size=(300, 200))
    x = build_transforms(spec.data_config)(image)[None]
    assert x.shape[-1] == spec.data_config.input_size
    with torch.inference_mode():
        assert body(x).shape == (1, body.n_features)


@pytest.mark.slow
def test_lite0_is_pretrained_not_random():
    a, b = (
        build_body(get_backbone("efficientnet_lite0")),
        build_body(get_backbone("efficientnet_lite0"), pretrained=False),
    )
    name = "net._conv_stem.weight"
    assert not torch.equal(a.state_dict()[name], b.state_dict()[name])
    assert a.n_features == 1280


@pytest.mark.slow
def test_a_lite_body_takes_its_weights_file_tensors_without_drawing_or_copying_weights(
    monkeypatch,
):
    """A Lite body is built on the meta device and takes the tensors its weights file loaded as
    its own: no weight is drawn at random for the file's to replace, none copied (a warm
    retrain's three bodies cost 0.4 to 0.7 s of CPU that way on a busy machine). The same body,
    fingerprint for fingerprint and output for output, as one built and then loaded. A tensor
    the file holds as a strided view (its convolutions' weights, in TensorFlow's order) is made
    contiguous once: each fingerprint of the body copied those 46 MB again to hash them."""
    from objrec import bodies
    from objrec.bodies import LiteBody, fingerprint_module, load_into, load_state_file

    spec = get_backbone("efficientnet_lite0")
    if not spec.offline():
        pytest.skip("efficientnet_lite0's weights are not installed")
    loaded: dict[str, torch.Tensor] = {}

    def recorded(path: Path) -> dict[str, torch.Tensor]:
        loaded.update(load_state_file(path))
        return loaded

    monkeypatch.setattr(bodies, "load_state_file", recorded)
    drawn = drawn_weights(monkeypatch)  # per random draw: on the meta device (no memory)
    body = build_body(spec)
    monkeypatch.undo()
    assert drawn and all(drawn)
    assert any(not tensor.is_contiguous() for tensor in loaded.values())
    for name, tensor in body.net.state_dict().items():
        assert tensor.is_contiguous(), name
        if loaded[name].is_contiguous():
            assert tensor.data_ptr() == loaded[name].data_ptr(), name

    from efficientnet_lite_pytorch import EfficientNet

    before = LiteBody(EfficientNet.from_name("efficientnet-lite0"))  # as it was built
    load_into(before.net, {k: v for k, v in loaded.items() if not k.startswith("_fc.")}, "file")
    assert fingerprint_module(body) == fingerprint_module(before)
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(body.eval()(x), before.eval()(x))


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_lite_body_s_own_state_dict_is_taken_as_its_weights(tmp_path, suffix):
    """``model.body.state_dict()`` of a Lite body (a fine-tuned run's blocks, kept) has every key
    under ``net.``, and ``--weights`` refused it: "it lacks 245 of the model's keys (e.g.
    '_blocks.0._bn1.bias')"."""
    from safetensors.torch import save_file

    from objrec.bodies import fingerprint_module

    spec = get_backbone("efficientnet_lite0")
    if not spec.offline():
        pytest.skip("efficientnet_lite0's weights are not installed")
    source = build_body(spec)
    with torch.no_grad():
        source.net._conv_head.weight.mul_(1.01)  # not the registry's own weights
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    assert all(k.startswith("net.") for k in state)
    path = tmp_path / f"body{suffix}"
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    assert fingerprint_module(build_body(spec, weights=path)) == fingerprint_module(source)


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(ObjrecError, match="unknown backbone 'resnet9000'"):
        get_backbone("resnet9000")
    with pytest.raises(ObjrecError, match=r"'efficientnet-lite0' \(is it efficientnet_lite0\?\)"):
        get_backbone("efficientnet-lite0")
    with pytest.raises(ObjrecError, match=r"'resnet5' \(is it resnet50\?\)"):  # torchvision's
        get_backbone("resnet5")  # it had no hint (review52b L7)


def test_a_mean_or_std_unlike_the_weights_own_is_named_beside_theirs():
    """`train --backbone mobilenet_v2 --mean 0.5 0.5 0.5` (docs/backbones.md's values for another
    file's weights) with torchvision's own weights said nothing, though those were trained on
    ImageNet's mean. One sentence names both; none where objrec cannot know the weights' own:
    a file of the user's (the docs' MobileNetV2 converted from TensorFlow, trained on [-1, 1])."""
    from objrec.backbones import normalisation_warning

    mobilenet, half = get_backbone("mobilenet_v2"), (0.5, 0.5, 0.5)
    assert normalisation_warning(mobilenet, None, half) == (
        "`mean` 0.5 0.5 0.5 differs from the normalisation the pretrained weights of mobilenet_v2 "
        "were trained with (mean 0.485 0.456 0.406), so the network reads your images unlike the "
        "images it learnt from, which usually costs accuracy (leave out `mean` to use theirs)"
    )
    both = normalisation_warning(mobilenet, "hub/mobilenet_v2-7ebf99e0.pth", half, half)
    assert both.startswith("`mean` 0.5 0.5 0.5 and `std` 0.5 0.5 0.5 differ from the")
    assert "(mean 0.485 0.456 0.406, std 0.229 0.224 0.225)" in both  # torchvision's own file
    assert normalisation_warning(mobilenet, "path/to/mobilenet_v2_weights.pth", half, half) == ""
    assert (
        normalisation_warning(mobilenet, None, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) == ""
    )
    assert normalisation_warning(mobilenet, None) == ""
    lite = normalisation_warning(get_backbone(DEFAULT_BACKBONE), None, None, (0.229, 0.224, 0.225))
    assert lite.startswith("`std` 0.229 0.224 0.225 differs") and "(std 0.5 0.5 0.5)" in lite
    assert normalisation_warning(get_backbone("alexnet"), None, half) != ""
    untrained = replace(get_backbone("tiny_test"), declares_normalisation=False)
    assert normalisation_warning(untrained, None, half) == ""


def test_torchvision_data_config_comes_from_its_weights():
    spec = get_backbone("resnet18")
    assert spec.data_config.input_size == 224 and spec.data_config.resize_size == 256
    assert spec.source == "torchvision"


@pytest.mark.slow
@pytest.mark.skipif(
    not MOBILENET.exists(), reason=f"needs {MOBILENET} (OBJREC_TEST_SHARED names its folder)"
)
def test_torchvision_backbone_from_a_local_weights_file():
    body = build_body(get_backbone("mobilenet_v2"), weights=MOBILENET)
    assert body.n_features == 1280
    with torch.inference_mode():
        assert body.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1280)


@pytest.mark.slow
@pytest.mark.skipif(
    not MOBILENET.exists(), reason=f"needs {MOBILENET} (OBJREC_TEST_SHARED names its folder)"
)
def test_torchvision_backbone_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    spec = get_backbone("mobilenet_v2")
    assert not spec.offline()
    from torchvision.models import MobileNet_V2_Weights

    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(
        MOBILENET,
        tmp_path / "hub" / "checkpoints" / MobileNet_V2_Weights.DEFAULT.url.rsplit("/", 1)[1],
    )
    assert spec.offline()
    assert build_body(spec).n_features == 1280


@pytest.mark.slow
def test_missing_torchvision_weights_are_a_clear_error_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ObjrecError, match=r"not in the torch hub cache.*`weights`"):
        build_body(get_backbone("mobilenet_v2"))


@pytest.mark.slow
def test_weights_of_the_wrong_architecture_are_a_clear_error(tmp_path):
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "w.pt")
    with pytest.raises(ObjrecError, match="does not fit"):
        build_body(get_backbone("mobilenet_v2"), weights=tmp_path / "w.pt")


def test_an_ensemble_concatenates_its_bodies_features():
    spec = get_backbone("tiny_test+tiny_test")
    part = get_backbone("tiny_test")
    assert spec.data_config == part.data_config and spec.source == "ensemble"
    torch.manual_seed(0)
    body = build_body(spec).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        features = body(x)
        alone = [p(x) for p in body.parts]
    assert features.shape == (2, 2 * part.builder(False, None).n_features) == (2, body.n_features)
    assert torch.equal(features, torch.cat(alone, 1))


@pytest.mark.slow
def test_an_ensemble_takes_the_widest_input_of_its_parts_and_the_default_its_chosen_size():
    spec = get_backbone("efficientnet_lite0+efficientnet_lite2")
    assert spec.data_config == get_backbone("efficientnet_lite2").data_config
    default = get_backbone(DEFAULT_BACKBONE)
    assert default in list_backbones() and len(default.builder(False, None).parts) == 3
    assert default.data_config.input_size == default.data_config.resize_size == 240


def test_an_ensemble_of_differently_normalised_bodies_takes_the_one_given_for_all():
    """bb60: bodies normalised apart were refused whatever mean and std were given, though their
    ensemble reads one image, normalised once, as one body does: it takes the pair given for
    all of them, and is refused without it, naming each body's and what to give."""
    from objrec.backbones import resolve_data_config

    spec = get_backbone("efficientnet_lite0+resnet18")
    assert spec.normalised_apart == ("mean", "std") and not spec.declares_normalisation
    data = resolve_data_config(spec, (0.5,) * 3, (0.25,) * 3)
    assert (data.mean, data.std, data.input_size) == ((0.5,) * 3, (0.25,) * 3, 224)
    with pytest.raises(BadBackbone, match=r"\(efficientnet_lite0: mean 0.5 0.5 0.5, std 0.5 "):
        resolve_data_config(spec)
    with pytest.raises(BadBackbone, match=r"normalised once: give `std` for all of them \("):
        resolve_data_config(spec, mean=(0.5,) * 3)
    assert get_backbone("tiny_test+tiny_test").normalised_apart == ()
    with pytest.raises(ObjrecError, match="unknown backbone 'nope'"):
        get_backbone("efficientnet_lite0+nope")
    with pytest.raises(ObjrecError, match="two or more names"):
        get_backbone("efficientnet_lite0+")


def test_an_ensemble_normalised_apart_warns_of_each_body_the_pair_given_misleads():
    """late61 L1: given the one --mean/--std it needs, an ensemble normalised apart said nothing
    (its spec declares no normalisation of its own), though some of its bodies then read images
    unlike those they learnt from: each such body is named, with its own."""
    from objrec.backbones import normalisation_warning

    spec = get_backbone("efficientnet_lite0+resnet18")
    said = normalisation_warning(spec, None, (0.5,) * 3, (0.5,) * 3)
    assert said.startswith("`mean` 0.5 0.5 0.5 and `std` 0.5 0.5 0.5 given for every body of ")
    assert "pretrained weights of resnet18 (mean 0.485 0.456 0.406, std 0.229" in said
    assert "efficientnet_lite0 (" not in said
    resnet = normalisation_warning(spec, None, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert "weights of efficientnet_lite0 (mean 0.5 0.5 0.5, std 0.5 0.5 0.5)" in resnet


def test_weights_file_for_an_ensemble_is_a_clear_error(tmp_path):
    (tmp_path / "w.pt").write_bytes(b"")
    with pytest.raises(ObjrecError, match="not an ensemble"):
        build_body(get_backbone("tiny_test+tiny_test"), weights=tmp_path / "w.pt")


@pytest.mark.slow
def test_a_wrapped_body_keeps_its_models_own_state_dict_keys():
    from torchvision.models import get_model

    from objrec.bodies import WrappedBody
    from objrec.model import Classifier, build_head

    body = build_body(get_backbone("mobilenet_v2"), pretrained=False)
    assert isinstance(body, WrappedBody) and body.n_features == 1280
    plain = get_model("mobilenet_v2", weights=None)
    expected = {k for k in plain.state_dict() if not k.startswith("classifier.1.")}
    assert set(body.state_dict()) == expected
    model = Classifier(body, build_head(1280, 3))
    state = model.state_dict()
    assert "body.features.0.0.weight" in state  # as before bodies were wrapped
    again = Classifier(
        build_body(get_backbone("mobilenet_v2"), pretrained=False), build_head(1280, 3)
    )
    again.load_state_dict(state, strict=True)
    assert all(
        torch.equal(a, b) for a, b in zip(state.values(), again.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("wrap", ["module.", "_orig_mod.", "module._orig_mod."])
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_weights_saved_from_inside_ddp_or_torch_compile_load(tmp_path, wrap, suffix):
    from safetensors.torch import save_file

    from objrec.bodies import TinyBody

    source = TinyBody()
    with torch.no_grad():
        source.features[0].weight.add_(1.0)
    state = {wrap + k: v.contiguous() for k, v in source.state_dict().items()}
    path = tmp_path / f"w{suffix}"
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    body = build_body(get_backbone("tiny_test"), weights=path)
    assert all(
        torch.equal(a, b) for a, b in zip(body.state_dict().values(), state.values(), strict=True)
    )


def test_a_training_scripts_checkpoint_around_the_weights_loads(tmp_path):
    from objrec.bodies import TinyBody

    state = TinyBody().state_dict()
    torch.save({"model": state, "epoch": 3, "lr": 0.1}, tmp_path / "w.pt")
    body = build_body(get_backbone("tiny_test"), weights=tmp_path / "w.pt")
    assert all(
        torch.equal(a, b) for a, b in zip(body.state_dict().values(), state.values(), strict=True)
    )


def test_weights_whose_keys_differ_are_named_in_one_short_sentence(tmp_path):
    from objrec.bodies import TinyBody

    state = {"backbone." + k: v for k, v in TinyBody().state_dict().items()}
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(ObjrecError) as caught:
        build_body(get_backbone("tiny_test"), weights=tmp_path / "w.pt")
    assert str(caught.value) == (
        f"{tmp_path / 'w.pt'} does not fit the architecture: it lacks 12 of the model's keys "
        "(e.g. 'features.0.bias') and it has 14 keys the model lacks (e.g. "
        "'backbone.features.0.bias')"
    )


def torchvision_pretrained(name, **arguments):
    """torchvision's ``name`` as its builder makes it for its weights, random weights in it."""
    from torchvision.models import get_model

    torch.manual_seed(0)
    return get_model(name, weights=None, **arguments).eval()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_googlenet_and_inception_turn_their_input_as_their_weights_expect(name, monkeypatch):
    from objrec import bodies

    size = get_backbone(name).data_config.input_size
    reference = torchvision_pretrained(
        name, transform_input=True, aux_logits=True, init_weights=False
    )
    monkeypatch.setattr(bodies, "_download_torchvision_weights", lambda n: reference.state_dict())
    body = build_body(get_backbone(name)).eval()
    reference.fc = torch.nn.Identity()
    x = torch.randn(1, 3, size, size)
    with torch.inference_mode():
        assert torch.allclose(body(x), reference(x), rtol=1e-4, atol=0)
    rebuilt = build_body(get_backbone(name), pretrained=False)  # as a checkpoint is loaded
    assert rebuilt.model.transform_input and "transform_input=True" in repr(rebuilt)


@pytest.mark.slow
def test_a_weights_file_whose_classifier_has_other_classes_loads_its_body(tmp_path):
    from torchvision.models import get_model

    tuned = get_model("mobilenet_v2", weights=None, num_classes=10)
    torch.save(tuned.state_dict(), tmp_path / "ten.pt")
    body = build_body(get_backbone("mobilenet_v2"), weights=tmp_path / "ten.pt")
    tuned.classifier[1] = torch.nn.Identity()
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(body.eval()(x), tuned.eval()(x))


@pytest.mark.slow
def test_densenet_loads_torchvisions_weight_file_with_its_old_key_names(tmp_path):
    from torchvision.models.densenet import DenseNet121_Weights  # noqa: F401 (weights exist)

    reference = torchvision_pretrained("densenet121")
    new_name = re.compile(r"(denselayer\d+\.(?:norm|conv))([12]\.(?:weight|bias|running_))")
    old = {  # as in the file: norm.1 for norm1, and no num_batches_tracked (older than those)
        new_name.sub(r"\1.\2", k): v
        for k, v in reference.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    torch.save(old, tmp_path / "densenet121-a639ec97.pth")
    body = build_body(get_backbone("densenet121"), weights=tmp_path / "densenet121-a639ec97.pth")
    reference.classifier = torch.nn.Identity()
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(body.eval()(x), reference(x))


def test_a_vit_is_built_at_the_size_of_its_weights():
    from objrec.bodies import _pretrained_arguments

    assert _pretrained_arguments("vit_h_14") == {"image_size": 518}
    assert get_backbone("vit_h_14").data_config.input_size == 518
    assert _pretrained_arguments("vit_b_16") == {"image_size": 224}


def test_weights_without_batchnorms_num_batches_tracked_load(tmp_path):
    from objrec.bodies import TinyBody

    state = {k: v for k, v in TinyBody().state_dict().items() if "num_batches" not in k}
    torch.save(state, tmp_path / "w.pt")
    assert build_body(get_backbone("tiny_test"), weights=tmp_path / "w.pt").n_features == 16


def test_a_vit_cannot_join_an_ensemble_at_another_size():
    with pytest.raises(ObjrecError, match=r"vit_b_16 takes 224 px images only .* at 300 px"):
        get_backbone("vit_b_16+efficientnet_b3")
    with pytest.raises(ObjrecError, match=r"maxvit_t takes 224 px images only .* at 256 px"):
        get_backbone("swin_v2_t+maxvit_t")
    assert get_backbone("vit_b_16+resnet50").data_config.input_size == 224


@pytest.mark.slow
def test_a_googlenet_run_saved_before_the_input_transform_keeps_its_body(monkeypatch):
    """GoogLeNet and Inception v3 are built with torchvision's input transform now; a run
    trained before, on the body without it, loaded with it and answered otherwise. Its body's
    fingerprint, as objrec then made it (no transform, a repr that does not show it), tells."""
    from objrec.backbones import build_body, get_backbone
    from objrec.bodies import WrappedBody, fingerprint_module, restore_input_transform

    def body():
        return build_body(get_backbone("googlenet"), pretrained=False).eval()

    torch.manual_seed(0)
    old_body = body()
    with monkeypatch.context() as m:  # the body and its fingerprint as objrec made them before
        m.setattr(WrappedBody, "extra_repr", lambda self: "")
        old_body.model.transform_input = False
        old = fingerprint_module(old_body)
    now = body()
    now.load_state_dict(old_body.state_dict())
    assert now.model.transform_input and not restore_input_transform(now, fingerprint_module(now))
    assert now.model.transform_input and not restore_input_transform(now, "another body's")
    assert restore_input_transform(now, old) and not now.model.transform_input
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(now(x), old_body(x))


def fake_timm_and_hub(monkeypatch, cached: bool, network: bool, offline: bool = False):
    """Stand-ins for timm and huggingface_hub (neither need be installed): weights in the Hugging
    Face cache or not, and a network or none (where the real hub retries for ~53 s). Returns the
    calls made: ("create", pretrained, offline mode on) and ("probe", url)."""
    calls: list[tuple] = []
    constants = types.SimpleNamespace(HF_HUB_OFFLINE=offline, HF_HUB_CACHE="/hf-cache")

    class HfHubHTTPError(Exception):
        pass

    def get_hf_file_metadata(url):
        calls.append(("probe", url))
        raise HfHubHTTPError("404") if network else ConnectionError("Name or service not known")

    def create_model(name, pretrained, num_classes):
        calls.append(("create", pretrained, constants.HF_HUB_OFFLINE))
        if pretrained and not cached and (constants.HF_HUB_OFFLINE or not network):
            raise FileNotFoundError("cannot find the requested files in the local cache")
        model = torch.nn.Linear(4, 8)  # as timm's MobileNetV3: num_features is forward_features'
        model.num_features, model.head_hidden_size = 4, 8  # width, its output head_hidden_size's
        return model

    hub = types.ModuleType("huggingface_hub")
    hub.constants, hub.get_hf_file_metadata = constants, get_hf_file_metadata
    hub.hf_hub_url = lambda repo, filename: f"https://hub/{repo}/{filename}"
    utils = types.ModuleType("huggingface_hub.utils")
    utils.HfHubHTTPError = HfHubHTTPError
    timm = types.ModuleType("timm")
    timm.create_model = create_model
    timm.models = types.SimpleNamespace(
        get_pretrained_cfg=lambda name: types.SimpleNamespace(hf_hub_id=f"timm/{name}.a1")
    )
    for name, module in [
        ("timm", timm),
        ("huggingface_hub", hub),
        ("huggingface_hub.utils", utils),
    ]:
        monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_a_timm_body_declares_the_width_it_outputs_not_num_features(monkeypatch):
    """review61b H1: objrec took timm's ``num_features`` as the body's feature size, which is
    ``forward_features``' width; a model built with ``num_classes=0`` outputs its pooled
    pre-logits, ``head_hidden_size`` wide (1280 against 960 for MobileNetV4), so the store's space
    and the head were made for the wrong width and train died in the frozen pass."""
    fake_timm_registry(monkeypatch)
    body = build_timm("mobilenetv4_conv_small", False, None)
    assert body.n_features == body(torch.zeros(2, 3, 32, 32)).shape[1] == 16
    del body.model.head_hidden_size  # a timm release before head_hidden_size
    from objrec.bodies import timm_output_width

    assert timm_output_width(body.model) == 8


def test_timm_weights_in_the_hugging_face_cache_load_with_no_request(monkeypatch):
    calls = fake_timm_and_hub(monkeypatch, cached=True, network=False)
    assert build_timm("resnet18", True, None).n_features == 8
    assert calls == [("create", True, True)]  # offline mode on: no request, no retries
    assert sys.modules["huggingface_hub"].constants.HF_HUB_OFFLINE is False  # set back


@pytest.mark.parametrize("offline", [False, True], ids=["no network", "HF_HUB_OFFLINE"])
def test_timm_weights_neither_cached_nor_reachable_are_a_clear_error_at_once(monkeypatch, offline):
    calls = fake_timm_and_hub(monkeypatch, cached=False, network=False, offline=offline)
    why = "HF_HUB_OFFLINE is set" if offline else r"huggingface.co cannot be reached \(Connection"
    with pytest.raises(
        ObjrecError, match=rf"not in the Hugging Face cache \(/hf-cache\) and {why}"
    ):
        build_timm("resnet18", True, None)
    assert ("create", True, False) not in calls  # no download tried (its retries took ~53 s)
    assert [c[0] for c in calls].count("probe") == (0 if offline else 1)


def test_timm_weights_not_cached_are_downloaded_when_the_hub_answers(monkeypatch):
    calls = fake_timm_and_hub(monkeypatch, cached=False, network=True)
    assert build_timm("resnet18", True, None).n_features == 8
    assert calls == [
        ("create", True, True),
        ("probe", "https://hub/timm/resnet18.a1/config.json"),
        ("create", True, False),
    ]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="needs objrec[timm]")
def test_a_real_timm_body_loads_from_the_hugging_face_cache_offline(tmp_path, monkeypatch):
    """timm and huggingface_hub themselves: weights in a cache laid out as the hub lays it out
    (refs/main naming a snapshot) load with offline mode on, whatever the network."""
    import huggingface_hub.constants
    import safetensors.torch
    import timm

    name = "test_resnet.r160_in1k"
    weights = timm.create_model(name, pretrained=False).state_dict()
    repo = tmp_path / f"models--{timm.models.get_pretrained_cfg(name).hf_hub_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    safetensors.torch.save_file(weights, repo / "snapshots" / ("0" * 40) / "model.safetensors")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    body = build_timm(name, True, None)
    first = next(iter(weights))  # a fresh model's would differ (random)
    assert torch.equal(body.model.state_dict()[first], weights[first])


TIMM_CFG = {"input_size": (3, 32, 32), "crop_pct": 0.875, "mean": (0.5,) * 3, "std": (0.5,) * 3}


def fake_timm_registry(monkeypatch) -> list[str]:
    """A stand-in for timm (it need not be installed) with a registry: every name is a model, its
    pretrained config :data:`TIMM_CFG`, which ``timm.data`` reads as timm does, given it or the
    model it is attached to; a model is the tiny test body. Returns the names built."""
    import importlib.machinery

    from objrec.bodies import TinyBody

    built: list[str] = []

    def create_model(name, pretrained=False, num_classes=1000, pretrained_cfg_overlay=None):
        built.append(name)
        model = TinyBody().features
        model.pretrained_cfg = dict(TIMM_CFG)
        # as timm's MobileNetV3, GhostNet, VGG: num_features is the width of forward_features
        # (before a hidden head layer), the output's is head_hidden_size (review61b H1)
        model.num_features, model.head_hidden_size = 8, 16
        return model

    timm = types.ModuleType("timm")
    timm.__spec__ = importlib.machinery.ModuleSpec("timm", None)
    timm.is_model, timm.create_model = (lambda name: True), create_model
    timm.models = types.ModuleType("timm.models")
    timm.models.get_pretrained_cfg = lambda name: types.SimpleNamespace(to_dict=lambda: TIMM_CFG)
    timm.data = types.ModuleType("timm.data")
    timm.data.resolve_data_config = lambda args, pretrained_cfg=None, model=None: {
        "interpolation": "bicubic", **(pretrained_cfg or model.pretrained_cfg)
    }  # fmt: skip
    for module in (timm, timm.models, timm.data):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return built


def test_a_timm_body_s_weights_file_must_fit_it_but_for_its_classifier(monkeypatch, tmp_path):
    """``timm:NAME --weights FILE`` trained on a body of random weights when FILE was another
    network's (timm loads a file leniently once it drops the classifier; a log line said so, and
    a file that fitted partly loaded partly, unsaid): read strictly now, as any body's file,
    the classifier's keys aside (``classifier`` in timm's pretrained config)."""
    fake_timm_registry(monkeypatch)
    monkeypatch.setitem(TIMM_CFG, "classifier", "fc")
    own = {k: v + 1 for k, v in TinyBody().features.state_dict().items()}
    cases = {
        "fits": {**own, "fc.weight": torch.ones(10, 16), "fc.bias": torch.ones(10)},
        "another network": {"conv.weight": torch.ones(8, 3, 3, 3)},
        "partly": {k: v for k, v in own.items() if k != "4.running_var"},
        "more": {**own, "head.proj.weight": torch.ones(2, 2)},
    }
    for case, state in cases.items():
        torch.save(state, tmp_path / f"{case}.pt")
    body = build_timm("tiny", False, tmp_path / "fits.pt")
    assert all(torch.equal(body.model.state_dict()[k], v) for k, v in own.items())
    for case, why in [
        ("another network", "it lacks 12 of the model's keys (e.g. '0.bias') and it has 1 keys"),
        ("partly", "it lacks 1 of the model's keys (e.g. '4.running_var')"),
        ("more", "it has 1 keys the model lacks (e.g. 'head.proj.weight')"),
    ]:
        path = tmp_path / f"{case}.pt"
        with pytest.raises(ObjrecError) as refused:
            build_timm("tiny", True, path)
        assert str(refused.value).startswith(f"{path} does not fit the architecture: {why}")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="needs objrec[timm]")
def test_a_real_timm_body_refuses_a_weights_file_of_another_network(tmp_path):
    """timm itself: its own model's file loads (a classifier of other classes aside), a file of
    torchvision's MobileNetV2 into timm's is refused, where it gave random weights."""
    import timm
    from torchvision.models import mobilenet_v2

    name = "test_resnet.r160_in1k"
    weights = timm.create_model(name, pretrained=False, num_classes=7).state_dict()
    torch.save(weights, tmp_path / "own.pt")
    torch.save(mobilenet_v2().state_dict(), tmp_path / "other.pt")
    body = build_timm(name, True, tmp_path / "own.pt")
    assert all(torch.equal(v, weights[k]) for k, v in body.model.state_dict().items())
    with pytest.raises(ObjrecError, match=r"other\.pt does not fit the architecture: it lacks"):
        build_timm(name, True, tmp_path / "other.pt")


def test_a_timm_backbone_s_data_config_comes_from_timm_s_registry_without_a_build(monkeypatch):
    """The spec of timm:NAME built the model for its data config (seconds and memory for a large
    ViT), and train built it again for the body: its data config is now timm's registered one."""
    built = fake_timm_registry(monkeypatch)
    spec = get_backbone("timm:vit_huge_patch14_224")
    assert built == []
    assert (spec.data_config.input_size, spec.data_config.resize_size) == (32, 36)
    assert spec.data_config.interpolation == "bicubic" and spec.data_config.mean == (0.5,) * 3
    assert build_body(spec, pretrained=False).n_features == 16 and len(built) == 1


def test_a_timm_body_of_a_fixed_input_size_cannot_join_an_ensemble_of_another(monkeypatch):
    """A timm ViT (``fixed_input_size`` in its pretrained config) joined an ensemble at a larger
    size unrefused, though timm's patch embedding takes its own size only: refused now, as
    torchvision's ViTs are, before anything is built."""
    built = fake_timm_registry(monkeypatch)
    cfgs = {
        "vit": {**TIMM_CFG, "fixed_input_size": True},
        "cnn": {**TIMM_CFG, "input_size": (3, 48, 48)},
    }
    monkeypatch.setattr(
        sys.modules["timm.models"],
        "get_pretrained_cfg",
        lambda name: types.SimpleNamespace(to_dict=lambda: cfgs[name]),
    )
    assert get_backbone("timm:vit").fixed_size and not get_backbone("timm:cnn").fixed_size
    with pytest.raises(BadBackbone, match="timm:vit takes 32 px images only"):
        get_backbone("timm:vit+timm:cnn")
    assert built == []


@pytest.mark.slow
def test_a_run_on_a_timm_backbone_builds_its_body_once(monkeypatch, tmp_path, split_dir):
    """A real run built a timm body three times (the data config when settling the precision,
    again when preparing, then the body), and loading the run twice: once each now."""
    from objrec.checkpoint import load_model
    from objrec.train import train

    from .conftest import tiny_train_config

    built = fake_timm_registry(monkeypatch)
    weights = tmp_path / "w.pt"  # no hub, no cache
    torch.save(TinyBody().features.state_dict(), weights)
    config = tiny_train_config(backbone="timm:tiny", weights=str(weights), epochs=2)
    train(split_dir, tmp_path / "run", replace(config, cache_dir=str(tmp_path / "cache")))
    assert built == ["tiny"]
    load_model(tmp_path / "run")
    assert built == ["tiny", "tiny"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="needs objrec[timm]")
@pytest.mark.parametrize("name", ["resnet18", "vit_tiny_patch16_384.augreg_in21k_ft_in1k"])
def test_a_real_timm_data_config_is_the_one_timm_gives_its_model(name):
    """timm's registered config of a name is the one it attaches to the model it builds."""
    import timm
    import timm.data

    from objrec.backbones import timm_pretrained_cfg

    with torch.device("meta"):  # the architecture only: no memory, no weights
        model = timm.create_model(name, pretrained=False)
    expected = timm.data.resolve_data_config({}, model=model)
    assert timm.data.resolve_data_config({}, pretrained_cfg=timm_pretrained_cfg(name)) == expected


def test_the_backbones_page_s_example_names_no_path_of_the_developers():
    """docs/backbones.md's --weights example was ../shared/weights/..., a file of objrec's
    developers' layout, which a user has not: it now names a placeholder and says where a state
    dict comes from."""
    page = (Path(__file__).parents[1] / "docs" / "backbones.md").read_text(encoding="utf-8")
    assert "shared/" not in page
    assert "--weights path/to/mobilenet_v2_weights.pth" in page and "torch.save(" in page


def test_a_fingerprint_hashes_the_weights_where_they_lie():
    """A body's fingerprint is the SHA-256 of its repr and of each tensor's name, shape, dtype
    and bytes (the store's key: it may not change), and hashing holds no copy of the weights: a
    warm retrain fingerprints the default body's 50 MB of weights twice."""
    import hashlib
    import tracemalloc

    from objrec.bodies import fingerprint_module

    module = torch.nn.Sequential(torch.nn.Linear(1024, 2048), torch.nn.BatchNorm1d(2048))
    expected = hashlib.sha256(repr(module).encode())
    for name, tensor in module.state_dict().items():
        expected.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        expected.update(tensor.numpy().tobytes() if tensor.numel() else b"")
    tracemalloc.start()
    try:
        digest = fingerprint_module(module)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert digest == expected.hexdigest()
    assert peak < 1 << 20  # the 8 MB weight was copied whole to hash it


def test_weights_read_from_a_safetensors_file_do_not_change_with_the_file(tmp_path):
    """A Lite body built in place takes the loaded tensors as its own: were they mapped from the
    file, a weights file replaced during a long train (or truncated: a bus error) would change
    or crash the body under it."""
    from safetensors.torch import save_file

    from objrec.bodies import load_state_file

    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(4096)}, str(path))
    loaded = load_state_file(path)
    replaced = tmp_path / "zeros.safetensors"
    save_file({"w": torch.zeros(4096)}, str(replaced))
    with path.open("r+b") as file:  # rewritten in place, as `cp new old` does
        file.write(replaced.read_bytes())
    assert torch.equal(loaded["w"], torch.ones(4096))
