"""The model factory, the MesoNet ports (against Keras' own outputs) and weight loading."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dfrobust.errors import DfrobustError
from dfrobust.models import PRETRAINED_TAGS, TwoLogitAdapter, create_model, list_models, load_weights
from testdata import MESONET_IMAGES, MESONET_WEIGHTS

# P(real) computed with Keras itself on the authors' weights and images (their architecture;
# the table of ../shared/data/README.md), per pretrained tag.
KERAS_P_REAL = {
    "meso4.df": {"df/df00204.jpg": 0.041412, "real/real00240.jpg": 0.989748},
    "meso4.f2f": {"df/df00204.jpg": 0.831237, "real/real00240.jpg": 0.881023},
    "mesoinception4.df": {"df/df00204.jpg": 0.026218, "real/real00240.jpg": 1.000000},
    "mesoinception4.f2f": {"df/df00204.jpg": 0.998743, "real/real00240.jpg": 1.000000},
}
WEIGHT_FILES = {"meso4.df": "Meso4_DF.h5", "mesoinception4.df": "MesoInception_DF.h5"}


def _mesonet_input(relpath: str) -> torch.Tensor:
    """An image as the original repository feeds it: RGB, nearest resize to 256, / 255."""
    image = Image.open(MESONET_IMAGES / relpath).convert("RGB")
    if image.size != (256, 256):  # df00204.jpg is 342 x 342
        image = image.resize((256, 256), Image.NEAREST)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No socket can connect, and the Hugging Face / torch hub caches are empty."""
    import huggingface_hub.constants

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch_hub"))


@pytest.mark.parametrize("tag", list(KERAS_P_REAL))
def test_pretrained_tags_match_keras_reference_offline(no_network: None, tag: str) -> None:
    reference = KERAS_P_REAL[tag]
    model = create_model(tag, pretrained=True).eval()
    x = torch.stack([_mesonet_input(p) for p in reference])
    with torch.no_grad():
        p_fake = torch.sigmoid(model(x))
    expected_p_fake = 1 - torch.tensor(list(reference.values()))
    assert torch.allclose(p_fake, expected_p_fake, atol=1e-4), (p_fake, expected_p_fake)
    assert model.data_config["pretrained_tag"] == tag
    assert model.data_config["architecture"] == tag.split(".")[0]
    assert Path(model.data_config["weights"]).name == PRETRAINED_TAGS[tag]["file"]


@pytest.mark.parametrize("tag", list(WEIGHT_FILES))
def test_weights_file_loads_like_its_tag(tag: str) -> None:
    arch = tag.split(".")[0]
    from_file = create_model(arch, weights=MESONET_WEIGHTS / WEIGHT_FILES[tag]).eval()
    assert from_file.data_config["weights"].endswith(WEIGHT_FILES[tag])
    tagged = create_model(tag, pretrained=True).eval()
    x = torch.stack([_mesonet_input(p) for p in KERAS_P_REAL[tag]])
    with torch.no_grad():
        assert torch.equal(from_file(x), tagged(x))


def test_bare_mesonet_name_pretrained_means_the_df_tag() -> None:
    for arch in ("meso4", "mesoinception4"):
        model = create_model(arch, pretrained=True)
        assert model.data_config["pretrained_tag"] == f"{arch}.df"
        assert torch.equal(model.net.head[-1].weight, create_model(f"{arch}.df", pretrained=True).net.head[-1].weight)


def test_a_tag_without_pretrained_names_only_the_architecture() -> None:
    torch.manual_seed(0)
    plain = create_model("meso4.f2f")  # as in timm: random weights, the architecture of the tag
    assert "weights" not in plain.data_config and plain.data_config["architecture"] == "meso4"
    assert not torch.equal(plain.net.head[-1].weight, create_model("meso4.f2f", pretrained=True).net.head[-1].weight)


def test_list_models_pretrained_lists_the_shipped_tags() -> None:
    assert list_models(pretrained=True) == ["meso4.df", "meso4.f2f", "mesoinception4.df", "mesoinception4.f2f"]
    assert all((MESONET_WEIGHTS / cfg["file"]).is_file() for cfg in PRETRAINED_TAGS.values())
    assert "meso4" in list_models() and "meso4.df" not in list_models()


def test_unknown_tag_lists_the_tags_of_its_model() -> None:
    with pytest.raises(
        DfrobustError, match=r"Unknown pretrained tag 'dfdc' of meso4\. Expected one of meso4\.df, meso4\.f2f"
    ):
        create_model("meso4.dfdc", pretrained=True)


def test_meso_data_config_matches_the_original_preprocessing() -> None:
    config = create_model("meso4").data_config
    assert config["input_size"] == (3, 256, 256)
    assert (config["mean"], config["std"], config["interpolation"]) == ((0.0,) * 3, (1.0,) * 3, "nearest")
    assert config["license"] == "apache-2.0" and "DariusAf/MesoNet" in config["source"]


