"""``python -m dfrobust``: the same as the ``dfrobust`` command."""

from dfrobust.cli import app

if __name__ == "__main__":  # not when a spawned process (dfrobust test --devices N) imports it
    app(prog_name="dfrobust")
