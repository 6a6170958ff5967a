"""MesoNet ports vs the authors' Keras outputs on their own sample faces.

Loads the published Keras weights (Meso4_DF.h5, MesoInception_DF.h5) into our PyTorch
ports, feeds the two sample faces through the project's evaluation transform (the model's
``data_config``: nearest resize to 256 x 256, /255) and prints P(real) next to the values Keras
itself gives (shared/data/README.md), with the absolute error.

Run (a few seconds on 2 CPU cores):
    .venv/bin/python benchmarks/mesonet_reference.py
    .venv/bin/python benchmarks/mesonet_reference.py --data ../shared/data/mesonet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from dfrobust.data.transforms import build_transform
from dfrobust.models import create_model

# P(real) computed with Keras 2 on the authors' weights.
KERAS_P_REAL = {
    ("meso4", "Meso4_DF.h5"): {"df/df00204.jpg": 0.041412, "real/real00240.jpg": 0.989748},
    ("mesoinception4", "MesoInception_DF.h5"): {"df/df00204.jpg": 0.026218, "real/real00240.jpg": 1.000000},
}


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "mesonet"
    parser.add_argument("--data", type=Path, default=default, help="folder with weights/ and images/")
    return parser.parse_args()


def main() -> None:
    args = get_args()
    print("| model | image | size | P(real) ours | P(real) Keras | abs error |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for (name, weights), reference in KERAS_P_REAL.items():
        model = create_model(name, weights=args.data / "weights" / weights).eval()
        config = model.data_config
        transform = build_transform(config["input_size"][1:], config["interpolation"])
        for image_path, expected in reference.items():
            image = Image.open(args.data / "images" / image_path).convert("RGB")
            with torch.no_grad():
                p_real = 1 - torch.sigmoid(model(transform(image).unsqueeze(0))).item()
            error = abs(p_real - expected)
            worst = max(worst, error)
            size = "x".join(map(str, image.size))
            print(f"| {name} | {image_path} | {size} | {p_real:.6f} | {expected:.6f} | {error:.1e} |")
    print(f"\nmax abs error: {worst:.1e} (Keras reference rounded to 6 decimals)")


if __name__ == "__main__":
    main()
