"""``dozvil ledger …``: the ledger's command line (Typer + rich). A thin shell over the library.

Exit codes: 0 success, 1 a failed check (the log, a proof or a receipt does not verify),
2 bad usage or input. Every fault prints one ``FAIL:`` line naming the check and the entry.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ledger.checkpoint import checkpoint_in
from ledger.entry import Actor, Entry
from ledger.errors import LedgerError, MalformedInput, UnknownKey, VerificationFailed
from ledger.keyfile import load_signer, load_verifier, write_signer
from ledger.keys import (
    ACTOR_KEY_REGISTER,
    ACTOR_KEY_REVOKE,
    LogKeyHistory,
    decode_public_key,
    register_data,
    revoke_data,
)
from ledger.merkle import leaf_hash
from ledger.note import Signer, Verifier, Verifiers, open_note
from ledger.receipts import build_receipt, dumps_receipt, verify_receipt
from ledger.served import (
    ServedLog,
    ServedProofs,
    ServedSource,
    check_consistency_answer,
    check_inclusion_answer,
    http_fetch,
    mirror_log,
)
from ledger.store.export import (
    ExportBundleChecker,
    ExportSource,
    consistency_proof_json,
    export_log,
    inclusion_proof_json,
)
from ledger.store.sql import AppendRequest, SqlLedger
from ledger.verify import LogSource, Report, verify_case, verify_entry, verify_log

app = typer.Typer(
    name="ledger",
    help="The Dozvil transparency-log ledger: append, verify, export, prove.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="The log key and the actor key registry.", invoke_without_command=True)
app.add_typer(keys_app, name="keys")

out = Console(soft_wrap=True)  # proofs, keys and roots stay on one line
err = Console(stderr=True, soft_wrap=True)  # one fault, one line, whatever the width

P = ParamSpec("P")
R = TypeVar("R")


UrlOption = Annotated[
    str | None,
    typer.Option(help="Ask the Dozvil service publishing the log here (checked, with --key)."),
]
UrlKeyOption = Annotated[
    str | None,
    typer.Option("--key", help="With --url: the log's first verifier key (or a file of it)."),
]


@dataclass
class Config:
    db: str | None
    key_file: Path | None
    origin: str | None

    def ledger(self, *, signing: bool) -> SqlLedger:
        if not self.db:
            raise MalformedInput("no database: pass --db URL or set DOZVIL_DATABASE_URL")
        signer = self.signer() if signing else None
        return SqlLedger.open(self.db, signer)

    def signer(self) -> Signer:
        if self.key_file is None:
            raise MalformedInput("no log key: pass --key-file PATH or set DOZVIL_LOG_KEY_FILE")
        return load_signer(self.key_file)


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`LedgerError` into one ``FAIL:`` line and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except VerificationFailed as exc:
            err.print(f"[red]FAIL:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from exc
        except (MalformedInput, FileNotFoundError, json.JSONDecodeError) as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from exc
        except LedgerError as exc:
            err.print(f"[red]FAIL:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from exc

    return wrapper


def _cfg(ctx: typer.Context) -> Config:
    cfg = ctx.find_object(Config)
    assert cfg is not None
    return cfg


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option("--db", envvar="DOZVIL_DATABASE_URL", help="Ledger database URL.")
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", envvar="DOZVIL_LOG_KEY_FILE", help="Log private key file."),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option("--origin", envvar="DOZVIL_LOG_ORIGIN", help="Checkpoint origin line."),
    ] = None,
) -> None:
    """Options shared by every ledger command."""
    ctx.obj = Config(db, key_file, origin)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


@contextmanager
def _progress(label: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled or total == 0:
        yield lambda _n: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@app.command()
@handles_errors
def init(ctx: typer.Context) -> None:
    """Create the ledger schema, the log key (if missing) and the signed empty checkpoint."""
    cfg = _cfg(ctx)
    if not cfg.origin:
        raise MalformedInput("no origin: pass --origin or set DOZVIL_LOG_ORIGIN")
    if cfg.key_file is None:
        raise MalformedInput("no log key: pass --key-file PATH or set DOZVIL_LOG_KEY_FILE")
    if not cfg.key_file.exists():
        cfg.key_file.parent.mkdir(parents=True, exist_ok=True)
        write_signer(cfg.key_file, Signer.generate(cfg.origin))
        err.print(f"created log key {cfg.key_file} (mode 0600)")
    if cfg.db and cfg.db.startswith("sqlite:///"):
        Path(cfg.db.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    ledger = cfg.ledger(signing=True)
    signed = ledger.init(cfg.origin)
    out.print(f"log {cfg.origin!r} ready at size {signed.checkpoint.size}")
    out.print(f"verifier key: {ledger.signer.verifier.vkey if ledger.signer else ''}")


@keys_app.callback()
@handles_errors
def keys(
    ctx: typer.Context,
    url: UrlOption = None,
    key: UrlKeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the log's verifier key (`name+hash+base64`) and its key history."""
    if ctx.invoked_subcommand is not None:
        return
    if url is not None:
        history = _served(url, key).keys.history
        _print_keys(Verifier.from_vkey(history[-1][0]), history, as_json)
        return
    cfg = _cfg(ctx)
    signer = cfg.signer()
    history = []
    if cfg.db:
        ledger = cfg.ledger(signing=False)
        first = ledger.checkpoint_at(0).note
        initial = _initial_vkey(first, signer)
        folded = LogKeyHistory(initial)
        for seq in ledger.case_seqs(None):
            folded.apply(ledger.entry(seq))
        history = list(folded.history)
    _print_keys(signer.verifier, history, as_json)


