"""Video records: the videos.csv row and the seeded group hold-out."""

from __future__ import annotations

from pathlib import Path

from dfrobust.data.records import VIDEO_CSV_FIELDS, VideoRecord, holdout_groups


def test_a_record_row_has_every_videos_csv_field_and_defaults_to_ffpp() -> None:
    record = VideoRecord("000_003", Path("x.mp4"), 1, "Deepfakes", "c23", "train", "000", "003")
    assert list(record.as_row()) == list(VIDEO_CSV_FIELDS)
    assert record.as_row()["dataset"] == "ffpp" and record.key == "Deepfakes/000_003"


def test_holdout_groups_is_seeded_sized_and_never_empty_for_two_groups() -> None:
    groups = [f"id{i}" for i in range(50)] * 2
    assert holdout_groups(groups, 0, 0.1) == holdout_groups(reversed(groups), 0, 0.1)
    assert len(holdout_groups(groups, 0, 0.1)) == 5
    assert holdout_groups(groups, 0, 0.1) != holdout_groups(groups, 1, 0.1)
    assert len(holdout_groups(["a", "b"], 3, 0.1)) == 1 and holdout_groups(["a"], 3, 0.1) == set()
