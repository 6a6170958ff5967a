"""``python -m dfrobust``: the same as the ``dfrobust`` command."""

from dfrobust.cli import app

app(prog_name="dfrobust")
