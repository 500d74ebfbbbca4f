"""Every setting Tumorscope reads from the environment, read here and nowhere else."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BUNDLED_DATASET = Path(__file__).parent / "data" / "breast-cancer-wisconsin-data.csv"
#: The Kaggle data set the bundled CSV comes from, and its file (``make kaggle``).
KAGGLE_DATASET = "uciml/breast-cancer-wisconsin-data"
KAGGLE_FILE = "data.csv"
#: What ``make dev`` loads at start (DATASET): the bundled CSV (or DATASET_PATH), or Kaggle's.
DATASET_SOURCES = ("bundled", "kaggle")


class ConfigError(ValueError):
    """A setting in the environment has a value Tumorscope cannot use."""


@dataclass(frozen=True)
class KaggleCredentials:
    """The user's Kaggle credentials: a username and key, or an API token (never in a repr)."""

    username: str = field(default="", repr=False)
    key: str = field(default="", repr=False)
    api_token: str = field(default="", repr=False)

    @property
    def kind(self) -> str:
        """Which variables they came from, for messages (names only, no values)."""
        return "KAGGLE_API_TOKEN" if self.api_token else "KAGGLE_USERNAME and KAGGLE_KEY"

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be printed."""
        return tuple(value for value in (self.key, self.api_token) if value)


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
    #: ``bundled`` (DATASET_PATH) or ``kaggle``: the data set ``make dev`` starts with.
    dataset: str = "bundled"
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


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = (environ.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name}={value!r}: expected {' or '.join(choices)}")
    return value


def kaggle_credentials(environ: Mapping[str, str] = os.environ) -> KaggleCredentials | None:
    """KAGGLE_API_TOKEN, else KAGGLE_USERNAME with KAGGLE_KEY; None when neither is set.

    Raises ConfigError for half a pair (a username without a key, or a key without a username).
    """
    token = environ.get("KAGGLE_API_TOKEN", "").strip()
    if token:
        return KaggleCredentials(api_token=token)
    username = environ.get("KAGGLE_USERNAME", "").strip()
    key = environ.get("KAGGLE_KEY", "").strip()
    if username and key:
        return KaggleCredentials(username=username, key=key)
    if username or key:
        missing = "KAGGLE_KEY" if username else "KAGGLE_USERNAME"
        raise ConfigError(f"{missing} is not set: Kaggle needs KAGGLE_USERNAME and KAGGLE_KEY together")
    return None


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
        dataset=_choice(environ, "DATASET", DATASET_SOURCES),
        max_body_bytes=int(_number(environ, "MAX_BODY_BYTES", defaults.max_body_bytes, int)),
        cache_ttl_seconds=int(_number(environ, "CACHE_TTL_SECONDS", defaults.cache_ttl_seconds, int)),
        log_level=(environ.get("LOG_LEVEL") or defaults.log_level).upper(),
        log_format=_log_format(environ),
        service=service,
        otel_export=_otel_export(environ),
        otel_service_name=environ.get("OTEL_SERVICE_NAME", "").strip() or service,
        render_warm_up=_flag(environ, "RENDER_WARM_UP", defaults.render_warm_up),
    )
