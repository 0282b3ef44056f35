"""``python -m ledger``: the ledger command line alone, for auditors."""

from ledger.cli import app

app(prog_name="python -m ledger")
