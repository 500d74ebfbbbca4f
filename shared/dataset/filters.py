"""Row filters shared by ``/dataset/rows`` and every plot: ``diagnosis=M|B`` and ``<feature>__<op>=<n>``.

A filter is parsed from a query string, normalised (one spelling, conditions sorted, repeats
dropped) so that equal filters make equal cache keys, and turned into a boolean mask over only
the columns it names. Nothing here imports numpy at module level.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.dataset.columns import DIAGNOSIS
from shared.dataset.features import canonical_name, unknown_feature
from shared.errors import bad_request

if TYPE_CHECKING:
    import numpy as np

#: The comparison each suffix makes, and how a title writes it.
OPERATORS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "="}
DIAGNOSES = {"M": "malignant", "B": "benign"}
#: A decimal number as a filter value: finite, no ``nan``, ``inf`` or ``1_000``.
NUMBER = re.compile(r"[-+]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][-+]?\d{1,3})?")


@dataclass(frozen=True, order=True)
class Condition:
    feature: str
    op: str
    value: float

    def text(self) -> str:
        return f"{self.feature} {OPERATORS[self.op]} {self.value:g}"

    def parameter(self) -> str:
        return f"{self.feature}__{self.op}"


@dataclass(frozen=True)
class Filter:
    """The rows a request selects: an optional diagnosis, and conditions all combined with AND."""

    diagnosis: str | None = None
    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return self.diagnosis is not None or bool(self.conditions)

    @classmethod
    def from_json(cls, body: dict[str, Any] | None) -> Filter:
        """The filter ``as_json`` gave."""
        if not body:
            return cls()
        conditions = tuple(Condition(c["feature"], c["op"], c["value"]) for c in body["conditions"])
        return cls(body["diagnosis"], conditions)

    def columns(self) -> list[str]:
        """The columns the mask reads (and only those)."""
        named = [c.feature for c in self.conditions]
        return list(dict.fromkeys([*named, *([DIAGNOSIS] if self.diagnosis else [])]))

    def mask(self, data: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        """True for each of ``rows`` rows the filter selects; ``data`` holds at least ``columns()``."""
        import numpy as np

        selected = np.ones(rows, dtype=bool)
        if self.diagnosis is not None:
            malignant = data[DIAGNOSIS]
            selected &= malignant if self.diagnosis == "M" else ~malignant
        for condition in self.conditions:
            values = data[condition.feature]
            compare = {
                "gt": np.greater,
                "gte": np.greater_equal,
                "lt": np.less,
                "lte": np.less_equal,
                "eq": np.equal,
            }[condition.op]
            selected &= compare(values, condition.value)
        return selected

    def as_json(self) -> dict[str, Any] | None:
        """``{"diagnosis": "M"|"B"|None, "conditions": [{"feature", "op", "value"}]}``, None if empty."""
        if not self:
            return None
        return {
            "diagnosis": self.diagnosis,
            "conditions": [{"feature": c.feature, "op": c.op, "value": c.value} for c in self.conditions],
        }

    def text(self) -> str:
        """How a title says it: ``malignant, radius_mean > 15``."""
        parts = [DIAGNOSES[self.diagnosis]] if self.diagnosis else []
        return ", ".join([*parts, *(c.text() for c in self.conditions)])

    def query(self) -> list[tuple[str, str]]:
        """The filter as query parameters, in its normalised order."""
        pairs = [("diagnosis", self.diagnosis)] if self.diagnosis else []
        return pairs + [(c.parameter(), repr(c.value)) for c in self.conditions]


def is_filter_parameter(name: str) -> bool:
    return name == "diagnosis" or "__" in name


def _number(name: str, raw: str) -> float:
    if not NUMBER.fullmatch(raw.strip()):
        raise bad_request(
            "invalid_parameter", f"{name}: {raw[:40]!r} is not a decimal number", parameter=name
        )
    value = float(raw)
    if not math.isfinite(value):
        raise bad_request("invalid_parameter", f"{name}: {raw[:40]!r} is out of range", parameter=name)
    return value


def _condition(name: str, raw: str) -> Condition:
    feature_name, _, op = name.rpartition("__")
    if op not in OPERATORS:
        raise bad_request(
            "invalid_parameter",
            f"{name[:80]}: unknown comparison {op[:20]!r}; use __gt, __gte, __lt, __lte or __eq",
            parameter=name[:80],
        )
    feature = canonical_name(feature_name)
    if feature is None:
        error = unknown_feature(feature_name, name[:80])
        error.details["parameter"] = name[:80]
        raise error
    return Condition(feature, op, _number(name, raw))


def parse_filter(args: Mapping[str, list[str]]) -> Filter:
    """The filter in a query's ``diagnosis`` and ``<feature>__<op>`` parameters (others are ignored)."""
    diagnosis = None
    values = args.get("diagnosis", [])
    if len(values) > 1:
        raise bad_request(
            "invalid_parameter", f"diagnosis is given {len(values)} times", parameter="diagnosis"
        )
    if values:
        diagnosis = values[0].strip().upper()
        if diagnosis not in DIAGNOSES:
            raise bad_request(
                "invalid_parameter", f"diagnosis: {values[0][:20]!r} is not M or B", parameter="diagnosis"
            )
    conditions = {
        _condition(name, raw) for name, raws in args.items() if "__" in name for raw in raws
    }  # a repeated condition is the same condition
    return Filter(diagnosis, tuple(sorted(conditions)))