_BIG_BACKBONES = {"efficientnet_b4", "legacy_xception", "xception41"}  # 20M parameters: seconds each


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in _BIG_BACKBONES else n for n in list_models()]
)
def test_every_registry_model_gives_one_logit_per_image(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    side = 256 if name.startswith("meso") else 64  # timm nets take any size; keep them fast
    with torch.no_grad():
        logits = model(torch.rand(2, 3, side, side))
    assert logits.shape == (2,)
    assert torch.isfinite(logits).all()
    config = model.data_config
    assert config["architecture"] == name and len(config["input_size"]) == 3
    assert torch.allclose(model.normalize.mean.flatten(), torch.tensor(config["mean"]))
    assert torch.allclose(model.normalize.std.flatten(), torch.tensor(config["std"]))


def test_timm_data_config_comes_from_timm() -> None:
    config = create_model("resnet18").data_config
    assert config["mean"] == (0.485, 0.456, 0.406) and config["std"] == (0.229, 0.224, 0.225)
    assert config["input_size"] == (3, 224, 224) and config["interpolation"] == "bicubic"


def test_meso_input_size_override_builds_a_smaller_net() -> None:
    model = create_model("meso4", input_size=(3, 64, 64)).eval()
    assert model(torch.rand(3, 3, 64, 64)).shape == (3,)


def test_normalization_is_inside_the_model() -> None:
    torch.manual_seed(0)
    mean, std = (0.5, 0.4, 0.3), (0.25, 0.2, 0.1)
    model = create_model("meso4", input_size=(3, 64, 64), mean=mean, std=std).eval()
    assert (model.data_config["mean"], model.data_config["std"]) == (mean, std)
    x = torch.rand(2, 3, 64, 64)  # pixels in [0, 1]
    with torch.no_grad():
        expected = model.net((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
        assert torch.allclose(model(x), expected.squeeze(-1))
        plain = create_model("meso4", input_size=(3, 64, 64)).eval()
        plain.load_state_dict(model.state_dict())  # same weights, mean 0 / std 1
        assert not torch.allclose(plain(x), model(x))


def test_timm_pretrained_without_network_says_how_to_pass_a_weights_file(no_network: None) -> None:
    with pytest.raises(DfrobustError) as info:
        create_model("resnet18", pretrained=True)
    message = str(info.value)
    assert "weights=PATH" in message
    assert "Traceback" not in message


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(DfrobustError) as info:
        create_model("meso5")
    message = str(info.value)
    assert all(name in message for name in [*list_models(), *list_models(pretrained=True)])
    assert "timm" in message


def test_unknown_option_is_a_clear_error() -> None:
    with pytest.raises(DfrobustError, match="meso4.*colour"):
        create_model("meso4", colour="blue")


class _CreatesFileWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_pickled_payload_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"net.fc.weight": torch.zeros(1), "payload": _CreatesFileWhenUnpickled(marker)}, path)
    with pytest.raises(DfrobustError, match="refusing to unpickle"):
        create_model("meso4", weights=path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors"])
def test_state_dict_round_trip(tmp_path: Path, suffix: str) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = create_model("meso4", input_size=(3, 64, 64)).eval()
    path = tmp_path / f"meso{suffix}"
    if suffix == ".safetensors":
        save_file(model.state_dict(), path)
    else:
        torch.save(model.state_dict(), path)
    torch.manual_seed(1)
    loaded = create_model("meso4", input_size=(3, 64, 64), weights=path).eval()
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(loaded(x), model(x))


def test_lightning_style_checkpoint_loads(tmp_path: Path) -> None:
    model = create_model("meso4", input_size=(3, 64, 64)).eval()
    path = tmp_path / "last.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, path)
    loaded = create_model("meso4", input_size=(3, 64, 64), weights=path).eval()
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(loaded(x), model(x))


def test_backbone_file_with_another_head_loads_the_backbone(tmp_path: Path) -> None:
    import timm

    imagenet = timm.create_model("resnet18", num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(imagenet.state_dict(), path)
    model = create_model("resnet18", weights=path)
    assert torch.equal(model.net.conv1.weight, imagenet.conv1.weight)
    assert model.net.fc.weight.shape == (1, 512)


def test_weights_of_another_model_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "meso.pt"
    torch.save(create_model("meso4").state_dict(), path)
    with pytest.raises(DfrobustError, match="meso.pt"):
        create_model("mesoinception4", weights=path)
    with pytest.raises(DfrobustError, match="missing.pt"):
        create_model("meso4", weights=tmp_path / "missing.pt")


def test_keras_weights_only_fit_mesonets_of_their_size() -> None:
    h5 = MESONET_WEIGHTS / "Meso4_DF.h5"
    with pytest.raises(DfrobustError, match="meso4 / mesoinception4"):
        load_weights(create_model("resnet18"), h5)
    with pytest.raises(DfrobustError, match="Meso4_DF.h5"):
        create_model("mesoinception4", weights=h5)
    with pytest.raises(DfrobustError, match="256"):
        create_model("meso4", input_size=(3, 64, 64), weights=h5)


def test_keras_file_without_suffix_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "Meso4_F2F"  # the authors name their Face2Face files without .h5
    path.write_bytes((MESONET_WEIGHTS / "Meso4_F2F.h5").read_bytes())
    model = create_model("meso4", weights=path)
    reference = create_model("meso4.f2f", pretrained=True)
    assert torch.equal(model.net.head[-1].weight, reference.net.head[-1].weight)


def test_two_logit_adapter_softmax_matches_sigmoid() -> None:
    model = create_model("meso4", input_size=(3, 64, 64)).eval()
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        probs = TwoLogitAdapter(model)(x).softmax(dim=1)
        p_fake = torch.sigmoid(model(x))
    assert probs.shape == (4, 2)
    assert torch.allclose(probs[:, 1], p_fake, atol=1e-6)
    assert torch.allclose(probs[:, 0], 1 - p_fake, atol=1e-6)


def test_two_logit_adapter_drives_torchattacks() -> None:
    import torchattacks

    model = create_model("meso4.df", pretrained=True).eval()
    x = _mesonet_input("df/df00204.jpg").unsqueeze(0)
    y = torch.ones(1, dtype=torch.long)  # fake
    x_adv = torchattacks.FGSM(TwoLogitAdapter(model), eps=4 / 255)(x, y)
    assert (x_adv - x).abs().max() <= 4 / 255 + 1e-6
    with torch.no_grad():
        assert model(x_adv) < model(x)  # the attack pushes the fake logit down
