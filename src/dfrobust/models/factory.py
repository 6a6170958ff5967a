"""The model factory: one-logit deepfake detectors that own their input normalisation.

``create_model(name)`` builds a :class:`Detector`: ``Normalize(mean, std)`` then a network,
mapping images ``x: (N, 3, H, W)`` float in [0, 1] to logits ``(N,)``, the score for "fake"
(``sigmoid`` = P(fake)). Because normalisation is inside, attacks work in pixel space and
``eps`` is in pixel units. The input metadata is data, ``model.data_config``: ``input_size``
(3, H, W), ``mean``, ``std``, ``interpolation`` (what the frame transforms read), plus the
architecture and the weights' source and licence.

Networks: the native MesoNets (``meso4``, ``mesoinception4``; see :mod:`dfrobust.models.mesonet`)
and any timm model (``legacy_xception`` is the Xception of the FF++ paper).

Pretrained tags, timm style, offline (the weights ship with dfrobust): ``meso4.df``,
``meso4.f2f``, ``mesoinception4.df``, ``mesoinception4.f2f`` (``list_models(pretrained=True)``).

Example:
    >>> model = create_model("meso4.df", pretrained=True).eval()  # the authors' Deepfakes weights
    >>> p_fake = torch.sigmoid(model(x))            # x: (N, 3, 256, 256) in [0, 1]
    >>> model = create_model("resnet18", input_size=(3, 64, 64))
"""

from __future__ import annotations

import difflib
import logging
import pickle
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dfrobust.errors import DfrobustError
from dfrobust.models.mesonet import Meso4, MesoInception4, load_keras_mesonet

log = logging.getLogger(__name__)

_MESONET_REPO = "https://github.com/DariusAf/MesoNet"
# Pretrained tags, timm style (``name.tag``): the MesoNet authors' published weights
# (DariusAf/MesoNet commit 2144d56, Apache-2.0), shipped in dfrobust/models/weights/,
# so no download is ever needed. The one table of the tags: list_models, create_model,
# predict and the docs read it.
PRETRAINED_TAGS: dict[str, dict[str, str]] = {
    "meso4.df": {"file": "Meso4_DF.h5", "trained_on": "Deepfakes"},
    "meso4.f2f": {"file": "Meso4_F2F.h5", "trained_on": "Face2Face"},
    "mesoinception4.df": {"file": "MesoInception_DF.h5", "trained_on": "Deepfakes"},
    "mesoinception4.f2f": {"file": "MesoInception_F2F.h5", "trained_on": "Face2Face"},
}
DEFAULT_TAGS = {"meso4": "df", "mesoinception4": "df"}  # ``pretrained=True`` on a bare name
_MESO_NETS: dict[str, type[nn.Module]] = {"meso4": Meso4, "mesoinception4": MesoInception4}
# timm backbones we document and test; any other timm name works too.
_TIMM_MODELS = ("legacy_xception", "xception41", "efficientnet_b4", "resnet18")
# create_model overrides that change the input metadata rather than the network.
_DATA_KEYS = ("input_size", "mean", "std", "interpolation")
_STATE_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt")


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; the first op of every detector.

    The statistics are non-persistent buffers: they come from ``data_config``, not from
    weight files, so a backbone's state dict loads unchanged.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Detector(nn.Module):
    """Normalize, then a network with one output, squeezed to ``(N,)`` fake logits.

    Args:
        net: maps normalised (N, 3, H, W) images to (N, 1) logits.
        data_config: input metadata; ``mean`` and ``std`` build the Normalize layer.
    """

    def __init__(self, net: nn.Module, data_config: dict[str, Any]) -> None:
        super().__init__()
        self.normalize = Normalize(data_config["mean"], data_config["std"])
        self.net = net
        self.data_config = data_config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, H, W) float in [0, 1] -> (N,) logits of P(fake)."""
        return self.net(self.normalize(x)).squeeze(-1)


class TwoLogitAdapter(nn.Module):
    """Two-class view of a one-logit detector, for attack libraries such as torchattacks.

    Returns ``(N, 2)`` logits ``[0, z]``: softmax gives ``[P(real), P(fake)]`` with
    ``P(fake) = sigmoid(z)``, so class 1 is fake, as in our labels.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        return torch.stack([torch.zeros_like(logits), logits], dim=1)


def list_models(pretrained: bool = False) -> list[str]:
    """The registry's model names (any timm model name is accepted as well).

    ``pretrained=True``: the ``name.tag`` names whose weights ship with dfrobust
    (``meso4.df``, ...), loadable offline with ``create_model(name, pretrained=True)``.
    """
    if pretrained:
        return sorted(PRETRAINED_TAGS)
    return sorted([*_MESO_NETS, *_TIMM_MODELS])


def pretrained_tag(name: str) -> str | None:
    """The shipped ``name.tag`` that ``create_model(name, pretrained=True)`` loads, else None.

    ``meso4.f2f`` -> ``meso4.f2f``; bare ``meso4`` -> ``meso4.df``; ``resnet18`` -> None.
    """
    if name in PRETRAINED_TAGS:
        return name
    if name in DEFAULT_TAGS:
        return f"{name}.{DEFAULT_TAGS[name]}"
    return None


