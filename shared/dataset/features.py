"""The data set's 30 feature names, and validation of a submitted sample against them."""

from __future__ import annotations

import difflib
import math
from typing import Any

from shared.errors import bad_request

MEASUREMENTS = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave_points",
    "symmetry",
    "fractal_dimension",
)
STATISTICS = ("mean", "se", "worst")

#: The 30 features in the CSV's column order, spelt with underscores only.
FEATURES = tuple(f"{m}_{s}" for s in STATISTICS for m in MEASUREMENTS)

#: Each measurement of a cell nucleus: (unit, description), after the data set's own documentation
#: (UCI WDBC). Lengths and areas are in pixels of the digitised image; the source gives no physical unit.
MEASUREMENT_INFO = {
    "radius": ("px", "mean distance from the centre to points on the perimeter"),
    "texture": ("grey levels", "standard deviation of the grey-scale values"),
    "perimeter": ("px", "perimeter of the nucleus"),
    "area": ("px²", "area of the nucleus"),
    "smoothness": ("", "local variation in radius lengths"),
    "compactness": ("", "perimeter² / area − 1.0"),
    "concavity": ("", "severity of the concave portions of the contour"),
    "concave_points": ("", "number of concave portions of the contour"),
    "symmetry": ("", "symmetry of the nucleus"),
    "fractal_dimension": ("", "“coastline approximation” − 1"),
}
STATISTIC_INFO = {
    "mean": "mean over the nuclei in the image",
    "se": "standard error over the nuclei in the image",
    "worst": "mean of the three largest values in the image",
}

#: The largest value a sample may carry: far above any real measurement (area_worst peaks at 4254).
MAX_VALUE = 1e6


def canonical_name(name: str) -> str | None:
    """``concave points_mean`` (Kaggle's spelling) and ``concave_points_mean`` both name one feature."""
    candidate = name.replace("concave points", "concave_points")
    return candidate if candidate in FEATURES else None


def csv_name(feature: str) -> str:
    """The column name Kaggle's CSV uses for a feature."""
    return feature.replace("concave_points", "concave points")


def split_name(feature: str) -> tuple[str, str]:
    """``concave_points_worst`` -> ``("concave_points", "worst")``."""
    measurement, statistic = feature.rsplit("_", 1)
    return measurement, statistic


def unit(feature: str) -> str:
    """The feature's unit (``""`` for a dimensionless one)."""
    return MEASUREMENT_INFO[split_name(feature)[0]][0]


def describe(feature: str) -> dict[str, str]:
    """Name, full label, unit and description of one feature, as ``GET /features`` lists them."""
    measurement, statistic = split_name(feature)
    unit_, what = MEASUREMENT_INFO[measurement]
    statistic_label = {"se": "standard error"}.get(statistic, statistic)
    return {
        "name": feature,
        "csv_name": csv_name(feature),
        "label": f"{measurement.replace('_', ' ').capitalize()} ({statistic_label})",
        "unit": unit_,
        "description": f"{what}; {STATISTIC_INFO[statistic]}",
    }


def suggestion(name: str) -> str | None:
    matches = difflib.get_close_matches(name.replace(" ", "_").lower(), FEATURES, n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_feature(name: str, parameter: str = "feature"):
    """The 400 for a feature name that is not one of the 30, with the closest valid name."""
    close = suggestion(name)
    hint = f"; did you mean {close!r}?" if close else ""
    return bad_request(
        "unknown_feature",
        f"{parameter}: {name[:80]!r} is not a feature{hint}",
        valid_features=list(FEATURES),
    )


def parse_feature(name: str | None, parameter: str = "feature") -> str:
    if not name:
        raise bad_request("missing_parameter", f"{parameter} is required", valid_features=list(FEATURES))
    feature = canonical_name(name)
    if feature is None:
        raise unknown_feature(name, parameter)
    return feature


def parse_sample(body: Any) -> dict[str, float]:
    """Validate a submitted sample: a JSON object of 1 to 30 features, each a number 0..MAX_VALUE."""
    if not isinstance(body, dict):
        raise bad_request(
            "invalid_sample",
            "the body must be a JSON object of feature values, "
            'e.g. {"radius_mean": 14.5, "texture_mean": 20.0}',
        )
    if not body:
        raise bad_request("invalid_sample", "give at least one feature value", valid_features=list(FEATURES))
    unknown = [name for name in body if canonical_name(name) is None]
    if unknown:
        # Suggestions for the first 30 only: difflib costs, and a 64 KiB body holds thousands of names.
        hints = {name[:80]: hint for name in unknown[:30] if (hint := suggestion(name))}
        raise bad_request(
            "unknown_feature",
            f"unknown feature(s): {', '.join(repr(n[:80]) for n in unknown[:10])}",
            unknown=[name[:80] for name in unknown[:30]],
            suggestions=hints,
            valid_features=list(FEATURES),
        )
    sample: dict[str, float] = {}
    for name, value in body.items():
        feature = canonical_name(name)
        if feature in sample:
            raise bad_request("duplicate_feature", f"{feature} is given twice (both spellings)")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(
                "invalid_value", f"{name}: expected a number, got {type(value).__name__}", feature=feature
            )
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            number = math.inf
        if not math.isfinite(number) or not 0 <= number <= MAX_VALUE:
            raise bad_request(
                "invalid_value", f"{name}: {value!r} is outside 0 to {MAX_VALUE:g}", feature=feature
            )
        sample[feature] = number
    return sample
