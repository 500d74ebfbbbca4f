"""The 30 feature names and validation of a submitted sample."""

from __future__ import annotations

import pytest

from shared.dataset.features import FEATURES, canonical_name, csv_name, parse_feature, parse_sample
from shared.errors import ApiError


def test_there_are_thirty_features_in_the_csv_order() -> None:
    assert len(FEATURES) == 30
    assert FEATURES[:3] == ("radius_mean", "texture_mean", "perimeter_mean")
    assert FEATURES[-1] == "fractal_dimension_worst"
    assert csv_name("concave_points_se") == "concave points_se"


@pytest.mark.parametrize("name", ["concave points_mean", "concave_points_mean"])
def test_both_spellings_of_concave_points_name_one_feature(name: str) -> None:
    assert canonical_name(name) == "concave_points_mean"


def test_a_valid_sample_is_returned_as_floats_under_canonical_names() -> None:
    sample = parse_sample({"radius_mean": 14, "concave points_worst": 0.2})
    assert sample == {"radius_mean": 14.0, "concave_points_worst": 0.2}
    assert all(isinstance(v, float) for v in sample.values())


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([1, 2], "invalid_sample"),
        ("radius_mean", "invalid_sample"),
        ({}, "invalid_sample"),
        ({"radius_mean": "1"}, "invalid_value"),
        ({"radius_mean": False}, "invalid_value"),
        ({"radius_mean": -0.5}, "invalid_value"),
        ({"radius_mean": 10**400}, "invalid_value"),
        ({"radius_mean": float("inf")}, "invalid_value"),
        ({"radius_mean": 2e6}, "invalid_value"),
        ({"radius_mean": 1, "concave points_mean": 1, "concave_points_mean": 2}, "duplicate_feature"),
        ({"Radius_Mean": 1}, "unknown_feature"),
    ],
)
def test_invalid_samples_are_400s(body, code: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_sample(body)
    assert raised.value.status == 400
    assert raised.value.code == code


def test_a_bad_value_names_its_feature_so_a_form_can_show_the_message_beside_the_field() -> None:
    with pytest.raises(ApiError) as raised:
        parse_sample({"radius_mean": 14.5, "concave points_mean": -1})
    assert raised.value.body()["error"]["feature"] == "concave_points_mean"
    assert raised.value.message == "concave points_mean: -1 is outside 0 to 1e+06"


def test_an_unknown_feature_gets_the_closest_valid_name() -> None:
    with pytest.raises(ApiError) as raised:
        parse_feature("radius_meen")
    assert "did you mean 'radius_mean'?" in raised.value.message