def _print_keys(current: Verifier, history: list[tuple[str, int]], as_json: bool) -> None:
    if as_json:
        _print_json(
            {
                "vkey": current.vkey,
                "name": current.name,
                "key_id": current.key_id.hex(),
                "history": [{"vkey": k, "from_size": s} for k, s in history],
            }
        )
        return
    out.print(current.vkey, highlight=False, soft_wrap=True)
    for vkey, from_size in history:
        err.print(f"  from size {from_size}: {vkey}", highlight=False, soft_wrap=True)


def _initial_vkey(first_note: str, signer: Signer) -> str:
    """The key file's verifier key, if it signed the log's first (empty) checkpoint."""
    try:
        open_note(first_note, Verifiers([signer.verifier]))
    except (UnknownKey, VerificationFailed) as exc:
        raise MalformedInput(
            "the log's first checkpoint was not signed by this key file; "
            "pass the log's first key to `verify --key`"
        ) from exc
    return signer.verifier.vkey


@keys_app.command("generate")
@handles_errors
def keys_generate(
    path: Annotated[Path, typer.Argument(help="Where to write the new private key (0600).")],
    name: Annotated[str, typer.Option(help="Key name: the log's origin.")],
) -> None:
    """Write a new Ed25519 log key file and print its verifier key."""
    signer = Signer.generate(name)
    write_signer(path, signer)
    out.print(signer.verifier.vkey, highlight=False, soft_wrap=True)


@keys_app.command("rotate")
@handles_errors
def keys_rotate(
    ctx: typer.Context,
    new_key_file: Annotated[Path, typer.Argument(help="The new private key file.")],
    actor: Annotated[str, typer.Option(help="Who rotates (actor id).")] = "log-admin",
) -> None:
    """Rotate the log key: an entry naming the new key, its checkpoint signed by both keys.

    Afterwards point DOZVIL_LOG_KEY_FILE (or --key-file) at the new key file.
    """
    new = load_signer(new_key_file)
    result = _cfg(ctx).ledger(signing=True).rotate_log_key(new, Actor(actor, "log_admin"))
    out.print(f"rotated at entry {result.entries[0].seq}; new key:")
    out.print(new.verifier.vkey, highlight=False)


