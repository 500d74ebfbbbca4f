"""Configuration comes from the environment, in one place, with defaults that suit `make dev`."""

from __future__ import annotations

import subprocess

import pytest

from devtools.devserver import BIN, ROOT
from shared.config import BUNDLED_DATASET, ConfigError, load_config, load_config_or_exit, load_dev_config


def test_defaults() -> None:
    config = load_config({})
    assert config.redis_url == "redis://localhost:6379/0"
    assert config.cache_redis_url == config.redis_url  # make dev: one redis-server for store and cache
    assert config.max_body_bytes == 64 * 1024
    assert config.dataset_path == BUNDLED_DATASET
    assert config.ce_overrides == {}
    assert config.cors_allowed_origins == ()  # no browser page of another origin may call submit or status
    assert config.submit_base_url == ""  # the explorer page posts to its own origin, as behind the gateway


def test_values_from_the_environment() -> None:
    config = load_config(
        {
            "REDIS_URL": "redis://:secret@redis:6379/2",
            "CACHE_REDIS_URL": "redis://:other@redis-cache:6379/0",
            "K_SINK": "http://broker-ingress.knative-eventing.svc/tumorscope/default",
            "K_CE_OVERRIDES": '{"extensions": {"tenant": "a"}}',
            "STATUS_BASE_URL": "https://status.example.com/",
            "JOB_TTL_SECONDS": "60",
            "MAX_BODY_BYTES": "1000",
            "SUBMIT_BASE_URL": "https://submit.example.com/",
            "CORS_ALLOWED_ORIGINS": "https://graph.example.com, http://localhost:8084/",
        }
    )
    assert config.redis_url == "redis://:secret@redis:6379/2"
    assert config.cache_redis_url == "redis://:other@redis-cache:6379/0"
    assert config.k_sink.endswith("/tumorscope/default")
    assert config.ce_overrides == {"tenant": "a"}
    assert config.status_base_url == "https://status.example.com"
    assert config.job_ttl_seconds == 60
    assert config.max_body_bytes == 1000
    assert config.submit_base_url == "https://submit.example.com"
    assert config.cors_allowed_origins == ("https://graph.example.com", "http://localhost:8084")


@pytest.mark.parametrize(
    "environ",
    [
        {"JOB_TTL_SECONDS": "soon"},
        {"MAX_BODY_BYTES": "0"},
        {"K_CE_OVERRIDES": "not json"},
        {"CORS_ALLOWED_ORIGINS": "https://graph.example.com/explorer"},  # a URL with a path is no origin
    ],
)
def test_unusable_values_are_named_in_the_error(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(environ))):
        load_config(environ)


def test_logs_are_text_and_export_is_off_unless_asked() -> None:
    config = load_config({})
    assert (config.log_format, config.service, config.otel_export) == ("text", "tumorscope", False)


def test_log_format_service_and_opentelemetry_from_the_environment() -> None:
    config = load_config(
        {
            "LOG_FORMAT": "JSON",
            "FUNCTION_TARGET": "render",  # functions-framework sets it from --target
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
        }
    )
    assert (config.log_format, config.service, config.otel_export) == ("json", "render", True)
    assert config.otel_service_name == "render"
    assert load_config({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}).otel_export
    assert load_config({"OTEL_SERVICE_NAME": "tumorscope-render"}).otel_service_name == "tumorscope-render"
    assert not load_config(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    ).otel_export


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_config({"LOG_FORMAT": "xml"})


def test_render_warms_its_backgrounds_up_unless_told_not_to() -> None:
    assert load_config({}).render_warm_up is True
    assert load_config({"RENDER_WARM_UP": "false"}).render_warm_up is False
    assert load_config({"RENDER_WARM_UP": " True "}).render_warm_up is True
    with pytest.raises(ConfigError, match="RENDER_WARM_UP='sometimes' is not true or false"):
        load_config({"RENDER_WARM_UP": "sometimes"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JOB_TTL_SECONDS", "nan"),
        ("JOB_TTL_SECONDS", "inf"),
        ("JOB_TTL_SECONDS", "-60"),
        ("JOB_TTL_SECONDS", "1.5"),  # whole seconds: Redis's EXPIRE takes no fraction
        ("JOB_TTL_SECONDS", str(2**31)),
        ("JOB_DEADLINE_SECONDS", "0"),
        ("CACHE_TTL_SECONDS", "NaN"),
        ("MAX_BODY_BYTES", "64k"),
        ("REDIS_TIMEOUT_SECONDS", "nan"),
        ("REDIS_TIMEOUT_SECONDS", "inf"),
        ("REDIS_TIMEOUT_SECONDS", "-infinity"),
        ("SINK_TIMEOUT_SECONDS", "0"),
        ("RENDER_LOCK_SECONDS", "1e400"),  # a float that overflows to inf
        ("LOG_LEVEL", "loud"),
        ("LOG_LEVEL", "10"),
        ("LOG_FORMAT", "xml"),
        ("REDIS_URL", "localhost:6379"),
        ("CACHE_REDIS_URL", "http://redis-cache:6379/0"),
    ],
)
def test_a_value_out_of_its_range_is_refused_with_the_variable_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({variable: value})
    message = str(refused.value)
    assert message.startswith(f"{variable} must be ")
    assert repr(value) in message  # what was given, quoted
    assert "\n" not in message


