"""Every setting Tumorscope reads from the environment, read here and nowhere else."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BUNDLED_DATASET = Path(__file__).parent / "data" / "breast-cancer-wisconsin-data.csv"


class ConfigError(ValueError):
    """A setting in the environment has a value Tumorscope cannot use."""


@dataclass(frozen=True)
class Config:
    redis_url: str = "redis://localhost:6379/0"
    #: Where rendered plots and /features are cached; the store (redis_url) when unset.
    cache_redis_url: str = ""
    redis_timeout_seconds: float = 2.0
    k_sink: str = ""
    ce_overrides: Mapping[str, str] = field(default_factory=dict)
    sink_timeout_seconds: float = 30.0
    status_base_url: str = ""
    #: submit's public URL, for the explorer page graph serves; unset: the page's own origin (a gateway).
    submit_base_url: str = ""
    #: Origins (scheme://host[:port]) whose pages may call submit and status from a browser.
    cors_allowed_origins: tuple[str, ...] = ()
    job_ttl_seconds: int = 86400
    job_deadline_seconds: int = 600
    render_lock_seconds: float = 60.0
    dataset_path: Path = BUNDLED_DATASET
    max_body_bytes: int = 65536
    cache_ttl_seconds: int = 3600
    log_level: str = "INFO"
    #: ``text`` (``LEVEL service message``) or ``json`` (one object a line, for a log store).
    log_format: str = "text"
    #: The function's name in its lines: functions-framework sets FUNCTION_TARGET from --target.
    service: str = "tumorscope"
    #: Whether the standard OTEL_* variables ask for OpenTelemetry export (shared/observability/telemetry.py).
    otel_export: bool = False
    #: The service name spans and metrics carry: OTEL_SERVICE_NAME, else ``service``.
    otel_service_name: str = "tumorscope"
    #: Whether render draws every panel background ahead of the jobs, while it has none to draw.
    render_warm_up: bool = True
    #: X-Forwarded-For entries appended by proxies we trust (0: the TCP peer is the client).
    trusted_proxy_hops: int = 0
    #: Submits one client may make, in the notation of the ``limits`` library.
    submit_rate_limit: str = "60/minute"
    #: Plots graph draws for one client (cache hits and 304s are free), in the same notation.
    draw_rate_limit: str = "30/minute"
    #: The most of the store's room that one client's live jobs may take.
    client_store_share: float = 0.25


LOG_FORMATS = ("text", "json")
#: Any of these set (and OTEL_SDK_DISABLED not true) turns export on; the SDK reads the rest itself.
OTEL_EXPORT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def _number(environ: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name}={raw!r} is not true or false")
    return raw in ("true", "1", "yes")


def _ce_overrides(raw: str) -> dict[str, str]:
    """Parse K_CE_OVERRIDES, which a SinkBinding sets to {"extensions": {name: value}}."""
    if not raw.strip():
        return {}
    try:
        extensions = json.loads(raw).get("extensions", {})
    except (ValueError, AttributeError):
        raise ConfigError(f"K_CE_OVERRIDES={raw!r} is not a JSON object") from None
    if not isinstance(extensions, dict):
        raise ConfigError("K_CE_OVERRIDES: 'extensions' must be an object")
    return {str(key): str(value) for key, value in extensions.items()}


def _log_format(environ: Mapping[str, str]) -> str:
    value = (environ.get("LOG_FORMAT") or "text").strip().lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT={value!r}: expected {' or '.join(LOG_FORMATS)}")
    return value


def _otel_export(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in OTEL_EXPORT_VARIABLES)


def _origins(raw: str) -> tuple[str, ...]:
    """Parse CORS_ALLOWED_ORIGINS: comma-separated origins such as ``https://graph.example.com``, or ``*``."""
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/?#\s]+", origin):
            raise ConfigError(f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin like https://host[:port]")
    return origins


#: One rate limit in the ``limits`` library's notation: ``60/minute``, ``10 per 2 hours``.
RATE_LIMIT = re.compile(
    r"\s*[1-9][0-9]*\s*(/|\s+per\s+)\s*([1-9][0-9]*\s*)?(second|minute|hour|day|month|year)s?\s*", re.I
)


def _rate_limit(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not RATE_LIMIT.fullmatch(raw):
        raise ConfigError(f"{name}={raw!r} is not a rate limit like '60/minute' or '100 per hour'")
    return raw


def _hops(environ: Mapping[str, str]) -> int:
    raw = environ.get("TRUSTED_PROXY_HOPS", "").strip() or "0"
    if not raw.isdigit():
        raise ConfigError(f"TRUSTED_PROXY_HOPS={raw!r} is not a whole number of proxies (0 or more)")
    return int(raw)


def _share(environ: Mapping[str, str]) -> float:
    share = _number(environ, "CLIENT_STORE_SHARE", Config.client_store_share, float)
    if share > 1:
        raise ConfigError(f"CLIENT_STORE_SHARE={share!r} is a share of the store: more than 0, at most 1")
    return share


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Read the configuration from the environment; unset or empty values take the defaults."""
    defaults = Config()
    redis_url = environ.get("REDIS_URL") or defaults.redis_url
    service = environ.get("FUNCTION_TARGET", "").strip() or defaults.service
    return Config(
        redis_url=redis_url,
        cache_redis_url=environ.get("CACHE_REDIS_URL", "").strip() or redis_url,
        redis_timeout_seconds=_number(
            environ, "REDIS_TIMEOUT_SECONDS", defaults.redis_timeout_seconds, float
        ),
        k_sink=environ.get("K_SINK", "").strip(),
        ce_overrides=_ce_overrides(environ.get("K_CE_OVERRIDES", "")),
        sink_timeout_seconds=_number(environ, "SINK_TIMEOUT_SECONDS", defaults.sink_timeout_seconds, float),
        status_base_url=environ.get("STATUS_BASE_URL", "").strip().rstrip("/"),
        submit_base_url=environ.get("SUBMIT_BASE_URL", "").strip().rstrip("/"),
        cors_allowed_origins=_origins(environ.get("CORS_ALLOWED_ORIGINS", "")),
        job_ttl_seconds=int(_number(environ, "JOB_TTL_SECONDS", defaults.job_ttl_seconds, int)),
        job_deadline_seconds=int(
            _number(environ, "JOB_DEADLINE_SECONDS", defaults.job_deadline_seconds, int)
        ),
        render_lock_seconds=_number(environ, "RENDER_LOCK_SECONDS", defaults.render_lock_seconds, float),
        dataset_path=Path(environ.get("DATASET_PATH") or defaults.dataset_path),
        max_body_bytes=int(_number(environ, "MAX_BODY_BYTES", defaults.max_body_bytes, int)),
        cache_ttl_seconds=int(_number(environ, "CACHE_TTL_SECONDS", defaults.cache_ttl_seconds, int)),
        log_level=(environ.get("LOG_LEVEL") or defaults.log_level).upper(),
        log_format=_log_format(environ),
        service=service,
        otel_export=_otel_export(environ),
        otel_service_name=environ.get("OTEL_SERVICE_NAME", "").strip() or service,
        render_warm_up=_flag(environ, "RENDER_WARM_UP", defaults.render_warm_up),
        trusted_proxy_hops=_hops(environ),
        submit_rate_limit=_rate_limit(environ, "SUBMIT_RATE_LIMIT", defaults.submit_rate_limit),
        draw_rate_limit=_rate_limit(environ, "DRAW_RATE_LIMIT", defaults.draw_rate_limit),
        client_store_share=_share(environ),
    )
