"""The licence document end to end: a real issuance entry in a SQLite ledger, the document the
``licence.document`` activity makes, the printed page, its QR code read back by an independent
decoder (zxing-cpp), and every tampering refused with its reason."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from activities.ledger import LedgerActivities
from cli.main import build_app
from ledger.canonical import canonicalize
from ledger.commitments import SALT_SIZE
from ledger.entry import Actor
from ledger.errors import LedgerError, VerificationFailed
from ledger.note import Signer
from ledger.receipts import build_receipt
from ledger.store.sql import AppendRequest, SqlLedger
from licence.document import Document, UnreadableDocument
from licence.payload import decode, encode
from licence.render import render
from licence.verify import BLOCK_ID, Ceiling, LicenceReport, verify_document
from runtime.settings import Settings
from tests.conftest import ORIGIN
from workflows.models import LicenceInput

SYSTEM = Actor("dozvil", "system")
CASE = "UA-2026-0042"
NUMBER = f"L-{CASE}"
VALID_FROM = "2026-03-14T09:26:53.589793Z"
VALID_UNTIL = "2028-03-13T09:26:53.589793Z"
PROVISOS = [
    "No re-export without the authority's prior written consent",
    "Delivery verification certificate <within> 90 days & on request",
]
CEILINGS: list[dict[str, Any]] = [
    {"rating": "ML10", "quantity": 120, "value": "2400000.00", "currency": "EUR"},
    {"rating": "5A001", "quantity": 60, "value": "145000.00", "currency": "EUR"},
]


@dataclass
class Issued:
    ledger: SqlLedger
    vkey: str
    seq: int

    def document(self) -> Document:
        """What the workflow's ``licence`` query returns, as JSON: the activity's document."""
        made = LedgerActivities(self.ledger)._document(
            LicenceInput(case_id=CASE, issuance_seq=self.seq)
        )
        return Document.from_json(made.model_dump(mode="json"))


def _fill(ledger: SqlLedger, tag: str, n: int) -> None:
    ledger.append_batch(
        [
            AppendRequest(f"{tag}/{i}", f"UA-2026-9{i % 7}", "submit", SYSTEM, data={"n": i})
            for i in range(n)
        ]
    )


def issue(ledger: SqlLedger, *, rotate_before: Signer | None = None) -> int:
    """The case's submission, other cases around it, and its issuance entry; returns its seq."""
    ledger.append(
        AppendRequest(
            f"{CASE}/1",
            CASE,
            "submit",
            Actor("exporter-1", "applicant"),
            to_state="submitted",
            data={"exporter_id": "ua-exp-0042", "destination": "PL", "ratings": ["ML10", "5A001"]},
        )
    )
    _fill(ledger, "before", 300)
    if rotate_before is not None:
        ledger.rotate_log_key(rotate_before, Actor("admin", "log_admin"))
    issued = ledger.append(
        AppendRequest(
            f"{CASE}/2",
            CASE,
            "licence_issued",
            SYSTEM,
            from_state="approved",
            to_state="issued",
            data={
                "licence_number": NUMBER,
                "valid_from": VALID_FROM,
                "valid_until": VALID_UNTIL,
                "provisos": PROVISOS,
                "clock": {"statutory": "stopped"},
            },
            confidential={"ceilings": CEILINGS},
        )
    )
    _fill(ledger, "after", 37)
    return issued.entries[0].seq


@pytest.fixture
def store(tmp_path: Path, log_signer: Signer) -> Iterator[SqlLedger]:
    ledger = SqlLedger.open(f"sqlite:///{tmp_path / 'ledger.db'}", log_signer)
    ledger.init(ORIGIN)
    yield ledger
    ledger.engine.dispose()


@pytest.fixture
def issued(store: SqlLedger, log_signer: Signer) -> Issued:
    return Issued(store, log_signer.verifier.vkey, issue(store))


def expect_genuine(report: LicenceReport, issued: Issued) -> None:
    assert report.licence_number == NUMBER
    assert report.case_id == CASE
    assert report.seq == issued.seq
    assert report.valid_from == datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
    assert report.valid_until == datetime(2028, 3, 13, 9, 26, 53, 589793, tzinfo=UTC)
    assert report.provisos == PROVISOS
    assert report.ceilings == [Ceiling(**c) for c in CEILINGS]
    assert report.origin == ORIGIN
    assert report.checkpoint_size == issued.ledger.latest_checkpoint().checkpoint.size


def refused(text: str, vkey: str, check: str) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        verify_document(text, vkey)
    assert isinstance(caught.value, VerificationFailed), caught.value
    assert caught.value.check == check, caught.value
    return caught.value


