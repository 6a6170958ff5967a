"""Layout detection from the folder alone, and index_root's dispatch and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfrobust.data.layouts import detect_layout, index_root
from dfrobust.errors import DfrobustError
from testdata import write_celebdf_root, write_dfdc_root, write_test_video


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("layouts")
    ffpp = base / "ffpp"
    write_test_video(ffpp / "original_sequences/youtube/c23/videos/004.mp4", frames=2, size=16)
    return {
        "ffpp": ffpp,
        "celebdf": write_celebdf_root(base / "celebdf", frames=2, size=16),
        "dfdc": write_dfdc_root(base / "dfdc", frames=2, size=16),
    }


@pytest.mark.parametrize("layout", ["ffpp", "celebdf", "dfdc"])
def test_each_layout_is_recognised_and_yields_its_dataset(roots: dict[str, Path], layout: str) -> None:
    assert detect_layout(roots[layout]) == layout
    found = index_root(roots[layout])
    assert found.dataset == layout and {r.dataset for r in found.records} == {layout}


def test_a_public_test_folder_alone_is_a_dfdc_root(roots: dict[str, Path]) -> None:
    found = index_root(roots["dfdc"] / "test")
    assert {(r.video, r.label, r.split) for r in found.records} == {("ttt", 1, "test"), ("uuu", 0, "test")}


def test_an_unknown_folder_is_refused_in_one_line_listing_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"")
    with pytest.raises(DfrobustError) as caught:
        index_root(tmp_path / "photos")
    message = str(caught.value)
    assert "\n" not in message and "matches no known data-set layout" in message
    for looked_for in ("original_sequences/", "Celeb-real/", "Celeb-synthesis/", "metadata.json"):
        assert looked_for in message
    with pytest.raises(DfrobustError, match="does not exist"):
        index_root(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DfrobustError, match="is empty"):
        index_root(tmp_path / "empty")


def test_ffpp_options_are_refused_for_the_other_layouts(roots: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DfrobustError, match="--splits applies to FF\\+\\+ only"):
        index_root(roots["celebdf"], tmp_path)
    with pytest.raises(DfrobustError, match=r"--compression \(c40\) applies to FF\+\+ only"):
        index_root(roots["dfdc"], compression="c40")


def test_methods_keep_only_the_named_ones(roots: dict[str, Path]) -> None:
    found = index_root(roots["celebdf"], methods=["celeb-synthesis"])
    assert {r.method for r in found.records} == {"Celeb-synthesis"}
    with pytest.raises(DfrobustError, match="unknown Celeb-DF v2 method"):
        index_root(roots["celebdf"], methods=["Deepfakes"])
