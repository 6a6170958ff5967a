"""MesoNet (Afchar et al., "MesoNet: a Compact Facial Video Forgery Detection Network",
WIFS 2018, arXiv:1809.00888) in PyTorch, and an importer for the published Keras weights.

The layers follow the authors' ``classifiers.py`` (DariusAf/MesoNet, Apache-2.0) one for one,
including two Keras details that change the numbers: BatchNormalization (eps 1e-3) comes
*after* the ReLU, and Flatten runs over (H, W, C). The nets take RGB in [0, 1] (the original
divides by 255 and does no mean/std normalisation) and return ``(N, 1)`` logits; the
published weights score P(real), so :func:`load_keras_mesonet` negates the last layer to give
our "fake" logit (``sigmoid(-z) = 1 - sigmoid(z)``).

Example:
    >>> net = Meso4()
    >>> load_keras_mesonet(net, "Meso4_DF.h5")
    >>> net.eval()(torch.rand(2, 3, 256, 256)).shape
    torch.Size([2, 1])
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dfrobust.errors import DfrobustError

_BN_EPS = 1e-3  # Keras' BatchNormalization default (PyTorch's is 1e-5)


def _conv_relu(in_ch: int, out_ch: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    """Keras ``Conv2D(padding="same", activation="relu")``."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding="same", dilation=dilation), nn.ReLU())


def _pool(size: int) -> nn.MaxPool2d:
    """Keras ``MaxPooling2D(size, padding="same")``: stride = size, a partial last window."""
    return nn.MaxPool2d(size, ceil_mode=True)


def _conv_block(in_ch: int, out_ch: int, kernel: int, pool: int) -> nn.Sequential:
    """Conv + ReLU, then BatchNorm (after the ReLU, as in Keras), then max-pool."""
    return nn.Sequential(_conv_relu(in_ch, out_ch, kernel), nn.BatchNorm2d(out_ch, eps=_BN_EPS), _pool(pool))


