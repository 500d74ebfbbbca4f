"""``GET /dataset/rows``: the data set's rows, filtered, sorted, paged by cursor, as JSON, CSV or NDJSON.

Rows are read from the columns in Redis (never from a CSV), fetching only the columns a request
filters, sorts or shows. A JSON page holds ``_size`` rows and a ``next`` cursor; CSV and NDJSON
stream every matching row, formatted ``STREAM_CHUNK_ROWS`` at a time. Numbers are written as
Python's shortest round-trip repr, so a reader gets back the stored float64 exactly.

Order: the file's order, or ``_sort``/``_sort_desc`` with equal values in the file's order. The
cursor names the last row shown (its sort value and position) and a digest of the data-set
version, filter and sort: a cursor from another query or version is a 400, never a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.dataset.columns import DIAGNOSIS, ID, ColumnCache
from shared.dataset.features import FEATURES, canonical_name, unknown_feature
from shared.dataset.filters import Filter, is_filter_parameter, parse_filter
from shared.errors import ApiError, bad_request

if TYPE_CHECKING:
    import numpy as np

PARAMETERS = ("_size", "_next", "_sort", "_sort_desc", "_col", "format")
FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
}
DEFAULT_SIZE, MAX_SIZE = 50, 1000
#: Rows formatted at a time when streaming CSV or NDJSON: the body is never built whole.
STREAM_CHUNK_ROWS = 10_000
#: Characters of the query digest a cursor carries.
DIGEST_CHARS = 16


@dataclass(frozen=True)
class RowQuery:
    """A parsed ``/dataset/rows`` request."""

    filter: Filter
    features: tuple[str, ...]  # the feature columns shown, besides id and diagnosis
    sort: str | None = None  # a feature or "id"; None = the file's order
    descending: bool = False
    size: int = DEFAULT_SIZE
    cursor: str | None = None
    format: str = "json"

    def columns(self) -> list[str]:
        """The columns the answer reads besides ``id``: the filter's, the sort key's and the shown ones."""
        sort = [self.sort] if self.sort not in (None, ID) else []
        return list(dict.fromkeys([*self.filter.columns(), *sort, DIAGNOSIS, *self.features]))

    def digest(self, version: str) -> str:
        """What a cursor is bound to: the data-set version, the filter and the order."""
        canonical = json.dumps([version, self.filter.query(), self.sort, self.descending])
        return hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_CHARS]


def _one(args: Mapping[str, list[str]], name: str) -> str | None:
    values = args.get(name, [])
    if len(values) > 1:
        raise bad_request("invalid_parameter", f"{name} is given {len(values)} times", parameter=name)
    return values[0] if values else None


def _sort_key(name: str, raw: str) -> str:
    if raw == ID:
        return ID
    feature = canonical_name(raw)
    if feature is None:
        error = unknown_feature(raw, name)
        error.details["parameter"] = name
        raise error
    return feature


def _shown(raws: list[str]) -> tuple[str, ...]:
    if not raws:
        return FEATURES
    shown = []
    for raw in raws:
        if raw in (ID, DIAGNOSIS):  # always shown
            continue
        feature = canonical_name(raw)
        if feature is None:
            error = unknown_feature(raw, "_col")
            error.details["parameter"] = "_col"
            raise error
        shown.append(feature)
    return tuple(dict.fromkeys(shown))


def parse_query(args: Mapping[str, list[str]]) -> RowQuery:
    """Validate every parameter; a bad one is a 400 whose ``parameter`` names it."""
    unknown = sorted(name for name in args if name not in PARAMETERS and not is_filter_parameter(name))
    if unknown:
        raise bad_request(
            "unknown_parameter",
            f"unknown parameter(s) {', '.join(u[:40] for u in unknown)}; rows take diagnosis, "
            f"<feature>__gt|__gte|__lt|__lte|__eq and {', '.join(PARAMETERS)}",
            parameter=unknown[0][:40],
        )
    row_filter = parse_filter(args)
    format_ = _one(args, "format")
    format_ = "json" if format_ is None else format_
    if format_ not in FORMATS:
        raise bad_request("invalid_parameter", "format: expected json, csv or ndjson", parameter="format")
    sort, sort_desc = _one(args, "_sort"), _one(args, "_sort_desc")
    if sort is not None and sort_desc is not None:
        raise bad_request(
            "invalid_parameter", "_sort and _sort_desc: give one of them", parameter="_sort_desc"
        )
    order = sort if sort is not None else sort_desc
    key = _sort_key("_sort" if sort is not None else "_sort_desc", order) if order is not None else None
    size_raw, cursor = _one(args, "_size"), _one(args, "_next")
    if format_ != "json":
        for name, given in (("_size", size_raw), ("_next", cursor)):
            if given is not None:
                raise bad_request(
                    "invalid_parameter",
                    f"{name}: format={format_} streams every matching row; {name} pages JSON only",
                    parameter=name,
                )
    size = DEFAULT_SIZE
    if size_raw is not None:
        if not size_raw.strip().isdigit() or not 1 <= int(size_raw) <= MAX_SIZE:
            raise bad_request(
                "invalid_parameter",
                f"_size: {size_raw[:20]!r} is not a whole number from 1 to {MAX_SIZE}",
                parameter="_size",
            )
        size = int(size_raw)
    return RowQuery(
        row_filter, _shown(args.get("_col", [])), key, sort_desc is not None, size, cursor, format_
    )


# cursors -------------------------------------------------------------------------------------------


def encode_cursor(digest: str, key: float | int | None, position: int) -> str:
    raw = json.dumps([digest, key, position], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, digest: str) -> tuple[float | int | None, int]:
    """The sort value and position of the last row shown; a 400 for a cursor of another query."""
    invalid = bad_request(
        "invalid_parameter",
        "_next: not a cursor of this query; follow the next link as given",
        parameter="_next",
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        given, key, position = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise invalid from None
    valid_key = key is None or (isinstance(key, int | float) and not isinstance(key, bool))
    if not (isinstance(position, int) and position >= 0 and valid_key):
        raise invalid
    if given != digest:
        raise bad_request(
            "invalid_parameter",
            "_next: the cursor belongs to another filter, order or data-set version; start again without it",
            parameter="_next",
        )
    return key, position


# selecting -----------------------------------------------------------------------------------------


@dataclass
class Selection:
    """The matching rows of one request, over the columns it read."""

    query: RowQuery
    version: str
    data: dict[str, np.ndarray]
    mask: np.ndarray

    @property
    def total(self) -> int:
        return int(self.mask.sum())

    def counts(self) -> dict[str, int]:
        malignant = int((self.mask & self.data[DIAGNOSIS]).sum())
        return {"benign": self.total - malignant, "malignant": malignant}

    def _key(self) -> np.ndarray | None:
        """The sort values, negated for a descending order: ascending order of the key is the answer's."""
        if self.query.sort is None:
            return None
        values = self.data[self.query.sort]
        return -values if self.query.descending else values

    def ordered(self) -> np.ndarray:
        """Every matching row's position, in the answer's order (equal values: the file's order)."""
        import numpy as np

        positions = np.flatnonzero(self.mask)
        key = self._key()
        if key is None:
            return positions
        return positions[np.argsort(key[positions], kind="stable")]

    def page(self) -> tuple[np.ndarray, str | None]:
        """The positions of the rows of this page, and the cursor of the next page (None at the end)."""
        import numpy as np

        key, size = self._key(), self.query.size
        selected = self.mask
        if self.query.cursor is not None:
            after, position = decode_cursor(self.query.cursor, self.query.digest(self.version))
            if (after is None) != (key is None):
                raise bad_request("invalid_parameter", "_next: not a cursor of this query", parameter="_next")
            if key is None:
                selected = selected.copy()
                selected[: position + 1] = False
            else:
                after = -after if self.query.descending else after
                ties = np.flatnonzero(selected & (key == after))
                selected = selected & (key > after)
                selected[ties[ties > position]] = True
        candidates = np.flatnonzero(selected)
        more = candidates.size > size
        if key is None:
            chosen = candidates[:size]
        else:
            keys = key[candidates]
            if more:  # only the rows up to the size-th smallest key need sorting
                keep = keys <= np.partition(keys, size - 1)[size - 1]
                candidates, keys = candidates[keep], keys[keep]
            chosen = candidates[np.lexsort((candidates, keys))][:size]
        if not more:
            return chosen, None
        last = int(chosen[-1])
        last_key = None if self.query.sort is None else self.data[self.query.sort][last].item()
        return chosen, encode_cursor(self.query.digest(self.version), last_key, last)


