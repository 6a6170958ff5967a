"""The report: one self-contained HTML page, PNG plots and a Markdown summary comparing runs.

:mod:`~dfrobust.report.results` reads run folders, :mod:`~dfrobust.report.html` writes the
page and :mod:`~dfrobust.report.plots` draws every figure (matplotlib lives only here)::

    paths = write_report(["runs/clean", "runs/fgsm_rs"], "report.html")
"""

from dfrobust.report.html import ReportPaths, write_report
from dfrobust.report.results import RunResults, load_run, load_runs, summary_table

__all__ = ["ReportPaths", "RunResults", "load_run", "load_runs", "summary_table", "write_report"]
