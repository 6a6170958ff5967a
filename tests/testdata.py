"""Test data: the third-party files the tests read, and small inputs the tests build.

Shipped (no set-up needed): the official FF++ splits and the MesoNet weights inside the
package, the two MesoNet test images in ``tests/data_files``. Never shipped: the real FF++
clips (FaceForensics Terms of Use). Tests that need them take the ``ffpp_sample`` fixture,
which finds ``ffpp_sample/`` in ``$DFROBUST_TEST_DATA``, else in ``../shared/data`` beside
the project root; where it is absent they are skipped, saying why, unless the data is
required (``CI=true`` or ``DFROBUST_REQUIRE_TEST_DATA=1``), where they fail.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"  # beside the project root (CI has it)
FFPP_SPLITS = Path(str(resources.files("dfrobust.data") / "splits"))  # shipped in the package
MESONET_WEIGHTS = Path(str(resources.files("dfrobust.models") / "weights"))  # shipped in the package
MESONET_IMAGES = Path(__file__).resolve().parent / "data_files" / "mesonet" / "images"  # df/, real/
TEST_DATA_ENV = "DFROBUST_TEST_DATA"
REQUIRE_ENV = "DFROBUST_REQUIRE_TEST_DATA"


def external_data_dirs() -> list[Path]:
    """Where the real FF++ clips are looked for: ``$DFROBUST_TEST_DATA`` if set, else ../shared/data."""
    given = os.environ.get(TEST_DATA_ENV, "").strip()
    return [Path(given).expanduser()] if given else [SHARED_DATA]


def external_data_required() -> bool:
    """``DFROBUST_REQUIRE_TEST_DATA`` (1 or 0) decides; unset, CI=true requires the data."""
    flag = os.environ.get(REQUIRE_ENV, "").strip().lower()
    if flag:
        return flag not in ("0", "false", "no")
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def find_ffpp_sample() -> tuple[Path | None, str]:
    """The ``ffpp_sample/`` folder of real FF++ clips, or None and the reason it was not found."""
    dirs = external_data_dirs()
    for folder in dirs:
        sample = folder / "ffpp_sample"
        if (sample / "original_sequences").is_dir():
            return sample, ""
    where = ", ".join(str(d / "ffpp_sample") for d in dirs)
    return None, (
        f"real FF++ clips not found in {where}; set {TEST_DATA_ENV} to a folder holding ffpp_sample/ "
        "(FaceForensics++ layout; README.md, 'Test data')"
    )


def write_tiny_manifest(root: Path, videos: int = 4, frames: int = 4, size: int = 32, seed: int = 0) -> Path:
    """A learnable toy frames.csv: fakes carry a brighter square in the middle ("face").

    Per split (train/val/test): ``videos`` real videos ("original") and two fakes per real
    (Deepfakes, Face2Face), ``frames`` JPEGs each, ``size`` px: FF++'s fake:real imbalance.
    """
    import numpy as np
    from PIL import Image

    from dfrobust.atomicio import write_csv

    rng = np.random.default_rng(seed)
    rows = []
    for split_no, split in enumerate(("train", "val", "test")):
        for v in range(videos):
            name = f"{split_no}{v:02d}"
            for method in ("original", "Deepfakes", "Face2Face"):
                video = name if method == "original" else f"{name}_{(v + 1) % videos:02d}{split_no}"
                label = int(method != "original")
                folder = root / method / video
                folder.mkdir(parents=True, exist_ok=True)
                for k in range(frames):
                    pixels = rng.integers(40, 200, (size, size, 3)).astype(np.float32)
                    if label:
                        q = size // 4
                        pixels[q:-q, q:-q] += 50
                    path = folder / f"{k:03d}.jpg"
                    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=95)
                    rows.append(
                        {
                            "path": f"{method}/{video}/{k:03d}.jpg",
                            "video": video,
                            "frame_index": k,
                            "label": label,
                            "method": method,
                            "compression": "c23",
                            "split": split,
                            "face_box": "",
                        }
                    )
    manifest = root / "frames.csv"
    write_csv(manifest, rows, ["path", "video", "frame_index", "label", "method", "compression", "split", "face_box"])
    return manifest


def write_test_video(path: Path, frames: int = 50, size: int = 64, gop: int = 10) -> Path:
    """A small H.264 mp4 whose frame ``i`` is unmistakable (red = 5 i, a green band moving).

    ``gop``: keyframe interval, short so that frame reading has to seek.
    """
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"crf": "18"}
        band = max(1, size // 8)
        for i in range(frames):
            rgb = np.zeros((size, size, 3), np.uint8)
            rgb[:, :, 0] = (i * 5) % 256
            rgb[(i % 8) * band : (i % 8 + 1) * band, :, 1] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


CELEBDF_TEST_LIST = (  # the official list's format: 1 = real, 0 = synthesized
    "1 Celeb-real/id0_0001.mp4",
    "1 YouTube-real/00002.mp4",
    "0 Celeb-synthesis/id2_id0_0001.mp4",
    "1 Celeb-real/id9_0000.mp4",  # listed, not on disk
)


def write_celebdf_root(root: Path, frames: int = 4, size: int = 32) -> Path:
    """A tiny Celeb-DF v2 root: three identities, YouTube-real videos, fakes and the test list."""
    videos = {
        "Celeb-real": ("id0_0000", "id0_0001", "id1_0000", "id2_0000", "id2_0001", "id3_0000"),
        "YouTube-real": ("00000", "00001", "00002"),
        "Celeb-synthesis": ("id0_id1_0000", "id1_id0_0000", "id2_id0_0001", "id3_id2_0000", "id3_id1_0000"),
    }
    for folder, names in videos.items():
        for name in names:
            write_test_video(root / folder / f"{name}.mp4", frames=frames, size=size)
    (root / "List_of_testing_videos.txt").write_text("\n".join(CELEBDF_TEST_LIST) + "\n", encoding="utf-8")
    return root


def write_dfdc_root(root: Path, frames: int = 4, size: int = 32) -> Path:
    """A tiny DFDC root: two training parts with metadata.json and the public test set with labels.csv."""
    import json

    parts = {
        "dfdc_train_part_0": {
            "aaa.mp4": {"label": "REAL", "split": "train", "original": None},
            "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
            "ccc.mp4": {"label": "REAL", "split": "train", "original": None},
            "ddd.mp4": {"label": "FAKE", "split": "train", "original": "ccc.mp4"},
            "eee.mp4": {"label": "FAKE", "split": "train", "original": "zzz.mp4"},  # original not on disk
        },
        "dfdc_train_part_1": {
            "fff.mp4": {"label": "REAL", "split": "train", "original": None},
            "ggg.mp4": {"label": "FAKE", "split": "train", "original": "fff.mp4"},
            "hhh.mp4": {"label": "FAKE", "split": "train", "original": "fff.mp4"},  # not on disk
        },
    }
    for part, metadata in parts.items():
        (root / part).mkdir(parents=True)
        (root / part / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
        for name in metadata:
            if name != "hhh.mp4":
                write_test_video(root / part / name, frames=frames, size=size)
    (root / "test").mkdir()
    (root / "test" / "labels.csv").write_text("filename,label\nttt.mp4,1\nuuu.mp4,0\n", encoding="utf-8")
    for name in ("ttt.mp4", "uuu.mp4"):
        write_test_video(root / "test" / name, frames=frames, size=size)
    return root
