"""The graph routes' parameters, and the numbers and pictures they answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.dataset import DIAGNOSIS, ColumnCache
from shared.errors import bad_request
from shared.features import parse_feature

FORMATS = {"png": "image/png", "json": "application/json"}
MAX_BINS = 200

Params = dict[str, Any]


def _integer(name: str, low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise bad_request("invalid_parameter", f"{name}: {raw[:40]!r} is not a whole number") from None
        if not low <= value <= high:
            raise bad_request("invalid_parameter", f"{name}: {value} is outside {low} to {high}")
        return value

    return parse


def _choice(name: str, choices: Mapping[str, Any]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise bad_request("invalid_parameter", f"{name}: expected one of {', '.join(choices)}")
        return raw

    return parse


def _feature(name: str) -> Callable[[str], str]:
    return lambda raw: parse_feature(raw, name)


@dataclass(frozen=True)
class Plot:
    """One graph route: its parameters (parser and default; None = required) and how to answer."""

    name: str
    parameters: dict[str, tuple[Callable[[str], Any], str | None]]
    numbers: Callable[[Params, dict], dict[str, Any]]
    picture: Callable[[Params, dict, dict[str, Any]], bytes]

    def columns(self, params: Params) -> list[str]:
        return [v for k, v in params.items() if k in ("feature", "x", "y")] + [DIAGNOSIS]

    def parse(self, args: Mapping[str, list[str]]) -> Params:
        """Validated, normalised parameters: one value each, defaults filled in, no unknown names."""
        unknown = sorted(set(args) - set(self.parameters))
        if unknown:
            raise bad_request(
                "unknown_parameter",
                f"unknown parameter(s) {', '.join(u[:40] for u in unknown)}; "
                f"{self.name} takes {', '.join(self.parameters)}",
            )
        params: Params = {}
        for name, (parser, default) in self.parameters.items():
            values = args.get(name, [])
            if len(values) > 1:
                raise bad_request("invalid_parameter", f"{name} is given {len(values)} times")
            raw = values[0] if values else default
            if raw is None:
                raise bad_request("missing_parameter", f"{name} is required")
            params[name] = parser(raw)
        return params

    def answer(self, params: Params, columns: ColumnCache, version: str) -> bytes:
        data = columns.columns(self.columns(params), version)
        numbers = self.numbers(params, data)
        if params["format"] == "json":
            return json.dumps(numbers).encode()
        return self.picture(params, data, numbers)


def _histogram_numbers(params: Params, data: dict) -> dict[str, Any]:
    from shared import analysis

    numbers = analysis.histogram(data[params["feature"]], data[DIAGNOSIS], params["bins"])
    return {"feature": params["feature"], **numbers}


def _histogram_picture(params: Params, _data: dict, numbers: dict[str, Any]) -> bytes:
    from shared import plots

    return plots.histogram_png(params["feature"], numbers)


def _scatter_numbers(params: Params, data: dict) -> dict[str, Any]:
    from shared import analysis

    numbers = analysis.scatter(data[params["x"]], data[params["y"]], data[DIAGNOSIS])
    return {"x": params["x"], "y": params["y"], **numbers}


def _scatter_picture(params: Params, data: dict, _numbers: dict[str, Any]) -> bytes:
    from shared import plots

    return plots.scatter_png(params["x"], params["y"], data[params["x"]], data[params["y"]], data[DIAGNOSIS])


_FORMAT = (_choice("format", FORMATS), "png")

PLOTS = {
    "histogram": Plot(
        "histogram",
        {
            "feature": (_feature("feature"), "radius_mean"),
            "bins": (_integer("bins", 1, MAX_BINS), "10"),
            "format": _FORMAT,
        },
        _histogram_numbers,
        _histogram_picture,
    ),
    "scatter": Plot(
        "scatter",
        {"x": (_feature("x"), None), "y": (_feature("y"), None), "format": _FORMAT},
        _scatter_numbers,
        _scatter_picture,
    ),
}