def block_of(page: str) -> str:
    found = re.findall(rf'<script type="application/json" id="{BLOCK_ID}">(.*?)</script>', page)
    assert len(found) == 1
    payload = json.loads(found[0])
    assert isinstance(payload, str)
    return payload


def with_block(page: str, payload: str) -> str:
    old = json.dumps(block_of(page))
    assert page.count(old) == 1
    return page.replace(old, json.dumps(payload))


def qr_text(page: str) -> list[str]:
    """Every QR code in the page's images, read by zxing-cpp from the PNG data URIs."""
    texts: list[str] = []
    for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        for found in zxingcpp.read_barcodes(image):
            assert found.valid
            assert found.format == zxingcpp.BarcodeFormat.QRCode
            texts.append(found.text)
    return texts


def _json(document: Document) -> str:
    return json.dumps(document.to_json(), indent=2)


def _changed(document: Document, **fields: Any) -> Document:
    data = json.loads(json.dumps(document.to_json()))
    data.update(fields)
    return Document.from_json(data)


# -- genuine documents -----------------------------------------------------------------------


def test_the_activity_puts_the_openings_of_the_ceilings_in_the_document(issued: Issued) -> None:
    document = issued.document()
    assert document.licence_number == NUMBER
    assert document.openings.keys() == {"ceilings"}
    assert document.openings["ceilings"]["value"] == CEILINGS
    assert len(base64.b64decode(document.openings["ceilings"]["salt"])) == SALT_SIZE


def test_render_then_verify_from_the_page_the_payload_and_the_json(issued: Issued) -> None:
    document = issued.document()
    page = render(document)
    assert block_of(page.html) == page.payload == encode(document)
    for text in (page.html, page.payload, page.payload + "\n", _json(document)):
        expect_genuine(verify_document(text, issued.vkey), issued)


def test_the_qr_code_carries_the_payload(issued: Issued) -> None:
    page = render(issued.document())
    assert qr_text(page.html) == [page.payload]
    expect_genuine(verify_document(qr_text(page.html)[0], issued.vkey), issued)
    assert page.qr.error in {"M", "Q", "H"}  # a realistic document fits at M or better
    assert 1 <= page.qr.version <= 40


def test_the_page_shows_the_licence_and_escapes_everything(issued: Issued) -> None:
    html = render(issued.document()).html
    for shown in (NUMBER, CASE, "2026-03-14 09:26:53 UTC", "2028-03-13 09:26:53 UTC", ORIGIN):
        assert shown in html
    assert "Delivery verification certificate &lt;within&gt; 90 days &amp; on request" in html
    assert "<within>" not in html
    assert "<td>ML10</td>" in html and ">2400000.00<" in html and ">5A001<" in html
    assert f">{issued.seq}</dd>" in html
    assert "@page { size: A4" in html


def test_data_cannot_break_out_of_the_page(store: SqlLedger, log_signer: Signer) -> None:
    evil = '</script><script>alert("x")</script>'
    seq = (
        store.append(
            AppendRequest(
                "evil/1",
                "UA-EVIL",
                "licence_issued",
                SYSTEM,
                data={
                    "licence_number": evil,
                    "valid_from": VALID_FROM,
                    "valid_until": VALID_UNTIL,
                    "provisos": [evil],
                },
                confidential={
                    "ceilings": [{"rating": evil, "quantity": 1, "value": "1", "currency": "<b>"}]
                },
            )
        )
        .entries[0]
        .seq
    )
    made = LedgerActivities(store)._document(LicenceInput(case_id="UA-EVIL", issuance_seq=seq))
    page = render(Document.from_json(made.model_dump(mode="json"))).html
    assert "<script>" not in page
    assert page.count("</script>") == 1  # the licence block's own end tag
    assert "<b>" not in page
    report = verify_document(page, log_signer.verifier.vkey)
    assert report.licence_number == evil and report.provisos == [evil]


def test_a_document_without_openings_verifies_and_withholds_the_ceilings(issued: Issued) -> None:
    bare = _changed(issued.document(), openings={})
    report = verify_document(render(bare).html, issued.vkey)
    assert report.ceilings is None
    assert "Not disclosed in this document" in render(bare).html


def test_the_validity_window(issued: Issued) -> None:
    report = verify_document(_json(issued.document()), issued.vkey)
    assert report.validity(datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)) == "not-yet-valid"
    assert report.validity(datetime(2027, 1, 1, tzinfo=UTC)) == "valid"
    assert report.validity(report.valid_until) == "valid"
    assert report.validity(datetime(2028, 3, 14, tzinfo=UTC)) == "expired"


