"""Reading the CSV files people export from spreadsheets and other tools, one way everywhere."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class CsvRow:
    line: int  # where the row starts in the file, as an editor numbers lines (a quoted cell
    # may span several lines)
    cells: list[str]


def read_rows(text: str) -> list[CsvRow]:
    """The rows of a CSV text that hold something, with the line each starts on.

    A byte-order mark is dropped, and semicolons are the separator when the first line has more
    of them than commas (spreadsheets in many European locales write them). csv.Error for text
    that is not CSV.
    """
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[CsvRow] = []
    start = 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            rows.append(CsvRow(start, cells))
        start = reader.line_num + 1
    return rows
