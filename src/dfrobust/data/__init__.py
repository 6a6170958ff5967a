"""Data: data-set layouts -> video records, video reading, faces, frame extraction, frames.csv.

- :mod:`~dfrobust.data.layouts`: which data set a root holds; :func:`index_root` -> ``videos.csv``.
- :mod:`~dfrobust.data.records`: ``VideoRecord`` (with its ``dataset``), the one record every layout yields.
- :mod:`~dfrobust.data.ffpp`: the FF++ / DFD layout and the official splits.
- :mod:`~dfrobust.data.celebdf`, :mod:`~dfrobust.data.dfdc`: Celeb-DF v2 and DFDC.
- :mod:`~dfrobust.data.video`: reading exact frames with PyAV.
- :mod:`~dfrobust.data.faces`: face detectors and the square x1.3 crop.
- :mod:`~dfrobust.data.frames`: the extraction job (seeded frames, resumable, sharded).
- :mod:`~dfrobust.data.manifest`: ``frames.csv`` (columns, reading, writing, video keys).
- :mod:`~dfrobust.data.transforms`, :mod:`~dfrobust.data.dataset`: ``FFDataset``.

Nothing is imported here, so extraction workers never load torch. A new data set is a
layout module here that yields the same video records.
"""
