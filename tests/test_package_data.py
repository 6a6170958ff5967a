"""The third-party files shipped in the package: small, listed in package-data, with their licences."""

from __future__ import annotations

import pytest

from testdata import FFPP_SPLITS, MESONET_IMAGES, MESONET_WEIGHTS, PROJECT_ROOT

LICENSES = PROJECT_ROOT / "LICENSES"
SHIPPED = [
    *(FFPP_SPLITS / f"{split}.json" for split in ("train", "val", "test")),
    *(
        MESONET_WEIGHTS / name
        for name in ("Meso4_DF.h5", "Meso4_F2F.h5", "MesoInception_DF.h5", "MesoInception_F2F.h5")
    ),
]


def test_shipped_files_are_small_and_listed_in_package_data() -> None:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
    package = PROJECT_ROOT / "src" / "dfrobust"
    patterns = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    listed = {path for pattern in patterns["dfrobust"] for path in package.glob(pattern)}
    extra = [FFPP_SPLITS / "LICENSE", MESONET_WEIGHTS / "LICENSE", MESONET_WEIGHTS / "NOTICE"]
    for path in [*SHIPPED, *extra]:
        assert path in listed, f"{path} is not in [tool.setuptools.package-data]"
    for path in [*SHIPPED, *MESONET_IMAGES.rglob("*.jpg")]:
        assert path.stat().st_size < 2 * 2**20, path


def test_every_shipped_file_travels_with_its_licence() -> None:
    mit = (LICENSES / "FaceForensics-splits-MIT.txt").read_bytes()
    apache = (LICENSES / "MesoNet-Apache-2.0.txt").read_bytes()
    notice = (LICENSES / "MesoNet-NOTICE.txt").read_bytes()
    assert "Rössler" in mit.decode() and mit == (FFPP_SPLITS / "LICENSE").read_bytes()
    for folder in (MESONET_WEIGHTS, MESONET_IMAGES.parent):
        assert (folder / "LICENSE").read_bytes() == apache and (folder / "NOTICE").read_bytes() == notice
    assert b"Apache License" in apache and "National Institute of Informatics" in notice.decode()