def test_a_receipt_after_log_key_rotations_verifies_with_the_first_key(
    store: SqlLedger, log_signer: Signer
) -> None:
    first = log_signer.verifier.vkey
    second, third = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    seq = issue(store, rotate_before=second)  # the issuance is signed by the second key only
    store.rotate_log_key(third, Actor("admin", "log_admin"))
    store.append(AppendRequest("last/1", "UA-2026-91", "submit", SYSTEM))
    document = Issued(store, first, seq).document()
    assert len(document.receipt["key_rotations"]) == 2
    page = render(document)
    assert qr_text(page.html) == [page.payload]
    report = verify_document(page.html, first)
    expect_genuine(report, Issued(store, first, seq))
    assert report.key_rotations == 2
    refused(page.html, third.verifier.vkey, "log-key-history")  # the chain starts at first


# -- tampering -------------------------------------------------------------------------------


def test_a_changed_ceiling_in_the_embedded_block_is_refused(issued: Issued) -> None:
    page = render(issued.document()).html
    document = decode(block_of(page))
    document.openings["ceilings"]["value"][0]["value"] = "9999999.00"
    forged = with_block(page, encode(document))
    error = refused(forged, issued.vkey, "commitment-opening")
    assert "field 'ceilings': opening does not match" in str(error)


def test_a_changed_licence_number_is_refused(issued: Issued) -> None:
    forged = _changed(issued.document(), licence_number="L-UA-2026-9999")
    error = refused(_json(forged), issued.vkey, "licence-number")
    assert "'L-UA-2026-9999'" in str(error) and repr(NUMBER) in str(error)
    page = render(issued.document()).html
    refused(with_block(page, encode(forged)), issued.vkey, "licence-number")


def test_a_changed_validity_in_the_entry_body_is_refused(issued: Issued) -> None:
    document = issued.document()
    entry = document.receipt["entries"][0]
    body = json.loads(base64.b64decode(entry["body"]))
    body["data"]["valid_until"] = "2031-03-13T09:26:53.589793Z"
    entry["body"] = base64.b64encode(canonicalize(body)).decode()
    refused(encode(document), issued.vkey, "inclusion")


def test_a_swapped_checkpoint_is_refused(issued: Issued) -> None:
    document = issued.document()
    issued.ledger.append(AppendRequest("later/1", "UA-2026-91", "submit", SYSTEM))
    later = issued.ledger.latest_checkpoint_note()  # genuinely signed, of another tree
    refused(encode(_changed(document, receipt={**document.receipt, "checkpoint": later})),
            issued.vkey, "inclusion")  # fmt: skip
    cp = document.receipt["checkpoint"]
    lines = cp.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()  # another root under the old signature
    forged = {**document.receipt, "checkpoint": "\n".join(lines)}
    refused(encode(_changed(document, receipt=forged)), issued.vkey, "checkpoint-signature")


def test_a_wrong_public_key_is_refused(issued: Issued) -> None:
    page = render(issued.document()).html
    other = Signer.generate(ORIGIN).verifier.vkey
    error = refused(page, other, "checkpoint-signature")
    assert other in str(error)


def test_a_receipt_for_another_entry_of_the_case_is_refused(issued: Issued) -> None:
    ledger = issued.ledger
    submit = ledger.case_seqs(CASE)[0]
    receipt = build_receipt(ledger, ledger, issued.vkey, CASE, seqs=[submit])
    forged = Document(NUMBER, receipt, {})
    error = refused(encode(forged), issued.vkey, "licence-event")
    assert "'submit' entry" in str(error)
    both = build_receipt(ledger, ledger, issued.vkey, CASE)
    refused(encode(Document(NUMBER, both, {})), issued.vkey, "licence-entry-count")


def test_an_opening_that_does_not_open_is_refused(issued: Issued) -> None:
    document = issued.document()
    other_salt = base64.b64encode(bytes(SALT_SIZE)).decode()
    opening = {**document.openings["ceilings"], "salt": other_salt}
    refused(encode(_changed(document, openings={"ceilings": opening})), issued.vkey,
            "commitment-opening")  # fmt: skip
    stray = {**document.openings, "end_user": document.openings["ceilings"]}
    error = refused(encode(_changed(document, openings=stray)), issued.vkey, "commitment-opening")
    assert "'end_user' is not committed" in str(error)
    broken = {"ceilings": {"salt": "not base64", "value": []}}
    refused(encode(_changed(document, openings=broken)), issued.vkey, "commitment-opening")


def test_a_page_with_two_licence_blocks_is_refused(issued: Issued) -> None:
    page = render(issued.document()).html
    block = page[page.index("<script type") : page.index("</script>") + len("</script>")]
    refused(page.replace(block, block + block), issued.vkey, "document-shape")


