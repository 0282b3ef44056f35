"""The one error hierarchy of the ledger library.

Every failure the ledger reports is a :class:`LedgerError`. Subclasses exist only where a caller
reacts differently: the CLI maps :class:`MalformedInput` to exit code 2 and
:class:`VerificationFailed` to exit code 1, the append path turns :class:`IdempotencyConflict`
into a refused request, and so on.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error raised by :mod:`ledger`."""


class MalformedInput(LedgerError):
    """Input that does not parse: a bad checkpoint, note, tile path, entry body, key string."""


class EntryTooLarge(MalformedInput):
    """An entry body longer than the tlog-tiles bundle limit of 65,535 bytes."""


class IdempotencyConflict(LedgerError):
    """The same idempotency key was used before with different content; nothing was written."""


class UnknownKey(LedgerError):
    """A signature or statement names a key that is not known (or not valid) at that point."""


class InsecureKeyFile(LedgerError):
    """A private key file that is readable by group or others."""


class StatementRejected(LedgerError):
    """An actor statement that must not be accepted; ``reason`` names the check that failed.

    Reasons: ``malformed``, ``unknown-key``, ``revoked-key``, ``bad-signature``, ``expired``,
    ``not-yet-valid``, ``replayed-nonce``, ``wrong-case``, ``wrong-step``, ``wrong-issuer``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"statement rejected ({reason}): {message}")
        self.reason = reason


class VerificationFailed(LedgerError):
    """A check of the log failed. ``check`` names the check, ``seq`` the first bad entry.

    The message names the check, the entry and both sides, for example
    ``entry 1041 (case UA-2026-0193): prev-chain: got 3f9a…, want a91c…``.
    """

    def __init__(
        self,
        check: str,
        message: str,
        *,
        seq: int | None = None,
        case_id: str | None = None,
    ) -> None:
        where = ""
        if seq is not None:
            where = f"entry {seq}"
            if case_id is not None:
                where += f" (case {case_id})"
            where += ": "
        super().__init__(f"{where}{check}: {message}")
        self.check = check
        self.seq = seq
        self.case_id = case_id
        self.detail = message
