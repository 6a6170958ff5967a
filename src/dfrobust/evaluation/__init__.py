"""Robust evaluation: conditions (attack x eps), scoring, success rates, masking checks, eval/ I/O.

- :mod:`~dfrobust.evaluation.options`: what to run (``EvalOptions``, ``Condition``).
- :mod:`~dfrobust.evaluation.evaluate`: scores every frame under every condition.
- :mod:`~dfrobust.evaluation.success`: attack success rates (a)-(d) and query statistics.
- :mod:`~dfrobust.evaluation.checks`: sanity checks against gradient masking.
- :mod:`~dfrobust.evaluation.results`: the ``eval/`` folder, written and read.
- :mod:`~dfrobust.evaluation.run`: a run folder's checkpoint and frames -> ``eval/``;
  resumable (:mod:`~dfrobust.evaluation.parts`, one file per finished batch), sharded by
  whole videos, on several devices (:mod:`~dfrobust.evaluation.launch`), planned and timed
  beforehand (:mod:`~dfrobust.evaluation.plan`). :mod:`~dfrobust.evaluation.batch` scores one
  batch with per-frame random streams, so results do not depend on how the work is split.

A new evaluation condition is an attack in :mod:`dfrobust.attacks`; a new grouping or
protocol is a module here.
"""

from dfrobust.evaluation.evaluate import EvalResult, evaluate
from dfrobust.evaluation.options import Condition, EvalOptions
from dfrobust.evaluation.results import save_eval
from dfrobust.evaluation.run import EvalJob, prepare_run_eval, run_eval

__all__ = ["Condition", "EvalJob", "EvalOptions", "EvalResult", "evaluate", "prepare_run_eval", "run_eval", "save_eval"]
