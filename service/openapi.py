"""The service's OpenAPI document, committed as ``docs/openapi.json``.

    python -m service.openapi            # writes docs/openapi.json
    python -m service.openapi --check    # exit 1 when the committed file is not current

The document comes from :func:`service.app.create_app` itself, built without starting anything:
no Temporal client, no ledger, and an authenticator that knows no principal (the document does
not depend on who may call, only on the routes). ``tests/unit/service/test_openapi.py`` checks
the committed file is current.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from runtime.settings import Settings
from service.app import create_app
from service.auth import Authenticator, TokenFile

#: Where the document is committed, from the repository root.
DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def offline_app() -> FastAPI:
    """The app on the embedded defaults, for reading its routes and document only: nothing is
    started (the lifespan is not run), neither the environment nor a ``.env`` file is read,
    and the authenticator knows no principal, so every authenticated call would be refused."""
    defaults = Settings.model_construct()
    return create_app(defaults, authenticator=Authenticator(TokenFile([])))


def document() -> dict[str, Any]:
    return offline_app().openapi()


def render(openapi: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, indent 2, a trailing newline."""
    return json.dumps(openapi, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the service's OpenAPI document.")
    parser.add_argument("--output", type=Path, default=DOCUMENT, help=f"default: {DOCUMENT}")
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 when the file differs"
    )
    args = parser.parse_args(argv)
    text = render(document())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is not current: run `python -m service.openapi`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
