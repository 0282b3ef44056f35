"""The printable licence: one self-contained HTML page (A4), with the document in a QR code.

The page shows what the issuance entry says — licence number, case, validity, provisos, the
ceilings (when the document opens them) — and where it sits in the log (origin, entry, the
checkpoint's size and root). It carries the document twice, both the same payload
(:mod:`licence.payload`): as a QR code (an inline PNG, made with ``segno``) for customs with a
phone or scanner, and in a ``<script type="application/json" id="dozvil-licence">`` block for
``dozvil licence verify licence.html``. Everything taken from the document is HTML-escaped.

The QR code takes error correction M (or better, when the version has room) and falls back to
L when the payload does not fit at M; it is printed at 0.5 mm a module.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import segno

from ledger.encoding import encode_base64
from ledger.entry import parse_time
from ledger.errors import MalformedInput
from licence import payload as payload_codec
from licence.document import Document
from licence.verify import BLOCK_ID, LicenceReport, inspect_document

#: Printed size of one QR module (the quiet zone included).
MODULE_MM = 0.5
_PNG_SCALE = 4  # pixels a module in the embedded image; the CSS sets the printed size


@dataclass(frozen=True)
class QrCode:
    """The QR code of a payload: version (1-40) and error correction level (L, M, Q, H)."""

    code: segno.QRCode
    version: int
    error: str


@dataclass(frozen=True)
class RenderedLicence:
    html: str
    payload: str
    qr: QrCode
    report: LicenceReport


def qr_code(payload: str) -> QrCode:
    """The smallest QR code holding ``payload`` at error correction M or better, else at L.

    Raises :class:`MalformedInput` when it fits no QR code.
    """
    for level in ("M", "L"):
        try:
            code = segno.make_qr(payload, error=level, boost_error=True)
        except segno.DataOverflowError:
            continue
        return QrCode(code, int(code.version), str(code.error))
    raise MalformedInput(
        f"the licence payload ({len(payload)} characters) fits no QR code, even version 40 at "
        "error correction L"
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _script_json(value: str) -> str:
    """``value`` as JSON safe inside a ``<script>`` element (no ``<``, ``>`` or ``&``)."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_CSS = """
@page { size: A4; margin: 15mm; }
* { box-sizing: border-box; }
html { font: 10.5pt/1.4 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #111; }
body { margin: 0 auto; max-width: 180mm; padding: 8mm 0; }
@media print { body { padding: 0; } }
header { border-bottom: 0.6mm solid #111; padding-bottom: 3mm; margin-bottom: 5mm; }
header p { margin: 0; font-size: 9pt; text-transform: uppercase; letter-spacing: 0.08em; }
h1 { margin: 1mm 0 0; font-size: 20pt; }
h2 { font-size: 11pt; margin: 6mm 0 2mm; border-bottom: 0.2mm solid #999; }
.top { display: flex; gap: 8mm; align-items: flex-start; justify-content: space-between; }
dl { display: grid; grid-template-columns: max-content auto; gap: 1.5mm 5mm; margin: 0; }
dt { font-weight: bold; }
dd { margin: 0; overflow-wrap: anywhere; }
figure { margin: 0; text-align: center; break-inside: avoid; }
figure img { image-rendering: pixelated; display: block; }
figcaption { font-size: 8pt; max-width: 80mm; margin: 1.5mm auto 0; }
table { border-collapse: collapse; width: 100%; break-inside: avoid; }
th, td { border: 0.2mm solid #777; padding: 1.2mm 2mm; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 8.5pt; }
footer { margin-top: 8mm; font-size: 8.5pt; border-top: 0.2mm solid #999; padding-top: 2mm; }
""".strip()


def _ceilings(report: LicenceReport) -> str:
    if report.ceilings is None:
        return "<p>Not disclosed in this document (no opening of the ceilings).</p>"
    if not report.ceilings:
        return "<p>None.</p>"
    rows = "\n".join(
        f'<tr><td>{_e(c.rating)}</td><td class="num">{_e(c.quantity)}</td>'
        f'<td class="num">{_e(c.value)}</td><td>{_e(c.currency)}</td></tr>'
        for c in report.ceilings
    )
    return (
        "<table><thead><tr><th>Rating</th><th>Quantity</th><th>Value</th><th>Currency</th>"
        f"</tr></thead>\n<tbody>\n{rows}\n</tbody></table>"
    )


def _provisos(report: LicenceReport) -> str:
    if not report.provisos:
        return "<p>None.</p>"
    items = "\n".join(f"<li>{_e(p)}</li>" for p in report.provisos)
    return f"<ol>\n{items}\n</ol>"


def render(document: Document) -> RenderedLicence:
    """The printable page of ``document``.

    The document's parts must agree (:func:`licence.verify.inspect_document`: one
    ``licence_issued`` entry, its licence number, openings that open); its signature is not
    checked here. Raises :class:`ledger.errors.LedgerError` naming the fault.
    """
    report = inspect_document(document)
    payload = payload_codec.encode(document)
    qr = qr_code(payload)
    width, _ = qr.code.symbol_size(scale=1)
    size_mm = f"{float(width) * MODULE_MM:g}mm"
    image = qr.code.png_data_uri(scale=_PNG_SCALE)
    number = _e(report.licence_number)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Export licence {number}</title>
<style>
{_CSS}
</style>
</head>
<body>
<header>
<p>Export licence</p>
<h1>{number}</h1>
</header>
<div class="top">
<dl>
<dt>Licence number</dt><dd>{number}</dd>
<dt>Case</dt><dd>{_e(report.case_id)}</dd>
<dt>Valid from</dt><dd>{_e(_when(report.valid_from))}</dd>
<dt>Valid until</dt><dd>{_e(_when(report.valid_until))}</dd>
<dt>Issued</dt><dd>{_e(_when(parse_time(report.issued_at)))}</dd>
</dl>
<figure>
<img src="{_e(image)}" alt="QR code carrying this licence document"
 style="width: {_e(size_mm)}; height: {_e(size_mm)}">
<figcaption>The QR code carries this whole document (QR version {qr.version}, error
correction {_e(qr.error)}), signed by the licensing authority's log.</figcaption>
</figure>
</div>
<h2>Ceilings</h2>
{_ceilings(report)}
<h2>Provisos</h2>
{_provisos(report)}
<h2>Ledger</h2>
<dl>
<dt>Log</dt><dd class="mono">{_e(report.origin)}</dd>
<dt>Entry</dt><dd>{report.seq}</dd>
<dt>Checkpoint</dt><dd>tree size {report.checkpoint_size}, root
<span class="mono">{_e(encode_base64(report.root_hash))}</span></dd>
<dt>Log key rotations</dt><dd>{report.key_rotations}</dd>
</dl>
<footer>
<p>To check this licence offline, with the log's public key as the licensing authority
publishes it: <span class="mono">dozvil licence verify FILE --key '&lt;log key&gt;'</span>,
where FILE is this page or the text of the QR code. A genuine document proves that the licence
was issued as shown above; whether it has since been suspended, revoked or used up is recorded
later in the case and must be checked with the authority.</p>
</footer>
<script type="application/json" id="{BLOCK_ID}">{_script_json(payload)}</script>
</body>
</html>
"""
    return RenderedLicence(page, payload, qr, report)
