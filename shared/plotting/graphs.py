"""The graph routes' parameters (parsed, bounded, normalised), and the numbers and pictures they answer.

Every plot answers ``format=png|svg|json``; JSON gives the numbers the picture draws, with its title.
Nothing here imports numpy or matplotlib at module level: a cached plot never needs them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.dataset.columns import DIAGNOSIS, ColumnCache
from shared.dataset.features import FEATURES, describe, parse_feature
from shared.dataset.filters import Filter, is_filter_parameter, parse_filter
from shared.errors import ApiError, bad_request
from shared.plotting.plots import ANNOTATE_UP_TO, MEDIA_TYPES

FORMATS = {**MEDIA_TYPES, "json": "application/json"}
#: Bounds of the parameters that decide how long a render takes; a request beyond them is a 400.
MAX_BINS = 200
WIDTH_BOUNDS, HEIGHT_BOUNDS, DPI_BOUNDS = (200, 2400), (150, 2400), (50, 300)
PAIR_FEATURE_BOUNDS, CORRELATION_FEATURE_BOUNDS = (2, 5), (2, len(FEATURES))
#: Bins of each pair plot's diagonal histograms, and cells per axis of its density panels.
PAIR_BINS, PAIR_DENSITY_GRID = 20, 40
SIZE_PARAMETERS = ("width", "height", "dpi")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
_NUMBER = r"[-+]?(\d{1,15}(\.\d{0,15})?|\.\d{1,15})([eE][-+]?\d{1,2})?"
#: A histogram's ``range``: two finite decimal numbers (openapi.yaml gives the same pattern).
RANGE_PATTERN = rf"^({_NUMBER},{_NUMBER})?$"

Params = dict[str, Any]
Columns = dict[str, Any]  # column name -> numpy array (DIAGNOSIS: boolean "malignant")


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


def _choice(name: str, choices: Mapping[str, Any] | tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise bad_request("invalid_parameter", f"{name}: expected one of {', '.join(choices)}")
        return raw

    return parse


def _boolean(name: str) -> Callable[[str], bool]:
    def parse(raw: str) -> bool:
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise bad_request("invalid_parameter", f"{name}: expected true or false")

    return parse


def _range(raw: str) -> list[float] | None:
    """``low,high``: two decimal numbers, in either order; empty means the data's own range."""
    if not raw:
        return None
    if not re.fullmatch(RANGE_PATTERN, raw):
        raise bad_request("invalid_parameter", "range: expected two decimal numbers 'low,high', e.g. 5,30")
    low, high = sorted(float(part) for part in raw.split(","))
    return [low, high]  # equal ends make one bin-width-1 range around them, as numpy does


def _feature(name: str) -> Callable[[str], str]:
    return lambda raw: parse_feature(raw, name)


def _features(name: str, low: int, high: int) -> Callable[[str], list[str]]:
    """A comma-separated list of distinct features, ``low`` to ``high`` of them, in the order given."""

    def parse(raw: str) -> list[str]:
        features = [parse_feature(part.strip(), name) for part in raw.split(",")]
        repeated = sorted({f for f in features if features.count(f) > 1})
        if repeated:
            raise bad_request("invalid_parameter", f"{name}: {', '.join(repeated)} given more than once")
        if not low <= len(features) <= high:
            raise bad_request(
                "invalid_parameter", f"{name}: give {low} to {high} features, not {len(features)}"
            )
        return features

    return parse


def _common(width: int, height: int) -> dict[str, tuple[Callable[[str], Any], str | None]]:
    return {
        "format": (_choice("format", FORMATS), "png"),
        "width": (_integer("width", *WIDTH_BOUNDS), str(width)),
        "height": (_integer("height", *HEIGHT_BOUNDS), str(height)),
        "dpi": (_integer("dpi", *DPI_BOUNDS), "100"),
    }


