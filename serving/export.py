"""An audience as CSV, page by page: what ``python -m serving audience`` writes and what
``GET /v1/audiences/export`` streams, byte for byte.

Cells are ``customer_id,score`` with the score to six decimals; an id that a spreadsheet
would run as a formula gets a leading ``'`` (OWASP, "CSV Injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from serving.insights import Selection
from serving.reach import ScoreRange
from serving.store import AudiencePage, Store

PAGE = 10_000
HEADER = ("customer_id", "score")
# Cell openings a spreadsheet reads as a formula.
FORMULA_OPENINGS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet runs: a formula opening gets a ``'``."""
    return f"'{text}" if text.startswith(FORMULA_OPENINGS) else text


def rows_csv(page: AudiencePage, header: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(HEADER)
    writer.writerows((csv_cell(c), f"{s:.6f}") for c, s in page.customers)
    return out.getvalue()


async def csv_pages(
    store: Store, chosen: Selection, span: ScoreRange, first: AudiencePage
) -> AsyncIterator[tuple[str, int]]:
    """The CSV text of ``first`` (with the header) and of every page after it, each with the
    number of customers written so far. All pages read ``first``'s run (its cursor)."""
    page, written = first, 0
    header = True
    while True:
        written += len(page.customers)
        yield rows_csv(page, header), written
        header = False
        if page.next_cursor is None:
            return
        page = await store.audience(
            chosen.model, span.low, span.high, chosen.segment, PAGE, page.next_cursor
        )
