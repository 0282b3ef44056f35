"""The licence document for people: its QR payload, its printable page, and its check.

A licence document is the receipt of the case's single ``licence_issued`` entry (see
:mod:`ledger.receipts`) plus the openings of that entry's confidential fields (the ceilings).
:mod:`licence.payload` packs it into the text a QR code carries, :mod:`licence.render` prints
it as a self-contained HTML page, and :mod:`licence.verify` checks it offline with the log's
first public key. Imports :mod:`ledger` only: no Temporal, nothing of the workflow.
"""