def select(query: RowQuery, columns: ColumnCache, version: str) -> Selection:
    """The rows ``query`` selects, reading only the columns it needs."""
    data = {**columns.columns(query.columns(), version), ID: columns.ids(version)}
    mask = query.filter.mask(data, int(data[DIAGNOSIS].size))
    return Selection(query, version, data, mask)


# formatting ----------------------------------------------------------------------------------------


def _values(data: Mapping[str, np.ndarray], features: tuple[str, ...], positions: np.ndarray) -> list[list]:
    """Columns of Python values at ``positions``: ids, "M"/"B", then each shown feature."""
    letters = ["M" if m else "B" for m in data[DIAGNOSIS][positions].tolist()]
    return [data[ID][positions].tolist(), letters, *(data[f][positions].tolist() for f in features)]


def records(data: Mapping[str, np.ndarray], features: tuple[str, ...], positions: np.ndarray) -> list[dict]:
    """Rows as JSON objects: ``{"id", "diagnosis", <feature>: value, ...}``."""
    names = (ID, DIAGNOSIS, *features)
    return [
        dict(zip(names, row, strict=True)) for row in zip(*_values(data, features, positions), strict=True)
    ]


def page_body(selection: Selection, next_url: str | None, positions: np.ndarray) -> dict[str, Any]:
    return {
        "rows": records(selection.data, selection.query.features, positions),
        "total": selection.total,
        "counts": selection.counts(),
        "next": next_url,
    }