def _append_registry(ctx: typer.Context, event: str, data: dict[str, Any], by: str) -> int:
    """Append one key-registry entry (log-level, by a registrar); return its seq.

    The idempotency key names the event, actor and key, so a repeated command is a no-op.
    """
    request = AppendRequest(
        idempotency_key=f"{event}/{data['actor_id']}/{data['key_id']}",
        case_id=None,
        event=event,
        actor=Actor(by, "registrar"),
        data=data,
    )
    return _cfg(ctx).ledger(signing=True).append(request).entries[0].seq


@keys_app.command("register-actor")
@handles_errors
def keys_register_actor(
    ctx: typer.Context,
    actor_id: Annotated[str, typer.Option("--actor", help="Actor id (an agency, an official).")],
    role: Annotated[str, typer.Option(help="The actor's role.")],
    public_key: Annotated[str, typer.Option(help="Ed25519 public key, base64 of 32 bytes.")],
    by: Annotated[str, typer.Option(help="Registrar's actor id.")] = "registrar",
) -> None:
    """Register an actor's statement-signing key (an entry of the log)."""
    data = register_data(actor_id, role, decode_public_key(public_key))
    seq = _append_registry(ctx, ACTOR_KEY_REGISTER, data, by)
    out.print(f"registered key {data['key_id']} for {actor_id} at entry {seq}")