def test_numbers_in_range_are_taken_as_given() -> None:
    config = load_config(
        {
            "JOB_TTL_SECONDS": " 1 ",
            "JOB_DEADLINE_SECONDS": str(2**31 - 1),
            "REDIS_TIMEOUT_SECONDS": "0.25",
            "SINK_TIMEOUT_SECONDS": "1e1",
            "RENDER_LOCK_SECONDS": "90",
            "LOG_LEVEL": "debug",
            "REDIS_URL": "rediss://:secret@redis.example.com:6380/0",
            "CACHE_REDIS_URL": "redis+cluster://redis-0.redis:6379,redis-1.redis:6379",
        }
    )
    assert (config.job_ttl_seconds, config.job_deadline_seconds) == (1, 2**31 - 1)
    assert (config.redis_timeout_seconds, config.sink_timeout_seconds, config.render_lock_seconds) == (
        0.25,
        10.0,
        90.0,
    )
    assert config.log_level == "DEBUG"
    assert config.cache_redis_url == "redis+cluster://redis-0.redis:6379,redis-1.redis:6379"


def test_make_dev_reads_its_ports_and_threads_with_the_same_care() -> None:
    dev = load_dev_config({"SUBMIT_PORT": "9001", "DEV_REDIS_PORT": "9005", "THREADS": "2"})
    assert dev.ports == {"submit": 9001, "status": 8082, "render": 8083, "graph": 8084}
    assert (dev.redis_port, dev.redis_url, dev.threads, dev.redis_cluster) == (9005, "", 2, 0)
    assert load_dev_config({"DEV_REDIS_CLUSTER": "3"}).redis_cluster == 3
    for variable, value in [
        ("GRAPH_PORT", "65536"),
        ("STATUS_PORT", "0"),
        ("DEV_REDIS_PORT", "x"),
        ("THREADS", "0"),
        ("DEV_REDIS_CLUSTER", "2"),  # a cluster fails over by a majority of 3 primaries or more
        ("DEV_REDIS_CLUSTER", "17"),
    ]:
        with pytest.raises(ConfigError, match=f"^{variable} must be "):
            load_dev_config({variable: value})


def test_a_process_that_starts_with_a_bad_setting_exits_2_with_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        load_config_or_exit({"JOB_TTL_SECONDS": "nan"})
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "tumorscope: JOB_TTL_SECONDS must be a whole number of seconds from 1 to 2147483647, not 'nan'\n"
    )


@pytest.mark.parametrize(
    ("target", "folder"), [("submit", "submit"), ("status", "status"), ("render", "render")]
)
def test_a_function_with_a_bad_setting_exits_at_once_naming_it(target: str, folder: str) -> None:
    """functions-framework loads the function's source before it listens: the process ends there."""
    result = subprocess.run(
        [
            str(BIN / "functions-framework"),
            "--target", target,
            "--source", str(ROOT / "functions" / folder / "main.py"),
            "--port", "0",
        ],
        env={"PYTHONPATH": str(ROOT), "LOG_LEVEL": "loud", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "tumorscope: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'loud'"
    )


def test_the_fair_share_settings_and_their_defaults() -> None:
    assert load_config({}).trusted_proxy_hops == 0  # no proxy: a client's X-Forwarded-For is ignored
    assert load_config({}).submit_rate_limit == "60/minute"
    assert load_config({}).draw_rate_limit == "30/minute"
    assert load_config({}).client_store_share == 0.25
    config = load_config(
        {
            "TRUSTED_PROXY_HOPS": "1",
            "SUBMIT_RATE_LIMIT": "20/minute",
            "DRAW_RATE_LIMIT": "100 per 2 hours",
            "CLIENT_STORE_SHARE": "0.5",
        }
    )
    assert (config.trusted_proxy_hops, config.client_store_share) == (1, 0.5)
    assert (config.submit_rate_limit, config.draw_rate_limit) == ("20/minute", "100 per 2 hours")


@pytest.mark.parametrize(
    "environ",
    [
        {"SUBMIT_RATE_LIMIT": "60"},
        {"SUBMIT_RATE_LIMIT": "0/minute"},
        {"DRAW_RATE_LIMIT": "10/fortnight"},
        {"DRAW_RATE_LIMIT": "10/minute;100/hour"},  # one limit each
        {"TRUSTED_PROXY_HOPS": "-1"},
        {"TRUSTED_PROXY_HOPS": "one"},
        {"CLIENT_STORE_SHARE": "0"},
        {"CLIENT_STORE_SHARE": "1.5"},
    ],
)
def test_unusable_limits_are_named_in_the_error(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(environ))):
        load_config(environ)


@pytest.mark.parametrize("limit", ["60/minute", "1/second", "10 per 2 hours", "5 / 3 minutes", "1000/DAY"])
def test_every_limit_config_accepts_is_one_the_limits_library_reads(limit: str) -> None:
    from limits import parse

    config = load_config({"SUBMIT_RATE_LIMIT": limit})
    assert parse(config.submit_rate_limit).amount == int(limit.split("/")[0].split(" per ")[0])
