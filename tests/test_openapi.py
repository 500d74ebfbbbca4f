"""openapi.yaml describes exactly the routes the code serves, with the bounds the code enforces."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from typing import Any

import pytest
import requests
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from devtools.devserver import ROOT
from shared.errors import ApiError
from shared.plotting.graphs import PLOTS
from shared.web.http import Router

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
METHODS = ("get", "post", "put", "patch", "delete")
SERVICES = {"submit": "submit", "status": "status", "graph": "render"}  # service -> functions/ folder


@cache
def router(service: str) -> Router:
    """The service's route table, imported from its main.py as functions-framework would."""
    spec = importlib.util.spec_from_file_location(
        f"main_{service}", ROOT / "functions" / SERVICES[service] / "main.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ROUTER


def node_ref_parts(ref: str) -> list[str]:
    assert ref.startswith("#/"), ref
    return ref[2:].split("/")


def deref(node: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref``s (``#/components/...``) to the node they name."""
    while "$ref" in node:
        target: Any = SPEC
        for part in node_ref_parts(node["$ref"]):
            target = target[part]
        node = target
    return node


def documented_routes(service: str) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if method in METHODS and service in operation["x-services"]
    }


def coded_routes(service: str) -> set[tuple[str, str]]:
    """``/status/<path:job_id>`` is OpenAPI's ``/status/{job_id}``."""
    return {(r.method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.path)) for r in router(service).routes}


def query_parameters(path: str) -> dict[str, dict[str, Any]]:
    parameters = [deref(p) for p in SPEC["paths"][path]["get"].get("parameters", [])]
    return {p["name"]: p for p in parameters if p["in"] == "query"}


def schema_of(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = deref(parameter["schema"])
    for part in schema.get("allOf", []):
        schema = {**deref(part), **{k: v for k, v in schema.items() if k != "allOf"}}
    return schema


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_route_in_the_code_is_documented_and_vice_versa(service: str) -> None:
    assert coded_routes(service) == documented_routes(service)


def test_every_documented_operation_belongs_to_a_service() -> None:
    documented = set().union(*(documented_routes(s) for s in SERVICES))
    every = {(m.upper(), p) for p, item in SPEC["paths"].items() for m in item if m in METHODS}
    assert documented == every


#: The row filter every plot (and /dataset/rows) takes: ``diagnosis`` and ``<feature>__<op>``, an
#: exploded object parameter (shared.dataset.filters parses it).
FILTER_PARAMETERS = ("diagnosis", "where")


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_graph_parameters_and_defaults_match_the_code(name: str) -> None:
    documented = query_parameters(f"/graph/{name}")
    assert all(parameter in documented for parameter in FILTER_PARAMETERS)
    documented = {k: v for k, v in documented.items() if k not in FILTER_PARAMETERS}
    assert set(documented) == set(PLOTS[name].parameters)
    for parameter, (_parser, default) in PLOTS[name].parameters.items():
        schema = schema_of(documented[parameter])
        if default is None:
            assert documented[parameter].get("required") is True, parameter
        elif isinstance(schema.get("default"), list):
            assert ",".join(schema["default"]) == default, parameter
        elif "default" in schema:
            assert str(schema["default"]).lower() == default, parameter


def _parse(name: str, **args: str) -> dict[str, Any]:
    return PLOTS[name].parse({k: [v] for k, v in {**required(name), **args}.items()})


def required(name: str) -> dict[str, str]:
    return {"x": "radius_mean", "y": "texture_mean"} if name == "scatter" else {}


def rejected(name: str, **args: str) -> bool:
    """Whether the route answers these parameters with a 400."""
    try:
        _parse(name, **args)
    except ApiError as error:
        return error.status == 400
    return False


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_documented_bounds_are_the_enforced_bounds(name: str) -> None:
    for parameter, spec in query_parameters(f"/graph/{name}").items():
        schema = schema_of(spec)
        if schema.get("type") == "integer":
            low, high = schema["minimum"], schema["maximum"]
            assert not rejected(name, **{parameter: str(low)})
            assert not rejected(name, **{parameter: str(high)})
            assert rejected(name, **{parameter: str(low - 1)})
            assert rejected(name, **{parameter: str(high + 1)})
        if "enum" in schema and parameter not in ("feature",):
            for value in schema["enum"]:
                assert not rejected(name, **{parameter: value})
            assert rejected(name, **{parameter: "neither"})
        if schema.get("type") == "array":  # a comma-separated list of features
            from shared.dataset.features import FEATURES

            low, high = schema["minItems"], schema["maxItems"]
            assert (spec["style"], spec["explode"], schema["uniqueItems"]) == ("form", False, True)
            assert not rejected(name, **{parameter: ",".join(FEATURES[:low])})
            assert not rejected(name, **{parameter: ",".join(FEATURES[:high])})
            assert rejected(name, **{parameter: ",".join(FEATURES[: low - 1])})
            assert rejected(name, **{parameter: ",".join([FEATURES[0]] * low)})
            if high < len(FEATURES):
                assert rejected(name, **{parameter: ",".join(FEATURES[: high + 1])})


def test_the_documented_range_pattern_is_the_one_enforced() -> None:
    from shared.plotting.graphs import RANGE_PATTERN

    assert schema_of(query_parameters("/graph/histogram")["range"])["pattern"] == RANGE_PATTERN
    for accepted in ("5,30", "30,5", "-1.5e3,.5", "0,0", ""):
        assert not rejected("histogram", range=accepted)
    for refused in ("5", "5,30,40", "a,b", "inf,3", "nan,1", "1_0,3", "5, 30"):
        assert rejected("histogram", range=refused)


def test_the_feature_enum_is_the_thirty_features() -> None:
    from shared.dataset.features import FEATURES

    assert SPEC["components"]["schemas"]["FeatureName"]["enum"] == list(FEATURES)


def test_requests_may_name_features_in_either_spelling() -> None:
    from shared.dataset.features import FEATURES, csv_name

    kaggle = [csv_name(f) for f in FEATURES if csv_name(f) != f]
    assert kaggle == ["concave points_mean", "concave points_se", "concave points_worst"]
    assert SPEC["components"]["schemas"]["FeatureNameAsGiven"]["enum"] == [*FEATURES, *kaggle]


def sample_schema() -> OAS31Validator:
    """The schema openapi.yaml gives submit's request body, as a client that validates would use it."""
    body = SPEC["components"]["requestBodies"]["Sample"]["content"]["application/json"]["schema"]
    return OAS31Validator({**body, "components": SPEC["components"]})


def accepted_by_submit(sample: Any) -> bool:
    from shared.dataset.features import parse_sample

    try:
        parse_sample(sample)
    except ApiError as error:
        if error.status != 400:
            raise
        return False
    return True


def _thirty() -> dict[str, float]:
    from shared.dataset.features import FEATURES

    return {feature: float(i) for i, feature in enumerate(FEATURES)}


SAMPLES_BOTH_ACCEPT = [
    {"radius_mean": 14.5},
    {"radius_mean": 14.5, "texture_mean": 20, "perimeter_mean": 95.0},
    {"area_worst": 0, "area_mean": 1_000_000},  # both bounds
    _thirty(),
    {"concave points_mean": 0.05},  # Kaggle's spelling
    {"concave points_mean": 0.05, "concave points_se": 0.01, "concave points_worst": 0.1, "radius_se": 1},
    {"concave_points_mean": 0.05, "concave points_se": 0.01},  # one spelling for one, the other for another
    {k.replace("concave_points", "concave points"): v for k, v in _thirty().items()},  # all 30, Kaggle's way
]
SAMPLES_BOTH_REFUSE = [
    {},
    [],
    [{"radius_mean": 14.5}],
    "radius_mean=14.5",
    14.5,
    None,
    {"radius_man": 14.5},  # a typo
    {"Radius_mean": 14.5},
    {"concave_points mean": 0.05},  # neither spelling
    {"concave  points_mean": 0.05},
    {"radius_mean": -0.001},
    {"radius_mean": 1_000_000.5},
    {"radius_mean": 10**400},  # beyond a float
    {"radius_mean": "14.5"},
    {"radius_mean": True},
    {"radius_mean": None},
    {"radius_mean": [14.5]},
    {"radius_mean": {"value": 14.5}},
    {"concave_points_mean": 0.05, "concave points_mean": 0.05},  # one feature in both spellings
    {"concave points_se": 0.01, "concave_points_se": 0.02},
    {"radius_mean": 1, "concave_points_worst": 0.1, "concave points_worst": 0.1},
    {**_thirty(), "concave points_mean": 0.05},  # 31 names, one feature twice
]


@pytest.mark.parametrize("sample", SAMPLES_BOTH_ACCEPT + SAMPLES_BOTH_REFUSE, ids=lambda s: repr(s)[:60])
def test_submit_and_the_documented_sample_schema_accept_and_refuse_the_same_samples(sample: Any) -> None:
    expected = sample in SAMPLES_BOTH_ACCEPT
    assert accepted_by_submit(sample) is expected
    assert sample_schema().is_valid(sample) is expected


def test_every_name_alone_and_every_pair_of_names_is_judged_alike() -> None:
    """Each of the 33 spellings alone, and every two together (a feature in both spellings included)."""
    names = SPEC["components"]["schemas"]["FeatureNameAsGiven"]["enum"]
    schema = sample_schema()
    samples = [{name: 1.0} for name in names] + [{a: 1.0, b: 2.0} for a in names for b in names if a < b]
    disagreements = [s for s in samples if accepted_by_submit(s) != schema.is_valid(s)]
    assert disagreements == []
    assert sum(not schema.is_valid(s) for s in samples) == 3  # only the three features in both spellings


@pytest.mark.parametrize("name", ["correlation", "pairs"])
def test_a_feature_list_may_mix_spellings_but_not_name_a_feature_twice(name: str) -> None:
    schema = schema_of(query_parameters(f"/graph/{name}")["features"])
    validator = OAS31Validator({**schema, "components": SPEC["components"]})
    for features, valid in [
        (["radius_mean", "concave points_mean"], True),
        (["concave points_se", "concave_points_worst"], True),
        (["concave_points_mean", "concave points_mean"], False),
        (["radius_mean", "concave points_worst", "concave_points_worst"], False),
    ]:
        assert validator.is_valid(features) is valid, features
        assert rejected(name, features=",".join(features)) is not valid, features


def response_schema(path: str) -> dict[str, Any]:
    content = SPEC["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return {**content["schema"], "components": SPEC["components"]}


GRAPH_JSON = [
    ("/graph/histogram", {"feature": "area_worst", "bins": 12, "density": "true", "range": "100,3000"}),
    ("/graph/histogram", {"by": "none"}),
    ("/graph/scatter", {"x": "radius_mean", "y": "texture_mean", "trend": "true", "hue": "none"}),
    ("/graph/box", {"feature": "smoothness_se", "kind": "violin"}),
    ("/graph/correlation", {}),
    ("/graph/pairs", {"features": "radius_mean,texture_mean"}),
    ("/graph/histogram", {"diagnosis": "M", "radius_mean__gt": "15"}),
    ("/graph/box", {"diagnosis": "B"}),
    ("/features", {}),
    ("/dataset", {}),
    ("/dataset/rows", {"diagnosis": "M", "_sort_desc": "area_mean", "_size": "5"}),
]


@pytest.mark.integration
@pytest.mark.parametrize(("path", "params"), GRAPH_JSON)
def test_json_answers_match_their_documented_schemas(
    services: dict[str, str], path: str, params: dict[str, Any]
) -> None:
    if path.startswith("/graph/"):
        params = {**params, "format": "json"}
    response = requests.get(f"{services['graph']}{path}", params=params, timeout=60)
    assert response.status_code == 200
    OAS31Validator(response_schema(path)).validate(response.json())


@pytest.mark.integration
def test_errors_match_the_error_schema(services: dict[str, str]) -> None:
    response = requests.get(f"{services['graph']}/graph/box", params={"kind": "strip"}, timeout=30)
    assert response.status_code == 400
    schema = {"$ref": "#/components/schemas/Error", "components": SPEC["components"]}
    OAS31Validator(schema).validate(response.json())