@keys_app.command("revoke-actor")
@handles_errors
def keys_revoke_actor(
    ctx: typer.Context,
    actor_id: Annotated[str, typer.Option("--actor", help="Actor id.")],
    key_id: Annotated[str, typer.Option(help="Key id to revoke.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    by: Annotated[str, typer.Option(help="Registrar's actor id.")] = "registrar",
) -> None:
    """Revoke an actor key from this point of the log on."""
    seq = _append_registry(ctx, ACTOR_KEY_REVOKE, revoke_data(actor_id, key_id, reason), by)
    out.print(f"revoked key {key_id} of {actor_id} at entry {seq}")


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {"seq": entry.seq, "leaf_hash": _b64(_leaf(entry)), "body": json.loads(entry.body)}


def _leaf(entry: Entry) -> bytes:
    return leaf_hash(entry.body)


def _json_arg(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedInput(f"{what} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    return value


@app.command()
@handles_errors
def append(
    ctx: typer.Context,
    event: Annotated[str, typer.Option(help="Event name, e.g. submit.")],
    actor: Annotated[str, typer.Option(help="Actor id.")],
    role: Annotated[str, typer.Option(help="Actor role.")],
    idempotency_key: Annotated[str, typer.Option(help="Same key, same entry: retries are safe.")],
    case: Annotated[str | None, typer.Option(help="Case id (omit for log-level).")] = None,
    from_state: Annotated[str | None, typer.Option("--from", help="State before.")] = None,
    to_state: Annotated[str | None, typer.Option("--to", help="State after.")] = None,
    data: Annotated[str | None, typer.Option(help="Event data, a JSON object.")] = None,
    confidential: Annotated[
        str | None, typer.Option(help="Confidential fields (committed, not stored), JSON.")
    ] = None,
    statement: Annotated[
        Path | None, typer.Option(help="File with the actor's signed statement (JSON).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Append one entry and print it with the signed checkpoint that covers it."""
    signed = _json_arg(statement.read_text(), "statement") if statement else None
    request = AppendRequest(
        idempotency_key=idempotency_key,
        case_id=case,
        event=event,
        actor=Actor(actor, role),
        from_state=from_state,
        to_state=to_state,
        statement=signed,
        data=_json_arg(data, "--data"),
        confidential=_json_arg(confidential, "--confidential"),
    )
    result = _cfg(ctx).ledger(signing=True).append(request)
    entry = result.entries[0]
    if as_json:
        _print_json(
            {
                "entry": _entry_json(entry),
                "replayed": result.replayed[0],
                "checkpoint": result.checkpoint.note,
            }
        )
        return
    word = "already logged as" if result.replayed[0] else "appended"
    out.print(f"{word} entry {entry.seq}; checkpoint:")
    out.print(result.checkpoint.note, highlight=False, end="")


_BATCH_FIELDS = {
    "idempotency_key",
    "case_id",
    "event",
    "actor",
    "from_state",
    "to_state",
    "data",
    "confidential",
    "statement",
}


def _batch_request(line_no: int, line: str) -> AppendRequest:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MalformedInput(f"line {line_no}: not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise MalformedInput(f"line {line_no}: not a JSON object")
    unknown = sorted(obj.keys() - _BATCH_FIELDS)
    missing = sorted({"idempotency_key", "event", "actor"} - obj.keys())
    if unknown or missing:
        raise MalformedInput(f"line {line_no}: unknown fields {unknown}, missing {missing}")
    actor = obj["actor"]
    if not isinstance(actor, dict) or actor.keys() != {"id", "role"}:
        raise MalformedInput(f'line {line_no}: actor must be {{"id", "role"}}')
    return AppendRequest(
        idempotency_key=obj["idempotency_key"],
        case_id=obj.get("case_id"),
        event=obj["event"],
        actor=Actor(actor["id"], actor["role"]),
        from_state=obj.get("from_state"),
        to_state=obj.get("to_state"),
        statement=obj.get("statement"),
        data=obj.get("data", {}),
        confidential=obj.get("confidential", {}),
    )


@app.command("append-batch")
@handles_errors
def append_batch(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON lines, one request each ('-': stdin).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Append many entries in one transaction, covered by one checkpoint (all or nothing).

    Each line: {"idempotency_key", "event", "actor": {"id", "role"}, and optionally
    "case_id", "from_state", "to_state", "data", "confidential", "statement"}.
    """
    text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    requests = [
        _batch_request(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()
    ]
    result = _cfg(ctx).ledger(signing=True).append_batch(requests)
    if as_json:
        _print_json(
            {
                "entries": [_entry_json(e) for e in result.entries],
                "replayed": result.replayed,
                "checkpoint": result.checkpoint.note,
            }
        )
        return
    fresh = result.replayed.count(False)
    out.print(f"appended {fresh} entries ({len(requests) - fresh} already logged); checkpoint:")
    out.print(result.checkpoint.note, highlight=False, end="")


def _source(ctx: typer.Context, export: Path | None) -> tuple[LogSource, SqlLedger | None]:
    if export is not None:
        return ExportSource(export), None
    ledger = _cfg(ctx).ledger(signing=False)
    return ledger, ledger


def _trust_key(key: str) -> str:
    return load_verifier(key).vkey


@app.command()
@handles_errors
def verify(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Option(help="The log's first verifier key (name+hash+base64) or a file of it.")
    ],
    export: Annotated[
        Path | None, typer.Option(help="Verify this export folder offline (else the database).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="Verify the log a Dozvil service publishes here (mirrored, then offline)."
        ),
    ] = None,
    trusted: Annotated[
        Path | None, typer.Option(help="A signed checkpoint you kept: prove the log only grew.")
    ] = None,
    case: Annotated[str | None, typer.Option(help="Verify one case only.")] = None,
    entry: Annotated[int | None, typer.Option(help="Verify one entry only.")] = None,
    receipt: Annotated[Path | None, typer.Option(help="Verify a receipt file offline.")] = None,
    workers: Annotated[int, typer.Option(help="Processes for an export (full check).")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify the whole log, a case, an entry or a receipt; exit 1 naming the first fault."""
    initial = _trust_key(key)
    if url is not None:
        if export is not None or receipt is not None:
            raise MalformedInput("--url verifies a served log: not with --export or --receipt")
        with tempfile.TemporaryDirectory(prefix="dozvil-mirror-") as tmp:
            folder = Path(tmp) / "log"
            mirror_log(http_fetch(url), folder, initial_key=initial, where=url.rstrip("/"))
            verify(
                ctx,
                key=key,
                export=folder,
                trusted=trusted,
                case=case,
                entry=entry,
                workers=workers,
                as_json=as_json,
            )
        return
    if receipt is not None:
        report = verify_receipt(_json_arg(receipt.read_text(), "receipt"), initial)
        summary: dict[str, Any] = {
            "ok": True,
            "case_id": report.case_id,
            "tree_size": report.checkpoint.size,
            "entries": [e.seq for e in report.entries],
            "starts_case": report.starts_case,
        }
        _done(
            summary,
            as_json,
            f"receipt for case {report.case_id}: "
            f"{len(report.entries)} entries included in the log at size "
            f"{report.checkpoint.size}",
        )
        return
    source, _ = _source(ctx, export)
    if case is not None:
        case_report = verify_case(source, initial, case)
        _done(
            {
                "ok": True,
                "case_id": case,
                "tree_size": case_report.tree_size,
                "entries": [e.seq for e in case_report.entries],
            },
            as_json,
            f"case {case}: {len(case_report.entries)} entries, chain intact, all included "
            f"at size {case_report.tree_size}",
        )
        return
    if entry is not None:
        found = verify_entry(source, initial, entry)
        _done(
            {"ok": True, "seq": found.seq, "case_id": found.case_id},
            as_json,
            f"entry {found.seq} is included in the log",
        )
        return
    trusted_note = trusted.read_text() if trusted is not None else None
    size = _latest_size(source)
    checker = ExportBundleChecker(export, size) if export is not None and workers > 1 else None
    with _progress("verifying", size, enabled=not as_json and sys.stderr.isatty()) as tick:
        full = verify_log(
            source,
            initial,
            trusted_checkpoint=trusted_note,
            progress=tick,
            workers=workers,
            bundle_reader=checker,
        )
    _done(_report_json(full), as_json, _report_text(full))


def _latest_size(source: LogSource) -> int:
    return checkpoint_in(source.latest_checkpoint_note()).size


def _report_json(report: Report) -> dict[str, Any]:
    return {
        "ok": True,
        "origin": report.origin,
        "tree_size": report.tree_size,
        "root_hash": _b64(report.root_hash),
        "checkpoints": report.checkpoints,
        "statements": report.statements,
        "openings": report.openings,
        "cases": report.cases,
        "log_keys": report.log_keys,
    }


def _report_text(report: Report) -> str:
    return (
        f"OK: {report.tree_size} entries, {report.checkpoints} checkpoints, "
        f"{report.statements} statements, {report.cases} cases; root {_b64(report.root_hash)}"
    )


def _done(obj: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        _print_json(obj)
    else:
        out.print(
            f"[green]OK:[/green] {text}"
            if not text.startswith("OK:")
            else f"[green]OK:[/green]{text[3:]}",
            highlight=False,
        )


@app.command()
@handles_errors
def export(
    ctx: typer.Context,
    destination: Annotated[Path, typer.Argument(help="New folder to write (must not exist).")],
    key: Annotated[str, typer.Option(help="The log's first verifier key (or a file of it).")],
    with_openings: Annotated[
        bool, typer.Option(help="Include openings of confidential fields (cleared readers only).")
    ] = False,
) -> None:
    """Write the log as a C2SP tlog-tiles folder with the dozvil/ sidecar."""
    ledger = _cfg(ctx).ledger(signing=False)
    total = ledger.latest_checkpoint().checkpoint.size
    with _progress("exporting", total, enabled=sys.stderr.isatty()) as tick:
        size = export_log(
            ledger,
            destination,
            initial_key=_trust_key(key),
            with_openings=with_openings,
            progress=tick,
        )
    out.print(f"exported {size} entries to {destination}")


@app.command()
@handles_errors
def mirror(
    url: Annotated[str, typer.Argument(help="The log's URL: where /checkpoint and /tile/ are.")],
    destination: Annotated[Path, typer.Argument(help="New folder to write (must not exist).")],
    key: Annotated[str, typer.Option(help="The log's first verifier key (or a file of it).")],
) -> None:
    """Copy the log a Dozvil service publishes (C2SP tlog-tiles) into a folder laid out as an
    export, written atomically; refused unless its checkpoint is signed by the log's keys."""
    where = url.rstrip("/")
    size = mirror_log(http_fetch(url), destination, initial_key=_trust_key(key), where=where)
    out.print(f"mirrored {size} entries from {where} to {destination}")


def _url_key(key: str | None) -> str:
    """The first verifier key ``--url`` needs: what the service answers is checked against it."""
    if key is None:
        raise MalformedInput(
            "--url needs --key, the log's first verifier key: what the service answers is "
            "checked against it"
        )
    return _trust_key(key)


def _served(url: str, key: str | None) -> ServedLog:
    """The log a service publishes, its latest checkpoint checked against the keys followed
    from ``key``: nothing the service says is printed before it is checked."""
    return ServedLog.open(http_fetch(url), url.rstrip("/"), _url_key(key))


@app.command()
@handles_errors
def checkpoint(
    ctx: typer.Context,
    size: Annotated[int | None, typer.Option(help="A published size (default: latest).")] = None,
    list_all: Annotated[
        bool, typer.Option("--list", help="List every published checkpoint (size, root).")
    ] = False,
    url: UrlOption = None,
    key: UrlKeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the latest (or a given) signed checkpoint, or list them all."""
    pick: Callable[[int], str]
    if url is not None:
        log = _served(url, key)
        notes = log.source.checkpoint_notes
        pick = log.published
        latest = log.source.note.decode("utf-8")
    else:
        ledger = _cfg(ctx).ledger(signing=False)
        notes = ledger.checkpoint_notes

        def pick(n: int) -> str:
            return ledger.checkpoint_at(n).note

        latest = ledger.latest_checkpoint().note
    if list_all:
        listed = [(log.signed(n) if url is not None else checkpoint_in(n), n) for n in notes()]
        for cp, note in listed:
            if as_json:
                sys.stdout.write(json.dumps({"tree_size": cp.size, "note": note}) + "\n")
            else:
                out.print(f"{cp.size:>10}  {_b64(cp.root_hash)}", highlight=False)
        return
    note = pick(size) if size is not None else latest
    if as_json:
        cp = checkpoint_in(note)
        _print_json(
            {
                "origin": cp.origin,
                "tree_size": cp.size,
                "root_hash": _b64(cp.root_hash),
                "note": note,
            }
        )
        return
    sys.stdout.write(note)


_INCLUSION = ("leaf_index", "tree_size", "leaf_hash", "root_hash", "proof", "checkpoint")
_CONSISTENCY = (
    "old_size",
    "new_size",
    "old_root",
    "new_root",
    "proof",
    "old_checkpoint",
    "new_checkpoint",
)


@app.command("prove-inclusion")
@handles_errors
def prove_inclusion(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="Entry to prove.")],
    size: Annotated[int | None, typer.Option(help="Tree size (default: latest).")] = None,
    url: UrlOption = None,
    key: UrlKeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """RFC 9162 §2.1.3 inclusion proof of an entry, checked before it is printed."""
    if url is not None:
        log = _served(url, key)
        at = size if size is not None else log.source.size
        log.published(at)
        if not 0 <= seq < at:
            raise MalformedInput(f"entry {seq} is not in the tree of size {at}")
        answer = log.ask(f"proof/inclusion?seq={seq}&size={at}")
        check_inclusion_answer(log, answer, seq, at)
        obj = {k: answer[k] for k in _INCLUSION}
    else:
        ledger = _cfg(ctx).ledger(signing=False)
        signed = ledger.checkpoint_at(size) if size is not None else ledger.latest_checkpoint()
        obj = inclusion_proof_json(ledger, seq, signed)
    if as_json:
        _print_json(obj)
        return
    out.print(f"entry {seq} in tree of size {obj['tree_size']}, root {obj['root_hash']}")
    for p in obj["proof"]:
        out.print(f"  {p}", highlight=False)


@app.command("prove-consistency")
@handles_errors
def prove_consistency(
    ctx: typer.Context,
    old_size: Annotated[int, typer.Argument(help="The older tree size.")],
    new_size: Annotated[int | None, typer.Option("--new", help="Newer size (latest).")] = None,
    url: UrlOption = None,
    key: UrlKeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """RFC 9162 §2.1.4 consistency proof between two published sizes."""
    if url is not None:
        log = _served(url, key)
        new = new_size if new_size is not None else log.source.size
        if old_size > new:
            raise MalformedInput(f"the older size {old_size} is above the newer size {new}")
        log.published(old_size)
        log.published(new)
        answer = log.ask(f"proof/consistency?old={old_size}&new={new}")
        check_consistency_answer(log, answer, old_size, new)
        obj = {k: answer[k] for k in _CONSISTENCY}
    else:
        ledger = _cfg(ctx).ledger(signing=False)
        older = ledger.checkpoint_at(old_size)
        newer = (
            ledger.checkpoint_at(new_size) if new_size is not None else ledger.latest_checkpoint()
        )
        obj = consistency_proof_json(ledger, older, newer)
    if as_json:
        _print_json(obj)
        return
    out.print(f"size {obj['old_size']} -> {obj['new_size']}: consistent")
    for p in obj["proof"]:
        out.print(f"  {p}", highlight=False)


@app.command()
@handles_errors
def entries(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="Case id.")],
    event: Annotated[
        list[str] | None, typer.Option(help="Only entries of this event (repeatable).")
    ] = None,
    url: UrlOption = None,
    key: UrlKeyOption = None,
) -> None:
    """Print a case's entries, one JSON object per line (seq, leaf hash, body).

    For instance which list files a screening used:
    ``dozvil ledger entries CASE --event screening_completed``. With ``--url`` the entries
    are the served log's, printed once the whole case verifies (``verify --case``).
    """
    wanted = set(event or ())
    found: Iterable[Entry]
    if url is not None:
        # verify_case checks the checkpoint against the key history itself
        initial = _url_key(key)
        source = ServedSource.pin(http_fetch(url), url.rstrip("/"), initial)
        found = verify_case(source, initial, case).entries
    else:
        ledger = _cfg(ctx).ledger(signing=False)
        seqs = ledger.case_seqs(case)
        if not seqs:
            raise MalformedInput(f"no entries for case {case!r}")
        found = (ledger.entry(seq) for seq in seqs)
    for entry in found:
        if not wanted or entry.event in wanted:
            sys.stdout.write(json.dumps(_entry_json(entry), ensure_ascii=False) + "\n")


@app.command()
@handles_errors
def receipt(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="Case id.")],
    key: Annotated[str, typer.Option(help="The log's first verifier key (or a file of it).")],
    seq: Annotated[list[int] | None, typer.Option(help="Only these entries (repeatable).")] = None,
    output: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
    url: UrlOption = None,
) -> None:
    """Write a case receipt: its entries, inclusion proofs and the signed checkpoint (JSON).

    With ``--url`` it is built from the served log alone (tiles, entries, checkpoints)."""
    receipt_doc: dict[str, Any]
    if url is not None:
        log = _served(url, key)
        proofs = ServedProofs(log)
        receipt_doc = build_receipt(log.source, proofs, _trust_key(key), case, seq or None)
    else:
        ledger = _cfg(ctx).ledger(signing=False)
        receipt_doc = build_receipt(ledger, ledger, _trust_key(key), case, seq or None)
    doc = dumps_receipt(receipt_doc)
    if output is None:
        sys.stdout.write(doc)
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(doc)
    os.replace(tmp, output)
    err.print(f"wrote receipt for case {case} to {output}")