class InceptionLayer(nn.Module):
    """MesoInception's inception module: four branches (1x1; 1x1-3x3; 1x1-3x3 dilated 2;
    1x1-3x3 dilated 3) concatenated on channels, ``a + b + c + d`` channels out.

    The branches are registered in Keras' creation order, which the weight importer relies on.
    """

    def __init__(self, in_ch: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.branch1 = _conv_relu(in_ch, a, 1)
        self.branch2 = nn.Sequential(_conv_relu(in_ch, b, 1), _conv_relu(b, b, 3))
        self.branch3 = nn.Sequential(_conv_relu(in_ch, c, 1), _conv_relu(c, c, 3, dilation=2))
        self.branch4 = nn.Sequential(_conv_relu(in_ch, d, 1), _conv_relu(d, d, 3, dilation=3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


def _inception_block(in_ch: int, a: int, b: int, c: int, d: int) -> nn.Sequential:
    out_ch = a + b + c + d
    return nn.Sequential(InceptionLayer(in_ch, a, b, c, d), nn.BatchNorm2d(out_ch, eps=_BN_EPS), _pool(2))


class _MesoNet(nn.Module):
    """Shared body of both nets: ``features`` (ending in 16 channels at 1/32 of the input
    side), then dropout, Dense(16), LeakyReLU(0.1), dropout, Dense(1).

    Args:
        features: the convolutional part, mapping (N, 3, H, W) to (N, 16, H/32, W/32).
        input_size: (3, H, W) the net is built for; fixes the first dense layer's width.
        drop_rate: dropout probability of both dropout layers (0.5 in the paper).
    """

    def __init__(self, features: nn.Sequential, input_size: tuple[int, int, int], drop_rate: float) -> None:
        super().__init__()
        _, height, width = input_size
        # Three 2x2 pools then one 4x4, each keeping a partial last window ("same").
        self.feature_shape = (16, _pooled(height), _pooled(width))
        self.num_features = math.prod(self.feature_shape)
        self.features = features
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(drop_rate),
            nn.Linear(self.num_features, 16),
            nn.LeakyReLU(0.1),
            nn.Dropout(drop_rate),
            nn.Linear(16, 1),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 16, H/32, W/32) feature maps."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps -> (N, 1) logits."""
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _pooled(side: int) -> int:
    for size in (2, 2, 2, 4):
        side = math.ceil(side / size)
    return side


class Meso4(_MesoNet):
    """Meso-4: four conv blocks (8, 8, 16, 16 channels; kernels 3, 5, 5, 5)."""

    def __init__(self, input_size: tuple[int, int, int] = (3, 256, 256), drop_rate: float = 0.5) -> None:
        features = nn.Sequential(
            _conv_block(3, 8, 3, pool=2),
            _conv_block(8, 8, 5, pool=2),
            _conv_block(8, 16, 5, pool=2),
            _conv_block(16, 16, 5, pool=4),
        )
        super().__init__(features, input_size, drop_rate)


class MesoInception4(_MesoNet):
    """MesoInception-4: two inception blocks (11 and 12 channels), then Meso-4's last two blocks."""

    def __init__(self, input_size: tuple[int, int, int] = (3, 256, 256), drop_rate: float = 0.5) -> None:
        features = nn.Sequential(
            _inception_block(3, 1, 4, 4, 2),
            _inception_block(11, 2, 4, 4, 2),
            _conv_block(12, 16, 5, pool=2),
            _conv_block(16, 16, 5, pool=4),
        )
        super().__init__(features, input_size, drop_rate)


# Keras layer kinds with weights -> the PyTorch module type they become.
_KERAS_KINDS = {"conv2d": nn.Conv2d, "batch_normalization": nn.BatchNorm2d, "dense": nn.Linear}


def _read_keras_layers(path: Path) -> dict[str, list[dict[str, np.ndarray]]]:
    """Weights of a Keras 2 weights-only HDF5 file, per layer kind, in creation order.

    Keras numbers layers per kind in the order they are created (``conv2d_5``, ``conv2d_6``),
    which is the order our modules are registered in, whatever the file's offset.
    """
    import h5py  # deferred: only this importer needs it

    layers: dict[str, list[tuple[int, dict[str, np.ndarray]]]] = {kind: [] for kind in _KERAS_KINDS}
    try:
        with h5py.File(path, "r") as f:
            for raw in f.attrs["layer_names"]:
                name = _text(raw)
                weight_names = [_text(w) for w in f[name].attrs["weight_names"]]
                match = re.fullmatch(r"(.+)_(\d+)", name)
                if not weight_names or match is None or match.group(1) not in layers:
                    continue
                # "conv2d_5/kernel:0" -> "kernel"
                weights = {w.split("/")[-1].split(":")[0]: np.asarray(f[name][w], np.float32) for w in weight_names}
                layers[match.group(1)].append((int(match.group(2)), weights))
    except (OSError, KeyError) as exc:
        raise DfrobustError(
            f"{path}: not a Keras weights file of the MesoNet repository ({exc}). "
            "Expected an HDF5 file such as weights/Meso4_DF.h5 from https://github.com/DariusAf/MesoNet."
        ) from exc
    return {kind: [w for _, w in sorted(found, key=lambda item: item[0])] for kind, found in layers.items()}


def _text(value: bytes | str) -> str:
    """h5py gives Keras' names as bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _keras_to_torch(module: nn.Module, weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """One Keras layer's arrays -> the state dict of the matching PyTorch module."""
    if isinstance(module, nn.Conv2d):  # kernel (kh, kw, Cin, Cout) -> (Cout, Cin, kh, kw)
        kernel = torch.from_numpy(weights["kernel"]).permute(3, 2, 0, 1)
        return {"weight": kernel, "bias": torch.from_numpy(weights["bias"])}
    if isinstance(module, nn.BatchNorm2d):
        return {
            "weight": torch.from_numpy(weights["gamma"]),
            "bias": torch.from_numpy(weights["beta"]),
            "running_mean": torch.from_numpy(weights["moving_mean"]),
            "running_var": torch.from_numpy(weights["moving_variance"]),
        }
    return {"weight": torch.from_numpy(weights["kernel"]).T, "bias": torch.from_numpy(weights["bias"])}


def load_keras_mesonet(net: _MesoNet, path: str | Path) -> None:
    """Load the published Keras weights (e.g. ``Meso4_DF.h5``) into ``net``, in place.

    Converts conv kernels to PyTorch's layout, reorders the first dense layer's inputs from
    Keras' (H, W, C) flatten to our (C, H, W), and negates the last dense layer so the output
    is the logit of P(fake) (the Keras nets output P(real)).

    Args:
        net: a :class:`Meso4` or :class:`MesoInception4` built for the file's input size
            (256 x 256 for the published weights).
        path: the ``.h5`` weights-only file.

    Raises:
        DfrobustError: the file is missing, not a Keras file, or made for another net/size.
    """
    path = Path(path)
    if not path.is_file():
        raise DfrobustError(f"Keras weights file {path} does not exist.")
    keras = _read_keras_layers(path)
    state: dict[str, torch.Tensor] = {}
    for kind, module_type in _KERAS_KINDS.items():
        modules = [(n, m) for n, m in net.named_modules() if type(m) is module_type]
        if len(modules) != len(keras[kind]):
            raise DfrobustError(
                f"{path}: has {len(keras[kind])} {kind} layers but {type(net).__name__} has {len(modules)}; "
                "is it the weights file of another MesoNet variant?"
            )
        for (name, module), weights in zip(modules, keras[kind]):
            for key, value in _keras_to_torch(module, weights).items():
                state[f"{name}.{key}"] = value
    first, last = (n for n, m in net.named_modules() if isinstance(m, nn.Linear))
    channels, height, width = net.feature_shape
    kernel = state[f"{first}.weight"]  # (16, H*W*C) with inputs in Keras' (H, W, C) order
    if kernel.shape[1] != net.num_features:
        raise DfrobustError(
            f"{path}: its dense layer takes {kernel.shape[1]} features but the net built for this input size "
            f"takes {net.num_features}; the published weights need input_size (3, 256, 256)."
        )
    state[f"{first}.weight"] = kernel.reshape(-1, height, width, channels).permute(0, 3, 1, 2).reshape(kernel.shape)
    state[f"{last}.weight"] = -state[f"{last}.weight"]  # P(real) logit -> P(fake) logit
    state[f"{last}.bias"] = -state[f"{last}.bias"]
    expected = net.state_dict()
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise DfrobustError(f"{path}: {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}.")
    missing = set(expected) - set(state) - {k for k in expected if k.endswith("num_batches_tracked")}
    assert not missing, f"importer left {sorted(missing)} unset"
    net.load_state_dict(state, strict=False)
