"""MesoNet ports vs the authors' Keras outputs on their own sample faces.

Loads the four published Keras weights shipped with dfrobust (the pretrained tags meso4.df,
meso4.f2f, mesoinception4.df, mesoinception4.f2f) into our PyTorch ports, feeds the authors'
two sample faces (tests/data_files/mesonet/images) through the project's evaluation transform
(the model's ``data_config``: nearest resize to 256 x 256, /255) and prints P(real) next to the
values Keras itself gives (README.md, "Third-party data in this package"), with the absolute error.

Run (a few seconds on 2 CPU cores; no download, no data beside the project):
    .venv/bin/python benchmarks/mesonet_reference.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from dfrobust.data.transforms import build_transform
from dfrobust.models import create_model

# P(real) computed with Keras 2 on the authors' weights, per pretrained tag.
KERAS_P_REAL = {
    "meso4.df": {"df/df00204.jpg": 0.041412, "real/real00240.jpg": 0.989748},
    "meso4.f2f": {"df/df00204.jpg": 0.831237, "real/real00240.jpg": 0.881023},
    "mesoinception4.df": {"df/df00204.jpg": 0.026218, "real/real00240.jpg": 1.000000},
    "mesoinception4.f2f": {"df/df00204.jpg": 0.998743, "real/real00240.jpg": 1.000000},
}
IMAGES = Path(__file__).resolve().parents[1] / "tests" / "data_files" / "mesonet" / "images"


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=IMAGES, help="folder with df/ and real/ sample faces")
    return parser.parse_args()


def main() -> None:
    args = get_args()
    print("| model | image | size | P(real) ours | P(real) Keras | abs error |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for name, reference in KERAS_P_REAL.items():
        model = create_model(name, pretrained=True).eval()
        config = model.data_config
        transform = build_transform(config["input_size"][1:], config["interpolation"])
        for image_path, expected in reference.items():
            image = Image.open(args.images / image_path).convert("RGB")
            with torch.no_grad():
                p_real = 1 - torch.sigmoid(model(transform(image).unsqueeze(0))).item()
            error = abs(p_real - expected)
            worst = max(worst, error)
            size = "x".join(map(str, image.size))
            print(f"| {name} | {image_path} | {size} | {p_real:.6f} | {expected:.6f} | {error:.1e} |")
    print(f"\nmax abs error: {worst:.1e} (Keras reference rounded to 6 decimals)")


if __name__ == "__main__":
    main()