def stream(selection: Selection) -> Iterator[bytes]:
    """Every matching row as CSV (with a header line) or NDJSON, ``STREAM_CHUNK_ROWS`` rows a chunk."""
    features = selection.query.features
    names = (ID, DIAGNOSIS, *features)
    if selection.query.format == "csv":
        line = ",".join(["%d", "%s", *["%r"] * len(features)])
        yield (",".join(names) + "\n").encode()
    else:  # ndjson: one JSON object a line; a float's repr is valid JSON (the values are finite)
        fields = [f'"{ID}":%d', f'"{DIAGNOSIS}":"%s"', *(f'"{f}":%r' for f in features)]
        line = "{" + ",".join(fields) + "}"
    positions = selection.ordered()
    for start in range(0, positions.size, STREAM_CHUNK_ROWS):
        chunk = positions[start : start + STREAM_CHUNK_ROWS]
        text = "\n".join(line % row for row in zip(*_values(selection.data, features, chunk), strict=True))
        yield (text + "\n").encode()


def find_case(case_id: str, columns: ColumnCache, version: str) -> dict[str, Any]:
    """One case by its id: a 400 for an id that is not a whole number, a 404 for an unknown one."""
    import numpy as np

    if not case_id.isdigit() or len(case_id) > 18:
        raise bad_request("invalid_id", f"{case_id[:40]!r} is not a case id (a whole number)", parameter="id")
    ids = columns.ids(version)
    found = np.flatnonzero(ids == int(case_id))
    if not found.size:
        raise ApiError(404, "unknown_case", f"no case has id {int(case_id)} in data set {version[:12]}")
    data = columns.columns([DIAGNOSIS, *FEATURES], version)
    return records({**data, ID: ids}, FEATURES, found[:1])[0]