@dataclass(frozen=True)
class Plot:
    """One graph route: its parameters (parser and default; None = required) and how to answer."""

    name: str
    parameters: dict[str, tuple[Callable[[str], Any], str | None]]
    numbers: Callable[[Params, Columns], dict[str, Any]]
    picture: Callable[[Params, Columns, dict[str, Any]], bytes]

    def columns(self, params: Params) -> list[str]:
        """The columns this request draws: cost follows them, not the data set's width."""
        named = [v for k, v in params.items() if k in ("feature", "x", "y")]
        return [*named, *params.get("features", []), DIAGNOSIS]

    def filtered(self, params: Params, columns: ColumnCache, version: str) -> tuple[Columns, Filter]:
        """The drawn columns of the rows the filter selects (every row without one)."""
        row_filter = Filter.from_json(params["filter"])
        drawn = self.columns(params)
        data = columns.columns([*drawn, *row_filter.columns()], version)
        if not row_filter:
            return data, row_filter
        mask = row_filter.mask(data, _rows(data))
        if not mask.any():
            raise ApiError(
                404,
                "empty_selection",
                f"no case matches {row_filter.text()}: there is nothing to draw",
                filter=row_filter.as_json(),
                count=0,
            )
        return {name: data[name][mask] for name in dict.fromkeys(drawn)}, row_filter

    def parse(self, args: Mapping[str, list[str]]) -> Params:
        """Validated, normalised parameters: one value each, defaults filled in, no unknown names.

        Equal requests give equal parameters whatever their order or spelling (``trend=0`` is
        ``trend=false``), and JSON answers drop the picture's size, so they make one cache key.
        """
        unknown = sorted(
            name for name in args if name not in self.parameters and not is_filter_parameter(name)
        )
        if unknown:
            raise bad_request(
                "unknown_parameter",
                f"unknown parameter(s) {', '.join(u[:40] for u in unknown)}; "
                f"{self.name} takes {', '.join(self.parameters)}, "
                "diagnosis and <feature>__gt|__gte|__lt|__lte|__eq",
                parameter=unknown[0][:40],
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
        if params["format"] == "json":
            for name in SIZE_PARAMETERS:
                del params[name]
        params["filter"] = parse_filter(args).as_json()  # normalised: it is part of the cache key
        return params

    def answer(self, params: Params, columns: ColumnCache, version: str) -> bytes:
        """The response body: the picture in the requested format, or its numbers as JSON.

        A filter's selection is said in the title, and given as ``filter`` and ``count``."""
        data, row_filter = self.filtered(params, columns, version)
        numbers = self.numbers(params, data)
        count = _rows(data)
        if row_filter:
            numbers["title"] += f"\n{row_filter.text()} ({count:,} cases)"
        numbers.update(filter=row_filter.as_json(), count=count)
        if params["format"] == "json":
            return json.dumps(numbers, allow_nan=False).encode()
        return self.picture(params, data, numbers)


def _size(params: Params) -> tuple[int, int, int]:
    return params["width"], params["height"], params["dpi"]


def _rows(data: Columns) -> int:
    return int(data[DIAGNOSIS].size)


# histogram ---------------------------------------------------------------------------------------


def _histogram_numbers(params: Params, data: Columns) -> dict[str, Any]:
    from shared.dataset import analysis
    from shared.plotting.plots import label

    feature, by_diagnosis = params["feature"], params["by"] == "diagnosis"
    numbers = analysis.histogram(
        data[feature], data[DIAGNOSIS], params["bins"], by_diagnosis, params["range"], params["density"]
    )
    who = "by diagnosis" if by_diagnosis else f"all {_rows(data):,} cases"
    notes = [f"{params['bins']} bins"]
    if params["range"]:
        notes.append(f"range {params['range'][0]:g} to {params['range'][1]:g}")
    if params["density"]:
        notes.append("density")
    if params["log"]:
        notes.append("log scale")
    return {
        "feature": feature,
        "by": params["by"],
        "density": params["density"],
        "log": params["log"],
        "range": params["range"],
        **numbers,
        "title": f"{label(feature)} {who} ({', '.join(notes)})",
    }


def _histogram_picture(params: Params, _data: Columns, numbers: dict[str, Any]) -> bytes:
    from shared.plotting import plots

    return plots.histogram(params["feature"], numbers, _size(params), params["format"], params["log"])


# scatter -----------------------------------------------------------------------------------------


def _scatter_numbers(params: Params, data: Columns) -> dict[str, Any]:
    from shared.dataset import analysis
    from shared.plotting.plots import label

    x, y = params["x"], params["y"]
    by_diagnosis = params["hue"] == "diagnosis"
    numbers = analysis.scatter(data[x], data[y], data[DIAGNOSIS], by_diagnosis, params["trend"])
    title = f"{label(y)} against {label(x)}"
    if numbers["mode"] == "density":
        limit = numbers["point_limit"]
        title += f"\ndensity of {_rows(data):,} points (2-D histogram: more than {limit:,} points)"
    return {"x": x, "y": y, "hue": params["hue"], **numbers, "title": title}


def _scatter_picture(params: Params, data: Columns, numbers: dict[str, Any]) -> bytes:
    from shared.plotting import plots

    x, y = params["x"], params["y"]
    malignant = data[DIAGNOSIS] if params["hue"] == "diagnosis" else None
    return plots.scatter(x, y, data[x], data[y], malignant, numbers, _size(params), params["format"])


# box ---------------------------------------------------------------------------------------------


def _box_numbers(params: Params, data: Columns) -> dict[str, Any]:
    from shared.dataset import analysis
    from shared.plotting.plots import label

    feature, kind = params["feature"], params["kind"]
    numbers = analysis.box(data[feature], data[DIAGNOSIS], violin=kind == "violin")
    return {"feature": feature, "kind": kind, **numbers, "title": f"{label(feature)} by diagnosis ({kind})"}


def _box_picture(params: Params, _data: Columns, numbers: dict[str, Any]) -> bytes:
    from shared.plotting import plots

    return plots.box(params["feature"], numbers, _size(params), params["format"])


# correlation -------------------------------------------------------------------------------------


def _correlation_numbers(params: Params, data: Columns) -> dict[str, Any]:
    from shared.dataset import analysis

    features = params["features"]
    return {
        "features": features,
        "method": "pearson",
        "matrix": analysis.correlation([data[f] for f in features]),
        "annotated": len(features) <= ANNOTATE_UP_TO,
        "title": f"Pearson correlation of {len(features)} features ({_rows(data):,} cases)",
    }


def _correlation_picture(params: Params, _data: Columns, numbers: dict[str, Any]) -> bytes:
    from shared.plotting import plots

    return plots.correlation(numbers, _size(params), params["format"])


# pairs -------------------------------------------------------------------------------------------


def _pairs_numbers(params: Params, data: Columns) -> dict[str, Any]:
    from shared.dataset import analysis

    features, malignant = params["features"], data[DIAGNOSIS]
    rows = _rows(data)
    mode = "density" if rows > analysis.SCATTER_POINT_LIMIT else "points"
    numbers: dict[str, Any] = {
        "features": features,
        "mode": mode,
        "point_limit": analysis.SCATTER_POINT_LIMIT,
        "points": {"benign": int((~malignant).sum()), "malignant": int(malignant.sum())},
        "histograms": {f: analysis.histogram(data[f], malignant, PAIR_BINS) for f in features},
        "correlations": analysis.correlation([data[f] for f in features]),
    }
    if mode == "density":
        numbers["grids"] = {
            f"{a}|{b}": analysis.density_grid(data[a], data[b], malignant, True, PAIR_DENSITY_GRID)
            for i, a in enumerate(features)
            for b in features[i + 1 :]
        }
    title = f"Pairs of {len(features)} features by diagnosis ({rows:,} cases)"
    if mode == "density":
        title += f"\ndensity (2-D histograms: more than {analysis.SCATTER_POINT_LIMIT:,} points)"
    return {**numbers, "title": title}


def pair_panels(numbers: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Density mode: each off-diagonal panel's grid, keyed (x feature, y feature), with its x feature on x.

    ``numbers["grids"]`` (the JSON answer) holds one grid per pair ``a|b``, ``a`` on x: the
    panel across the diagonal shows it with x and y swapped.
    """
    panels = {}
    for pair, grid in numbers.get("grids", {}).items():
        a, b = pair.split("|")
        panels[a, b] = grid
        panels[b, a] = {
            "x_edges": grid["y_edges"],
            "y_edges": grid["x_edges"],
            "counts": {
                group: [list(c) for c in zip(*counts, strict=True)]
                for group, counts in grid["counts"].items()
            },
        }
    return panels


def _pairs_picture(params: Params, data: Columns, numbers: dict[str, Any]) -> bytes:
    from shared.plotting import plots

    panels = pair_panels(numbers)
    return plots.pairs(data, data[DIAGNOSIS], numbers, _size(params), params["format"], panels)


PLOTS = {
    "histogram": Plot(
        "histogram",
        {
            "feature": (_feature("feature"), "radius_mean"),
            "bins": (_integer("bins", 1, MAX_BINS), "10"),
            "by": (_choice("by", ("diagnosis", "none")), "diagnosis"),
            "density": (_boolean("density"), "false"),
            "log": (_boolean("log"), "false"),
            "range": (_range, ""),
            **_common(900, 600),
        },
        _histogram_numbers,
        _histogram_picture,
    ),
    "scatter": Plot(
        "scatter",
        {
            "x": (_feature("x"), None),
            "y": (_feature("y"), None),
            "hue": (_choice("hue", ("diagnosis", "none")), "diagnosis"),
            "trend": (_boolean("trend"), "false"),
            **_common(900, 600),
        },
        _scatter_numbers,
        _scatter_picture,
    ),
    "box": Plot(
        "box",
        {
            "feature": (_feature("feature"), "radius_mean"),
            "kind": (_choice("kind", ("box", "violin")), "box"),
            **_common(700, 600),
        },
        _box_numbers,
        _box_picture,
    ),
    "correlation": Plot(
        "correlation",
        {
            "features": (_features("features", *CORRELATION_FEATURE_BOUNDS), ",".join(FEATURES)),
            **_common(1000, 900),
        },
        _correlation_numbers,
        _correlation_picture,
    ),
    "pairs": Plot(
        "pairs",
        {
            "features": (
                _features("features", *PAIR_FEATURE_BOUNDS),
                "radius_mean,texture_mean,concavity_mean",
            ),
            **_common(900, 900),
        },
        _pairs_numbers,
        _pairs_picture,
    ),
}


def feature_table(columns: ColumnCache, version: str) -> dict[str, Any]:
    """``GET /features``: every feature with its unit and description, and its statistics per diagnosis."""
    from shared.dataset import analysis

    data = columns.columns([*FEATURES, DIAGNOSIS], version)
    malignant = data[DIAGNOSIS]
    return {
        "version": version,
        "rows": _rows(data),
        "features": [
            {
                **describe(feature),
                "statistics": {
                    group: analysis.describe(data[feature][mask])
                    for group, mask in analysis.groups(malignant).items()
                },
            }
            for feature in FEATURES
        ],
    }
