"""frames.csv: reading and checking it, video keys, the stable video index."""

from __future__ import annotations

import pytest

from dfrobust.data.manifest import VideoIndex
from dfrobust.errors import DfrobustError


def test_video_index_is_stable_and_keys_include_method() -> None:
    rows = [
        {"method": "Deepfakes", "compression": "c23", "video": "000_003"},
        {"method": "Face2Face", "compression": "c23", "video": "000_003"},
        {"method": "original", "compression": "c23", "video": "000"},
        {"method": "Deepfakes", "compression": "c23", "video": "000_003"},
    ]
    index = VideoIndex.from_rows(rows)
    assert len(index) == 3
    assert VideoIndex.from_rows(reversed(rows)).keys == index.keys
    assert index["Face2Face/c23/000_003"] != index["Deepfakes/c23/000_003"]
    assert index.encode(["original/c23/000", "Deepfakes/c23/000_003"]).tolist() == [2, 0]
    with pytest.raises(DfrobustError, match="unknown video"):
        index["NeuralTextures/c23/000_003"]
    with pytest.raises(DfrobustError, match="compression"):
        VideoIndex.from_rows([{"method": "original", "video": "000"}])
