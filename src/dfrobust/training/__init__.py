"""Training: the LightningModule (clean or adversarial), the history callback, the loop.

- :mod:`~dfrobust.training.module`: ``DetectorModule``, FGSM-RS / N-FGSM / PGD-AT and the
  catastrophic-overfitting monitor.
- :mod:`~dfrobust.training.callbacks`: ``HistoryWriter`` (``history.csv``, CO flags).
- :mod:`~dfrobust.training.datamodule`: ``FFDataModule`` (splits, balance, augmentation).
- :mod:`~dfrobust.training.loop`: ``train``, which writes the run folder.

Reading a run back (checkpoints, config, history) needs no Lightning: :mod:`dfrobust.runs`.
"""

from dfrobust.training.loop import TrainResult, train

__all__ = ["TrainResult", "train"]
