"""The ``dozvil`` command: the root Typer app, mounting one group per area.

``dozvil ledger …`` is :mod:`ledger.cli`, which an auditor can also run alone as
``python -m ledger``; here its defaults come from :class:`runtime.settings.Settings`.
``dozvil licence …`` (:mod:`cli.licence`) prints and verifies licence documents.
``dozvil up`` (:mod:`cli.up`) runs the embedded stack, ``dozvil demo`` (:mod:`cli.demo`) plays
a case through it as every role; ``dozvil case …`` (:mod:`cli.case`) and ``dozvil statement …``
(:mod:`cli.statement`) are the HTTP service's and the signers' command line. ``dozvil setup``,
``worker`` and ``serve`` (:mod:`cli.deploy`) are what a production deployment runs.
"""

from __future__ import annotations

import typer

from cli import case as case_cli
from cli import demo as demo_cli
from cli import deploy as deploy_cli
from cli import licence as licence_cli
from cli import statement as statement_cli
from cli import up as up_cli
from ledger import cli as ledger_cli
from runtime.settings import Settings


def build_app(settings: Settings) -> typer.Typer:
    app = typer.Typer(
        name="dozvil",
        help="Dozvil: export-licence cases on Temporal, recorded in a verifiable ledger.",
        no_args_is_help=True,
    )
    defaults = {
        "db": settings.ledger_url,
        "key_file": str(settings.key_path),
        "origin": settings.log_origin,
    }
    app.add_typer(
        ledger_cli.app,
        name="ledger",
        context_settings={"default_map": defaults},
    )
    app.add_typer(licence_cli.app, name="licence")
    app.add_typer(case_cli.app, name="case")
    app.add_typer(statement_cli.app, name="statement")
    app.command("up")(up_cli.up)
    app.command("demo")(demo_cli.demo)
    app.command("setup")(deploy_cli.setup)
    app.command("worker")(deploy_cli.worker)
    app.command("serve")(deploy_cli.serve)
    return app


def main() -> None:
    build_app(Settings())()


if __name__ == "__main__":
    main()
