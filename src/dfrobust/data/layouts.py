"""Which data set a folder holds, and its video records, from the folder alone.

``dfrobust index`` and ``dfrobust extract`` take any root and call :func:`index_root`,
which recognises the layout (:func:`detect_layout`) and hands the folder to its reader:

========  ===========================================================  ========================
layout    recognised by                                                reader
========  ===========================================================  ========================
ffpp      ``original_sequences/`` or ``manipulated_sequences/``       :mod:`~dfrobust.data.ffpp`
          (FF++ and DFD, and ``dfrobust synth`` output)
celebdf   ``Celeb-real/``, ``YouTube-real/`` or ``Celeb-synthesis/``    :mod:`~dfrobust.data.celebdf`
dfdc      a subfolder with ``metadata.json`` (``dfdc_train_part_*/``)  :mod:`~dfrobust.data.dfdc`
          or a ``labels.csv`` (the public test set)
========  ===========================================================  ========================

Every reader yields the same :class:`~dfrobust.data.records.VideoRecord` objects, so a new
data set is one reader module and one entry in :data:`LAYOUTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dfrobust.data import celebdf, dfdc, ffpp
from dfrobust.data.records import DatasetIndex
from dfrobust.errors import DfrobustError

DEFAULT_COMPRESSION = "c23"  # FF++'s; the other data sets ship one version of each video


def _is_ffpp_root(root: Path) -> bool:
    return any((root / d).is_dir() for d in ("original_sequences", "manipulated_sequences"))


# name -> (what is looked for, in words; the check), in the order they are tried
LAYOUTS: dict[str, tuple[str, Callable[[Path], bool]]] = {
    "ffpp": ("FF++/DFD: original_sequences/ or manipulated_sequences/", _is_ffpp_root),
    "celebdf": ("Celeb-DF v2: Celeb-real/, YouTube-real/ or Celeb-synthesis/", celebdf.is_celebdf_root),
    "dfdc": ("DFDC: dfdc_train_part_*/metadata.json, or labels.csv with the test videos", dfdc.is_dfdc_root),
}


def detect_layout(root: str | Path) -> str:
    """The name of the layout ``root`` holds (a key of :data:`LAYOUTS`).

    Raises:
        DfrobustError: ``root`` is missing, empty, or matches no layout (one line listing
            what was looked for).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DfrobustError(f"data root {root} does not exist or is not a folder")
    if not any(root.iterdir()):
        raise DfrobustError(f"data root {root} is empty: download the data set into it first")
    for name, (_, matches) in LAYOUTS.items():
        if matches(root):
            return name
    looked_for = "; ".join(description for description, _ in LAYOUTS.values())
    raise DfrobustError(f"{root} matches no known data-set layout: looked for {looked_for}")


def index_root(
    root: str | Path,
    splits_dir: str | Path | None = None,
    *,
    methods: Sequence[str] | None = None,
    compression: str = DEFAULT_COMPRESSION,
    split_seed: int = 0,
) -> DatasetIndex:
    """Index any supported root: recognise its layout and read it with the layout's reader.

    Args:
        root: an FF++ (or DFD, or ``dfrobust synth``), Celeb-DF v2 or DFDC folder.
        splits_dir: FF++ only: the folder of ``train/val/test.json``.
        methods: the methods to keep (FF++: as :func:`~dfrobust.data.ffpp.index_videos`;
            elsewhere any of the layout's methods, e.g. ``Celeb-synthesis``).
        compression: FF++ only: ``raw``, ``c23`` or ``c40``.
        split_seed: seed of the splits the data set does not ship (DFD by actor, Celeb-DF
            val by identity, DFDC val by original video).
    """
    layout = detect_layout(root)
    if layout == "ffpp":
        found = ffpp.index_videos(root, splits_dir, methods=methods, compression=compression, dfd_seed=split_seed)
        found.dataset = "dfd" if found.methods == (ffpp.DFD_METHOD,) else "ffpp"
        return found
    name = LAYOUTS[layout][0].split(":")[0]
    if splits_dir is not None:
        raise DfrobustError(f"{root} is a {name} root: --splits applies to FF++ only; {name} ships its own test split")
    if compression != DEFAULT_COMPRESSION:
        raise DfrobustError(
            f"{root} is a {name} root, which ships one version of each video: --compression "
            f"({compression}) applies to FF++ only; drop it"
        )
    reader = celebdf.index_celebdf if layout == "celebdf" else dfdc.index_dfdc
    return _keep_methods(reader(root, seed=split_seed), methods, name)


def _keep_methods(found: DatasetIndex, methods: Sequence[str] | None, name: str) -> DatasetIndex:
    if not methods:
        return found
    lookup = {m.lower(): m for m in found.methods}
    unknown = [m for m in methods if m.lower() not in lookup]
    if unknown:
        raise DfrobustError(f"unknown {name} method(s) {unknown}; expected some of {', '.join(found.methods)}")
    keep = {lookup[m.lower()] for m in methods}
    found.methods = tuple(m for m in found.methods if m in keep)
    found.records = [r for r in found.records if r.method in keep]
    found.missing = [m for m in found.missing if m.method in keep]
    return found