def test_a_json_document_naming_a_member_twice_is_refused(issued: Issued) -> None:
    text = _json(issued.document())
    twice = text.replace('"licence_number": ', '"licence_number": "L-OTHER", "licence_number": ', 1)
    error = refused(twice, issued.vkey, "document-shape")
    assert "'licence_number' appears twice" in str(error)


def test_text_with_no_licence_document_is_unreadable(issued: Issued) -> None:
    for text in ("hello", "<html><body>no licence here</body></html>", "{not json"):
        with pytest.raises(UnreadableDocument):
            verify_document(text, issued.vkey)


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return build_app(Settings(_env_file=None, data_dir=tmp_path / "var"))


def test_cli_render_then_verify(
    issued: Issued, runner: CliRunner, app: Any, tmp_path: Path
) -> None:
    doc = tmp_path / "licence.json"
    doc.write_text(_json(issued.document()))
    html = tmp_path / "licence.html"
    done = runner.invoke(app, ["licence", "render", str(doc), "-o", str(html)])
    assert done.exit_code == 0, done.output
    assert "QR version" in done.output
    done = runner.invoke(app, ["licence", "verify", str(html), "--key", issued.vkey,
                               "--at", "2027-01-01T00:00:00Z"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "GENUINE" in done.stdout and "NOT GENUINE" not in done.stdout
    for shown in (NUMBER, CASE, "within the validity window", "2400000.00", "no re-export"):
        assert shown.lower() in done.stdout.lower()
    assert "current status" in done.stdout


def test_cli_verify_json_from_the_qr_text_and_a_key_file(
    issued: Issued, runner: CliRunner, app: Any, tmp_path: Path
) -> None:
    scanned = tmp_path / "scanned.txt"
    scanned.write_text(render(issued.document()).payload + "\n")
    key_file = tmp_path / "log.vkey"
    key_file.write_text(issued.vkey + "\n")
    done = runner.invoke(app, ["licence", "verify", str(scanned), "--key-file", str(key_file),
                               "--at", "2029-01-01", "--json"])  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["genuine"] is True
    assert result["licence_number"] == NUMBER
    assert result["validity"] == "expired"
    assert result["ceilings"] == CEILINGS
    assert result["valid_until"] == "2028-03-13T09:26:53.589793Z"


def test_cli_an_expired_licence_is_still_genuine(
    issued: Issued, runner: CliRunner, app: Any, tmp_path: Path
) -> None:
    doc = tmp_path / "licence.json"
    doc.write_text(_json(issued.document()))
    done = runner.invoke(app, ["licence", "verify", str(doc), "--key", issued.vkey,
                               "--at", "2030-01-01T00:00:00+02:00"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "EXPIRED" in done.stdout


def test_cli_not_genuine_exits_1_with_the_reason(
    issued: Issued, runner: CliRunner, app: Any, tmp_path: Path
) -> None:
    forged = tmp_path / "forged.json"
    forged.write_text(_json(_changed(issued.document(), licence_number="L-FAKE")))
    done = runner.invoke(app, ["licence", "verify", str(forged), "--key", issued.vkey])
    assert done.exit_code == 1, done.output
    assert "NOT GENUINE" in done.stdout and "licence-number" in done.stdout
    other = Signer.generate(ORIGIN).verifier.vkey
    good = tmp_path / "licence.json"
    good.write_text(_json(issued.document()))
    done = runner.invoke(app, ["licence", "verify", str(good), "--key", other, "--json"])
    assert done.exit_code == 1, done.output
    assert json.loads(done.stdout)["check"] == "checkpoint-signature"
    scanned = tmp_path / "bad.txt"
    scanned.write_text("DZL1:not*base45*lowercase")
    done = runner.invoke(app, ["licence", "verify", str(scanned), "--key", issued.vkey])
    assert done.exit_code == 1, done.output
    assert "payload-base45" in done.stdout


def test_cli_bad_usage_exits_2(issued: Issued, runner: CliRunner, app: Any, tmp_path: Path) -> None:
    good = tmp_path / "licence.json"
    good.write_text(_json(issued.document()))
    text = tmp_path / "note.txt"
    text.write_text("just a note")
    page = tmp_path / "page.html"
    page.write_text("<html><body>nothing</body></html>")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    key = ["--key", issued.vkey]
    for args in (
        ["verify", str(tmp_path / "missing.html"), *key],
        ["verify", str(good)],
        ["verify", str(good), *key, "--key-file", str(good)],
        ["verify", str(good), "--key", "not-a-key"],
        ["verify", str(good), *key, "--at", "next tuesday"],
        ["verify", str(text), *key],
        ["verify", str(page), *key],
        ["verify", str(binary), *key],
        ["render", str(text), "-o", str(tmp_path / "out.html")],
    ):
        done = runner.invoke(app, ["licence", *args])
        assert done.exit_code == 2, (args, done.output)