def create_model(
    name: str, *, weights: str | Path | None = None, pretrained: bool = False, **overrides: Any
) -> Detector:
    """Build a one-logit detector by name, timm style.

    Args:
        name: a name from :func:`list_models`, a pretrained tag from
            ``list_models(pretrained=True)`` (``meso4.df``, ``meso4.f2f``,
            ``mesoinception4.df``, ``mesoinception4.f2f``), or any timm model name
            (``timm.list_models()``).
        weights: a local weights file (``.h5`` Keras MesoNet, ``.safetensors``,
            ``.pt``/``.pth``/``.ckpt`` state dict); replaces ``pretrained``.
        pretrained: load the published weights. MesoNets: the authors' weights shipped with
            dfrobust, offline (a bare ``meso4`` means ``meso4.df``). timm backbones: ImageNet
            weights from timm's cache or the network (the head stays newly initialised).
            As in timm, a tag without ``pretrained`` only names the architecture.
        **overrides: ``input_size``, ``mean``, ``std``, ``interpolation`` change
            ``data_config``; anything else goes to the network's constructor (e.g.
            ``drop_rate``). ``None`` values are dropped so defaults apply.

    Returns:
        A :class:`Detector` (train mode, like timm): (N, 3, H, W) in [0, 1] -> (N,) logits.

    Raises:
        DfrobustError: unknown name, or weights that cannot be downloaded or loaded.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    # Sequences as tuples, so a config read from YAML (lists) gives the same data_config.
    data_overrides = {k: v if k == "interpolation" else tuple(v) for k in _DATA_KEYS if (v := overrides.pop(k, None))}
    fetch = pretrained and weights is None
    arch = _mesonet_arch(name)
    if arch is None:
        _check_timm_name(name)
    try:
        if arch is not None:
            net, data_config = _create_mesonet(arch, pretrained_tag(name) if fetch else None, data_overrides, overrides)
        else:
            net, data_config = _create_timm(name, fetch, data_overrides, overrides)
    except TypeError as exc:  # an option the network's constructor does not take
        if not overrides:
            raise
        raise DfrobustError(f"Model '{name}' does not accept the options {sorted(overrides)} ({exc}).") from exc
    model = Detector(net, data_config)
    if weights is not None:
        load_weights(model, weights)
    return model


def _mesonet_arch(name: str) -> str | None:
    """``meso4`` of ``meso4`` / ``meso4.df``; None for other models; an unknown tag is an error."""
    arch, _, tag = name.partition(".")
    if arch not in _MESO_NETS:
        return None
    if tag and name not in PRETRAINED_TAGS:
        tags = [t for t in PRETRAINED_TAGS if t.startswith(f"{arch}.")]
        raise DfrobustError(f"Unknown pretrained tag '{tag}' of {arch}. Expected one of {', '.join(tags)}.")
    return arch


def _check_timm_name(name: str) -> None:
    import timm

    if timm.is_model(name):
        return
    ours = [*list_models(), *list_models(pretrained=True)]
    close = difflib.get_close_matches(name, [*ours, *timm.list_models()], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise DfrobustError(
        f"Unknown model '{name}'. Expected one of {', '.join(ours)}, "
        f"or any timm model name (see timm.list_models()).{hint}"
    )


def _create_mesonet(
    name: str, tag: str | None, data_overrides: dict[str, Any], kwargs: dict[str, Any]
) -> tuple[nn.Module, dict[str, Any]]:
    """A MesoNet; ``tag`` (``meso4.df``...): load the weights shipped with dfrobust."""
    data_config = {
        "architecture": name,
        "input_size": (3, 256, 256),
        "mean": (0.0, 0.0, 0.0),  # the original only divides by 255
        "std": (1.0, 1.0, 1.0),
        "interpolation": "nearest",  # the original resizes with nearest neighbour
        "source": _MESONET_REPO,
        "license": "apache-2.0",
        "paper": "arXiv:1809.00888",
        **data_overrides,
    }
    net = _MESO_NETS[name](input_size=data_config["input_size"], **kwargs)
    if tag is not None:
        resource = resources.files("dfrobust.models") / "weights" / PRETRAINED_TAGS[tag]["file"]
        with resources.as_file(resource) as path:
            load_keras_mesonet(net, path)
        data_config.update(pretrained_tag=tag, weights=str(path))
        log.info("loaded the %s weights shipped with dfrobust (%s)", tag, path.name)
    return net, data_config


def _create_timm(
    name: str, fetch: bool, data_overrides: dict[str, Any], kwargs: dict[str, Any]
) -> tuple[nn.Module, dict[str, Any]]:
    import timm
    from timm.data import resolve_data_config

    try:
        net = timm.create_model(name, pretrained=fetch, num_classes=1, **kwargs)
    except (OSError, RuntimeError) as exc:  # no network, no cache, or no published weights
        if not fetch:
            raise
        raise DfrobustError(
            f"Could not load the pretrained weights of '{name}' ({type(exc).__name__}: {exc}). "
            "Without network access, download them elsewhere and pass weights=PATH to a "
            ".safetensors/.pth/.pt state dict (CLI: --weights PATH), or fill the Hugging Face "
            "cache (HF_HOME, with HF_HUB_OFFLINE=1) or torch's hub cache (TORCH_HOME)."
        ) from exc
    resolved = resolve_data_config(model=net)
    cfg = net.pretrained_cfg
    data_config = {
        "architecture": name,
        **{k: resolved[k] for k in _DATA_KEYS},
        "source": cfg.get("hf_hub_id") or cfg.get("url") or "timm",
        "license": cfg.get("license", "unknown"),
        **data_overrides,
    }
    return net, data_config


def load_weights(model: Detector, path: str | Path) -> None:
    """Load a weights file into ``model`` in place, by suffix, without unpickling objects.

    ``.h5`` (any HDF5 file): the MesoNet authors' Keras weights (meso4 / mesoinception4 only).
    ``.safetensors``; ``.pt``/``.pth``/``.ckpt``: a state dict read with
    ``torch.load(weights_only=True)``, of the whole detector, of the bare network (e.g. a
    timm backbone; a classifier of another shape is skipped and stays newly initialised),
    or a checkpoint holding one under ``state_dict`` with a ``model.`` prefix.

    Raises:
        DfrobustError: missing file, unknown suffix, a pickled payload, or keys/shapes that
            do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise DfrobustError(f"Weights file {path} does not exist.")
    suffix = path.suffix.lower()
    with path.open("rb") as f:  # the authors' F2F files have no suffix: sniff HDF5's signature
        is_hdf5 = f.read(8) == b"\x89HDF\r\n\x1a\n"
    if is_hdf5:
        if not isinstance(model.net, tuple(_MESO_NETS.values())):
            raise DfrobustError(
                f"{path}: Keras .h5 weights load only into meso4 / mesoinception4, "
                f"not '{model.data_config['architecture']}'."
            )
        load_keras_mesonet(model.net, path)
    elif suffix in _STATE_SUFFIXES:
        _load_state_dict(model, _read_state_dict(path), path)
    else:
        raise DfrobustError(f"{path}: unknown weights format; expected .h5 (HDF5) or {', '.join(_STATE_SUFFIXES)}.")
    model.data_config["weights"] = str(path)
    log.info("loaded weights from %s", path)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors or torch file; never runs code stored in a pickle."""
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as exc:
            raise DfrobustError(f"{path}: not a readable safetensors file ({exc}).") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DfrobustError(
            f"{path}: refusing to unpickle it: it holds Python objects besides tensors, and "
            "unpickling can run arbitrary code. Re-save only the state dict "
            "(torch.save(model.state_dict(), path)) or convert it to .safetensors."
        ) from exc
    except Exception as exc:  # torch raises RuntimeError, KeyError, EOFError... on corrupt files
        raise DfrobustError(f"{path}: not a readable PyTorch file ({type(exc).__name__}: {exc}).") from exc
    for key in ("state_dict", "model"):  # Lightning and common training-script checkpoints
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DfrobustError(f"{path}: expected a state dict (names -> tensors), got {type(obj).__name__}.")
    return obj


def _align_keys(model: Detector, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a file's keys onto the detector's: as they are, without a ``model.``/``module.``
    prefix, or as the bare network's keys (``net.`` added)."""
    own, net_keys = set(model.state_dict()), set(model.net.state_dict())
    for prefix in ("", "model.", "module."):
        stripped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if own & stripped.keys():
            return stripped
        if net_keys & stripped.keys():
            return {f"net.{k}": v for k, v in stripped.items()}
    return state


def _load_state_dict(model: Detector, state: dict[str, torch.Tensor], path: Path) -> None:
    state = _align_keys(model, state)
    expected = model.state_dict()
    classifier = model.net.pretrained_cfg.get("classifier") if hasattr(model.net, "pretrained_cfg") else None
    head = f"net.{classifier}." if classifier else None
    mismatched = [k for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    skipped = [k for k in mismatched if head and k.startswith(head)]  # e.g. an ImageNet 1000-class head
    if skipped:
        log.warning("%s: skipped %s (other shape); the classifier stays newly initialised", path, ", ".join(skipped))
        state = {k: v for k, v in state.items() if k not in skipped}
    missing = sorted(set(expected) - set(state) - set(skipped))
    unexpected = sorted(set(state) - set(expected))
    bad_shapes = [k for k in mismatched if k not in skipped]
    if missing or unexpected or bad_shapes:
        raise DfrobustError(
            f"{path}: does not fit '{model.data_config['architecture']}': "
            f"missing {_few(missing)}, unexpected {_few(unexpected)}, other shapes {_few(bad_shapes)}. "
            "Is it the weights file of another model or input size?"
        )
    model.load_state_dict(state, strict=False)


def _few(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")
