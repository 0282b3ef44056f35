"""Replay the committed histories of cases (finished, and ones still running with an issued
licence) against today's workflow code: a change that would make a running case's history
non-deterministic fails here (record them again only
for a deliberate, ``workflow.patched`` change: see ``record_histories.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.licence_case import LicenceCase

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "issued",  # recorded before post-issuance-v1: ends at issuance
        "refused_after_disagreement",  # likewise, at refusal
        "withdrawn",
        "v2_licence_in_use",  # shipments, a verification, suspension and reinstatement
        "v2_appealed",  # refusal, appeal, approval, issuance
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=[LicenceCase], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
