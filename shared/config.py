"""Every setting Tumorscope reads from the environment, read here and nowhere else."""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TypeVar

T = TypeVar("T")
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
    #: X-Forwarded-For entries appended by proxies we trust (0: the TCP peer is the client).
    trusted_proxy_hops: int = 0
    #: Submits one client may make, in the notation of the ``limits`` library.
    submit_rate_limit: str = "60/minute"
    #: Plots graph draws for one client (cache hits and 304s are free), in the same notation.
    draw_rate_limit: str = "30/minute"
    #: The most of the store's room that one client's live jobs may take.
    client_store_share: float = 0.25


LOG_FORMATS = ("text", "json")
#: Python logging's levels, as LOG_LEVEL may name them (any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The longest TTL or deadline, and the largest body: Redis and Python take anything up to here.
MAX_WHOLE = 2**31 - 1
#: A single Redis, or (``+cluster``) any node of a Redis Cluster (shared/store/redis_client.py).
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
#: Any of these set (and OTEL_SDK_DISABLED not true) turns export on; the SDK reads the rest itself.
OTEL_EXPORT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def _checked(
    environ: Mapping[str, str],
    name: str,
    default: T,
    parse: Callable[[str], T],
    valid: Callable[[T], bool],
    expected: str,
) -> T:
    """``name``'s value, parsed and checked: else ConfigError ``NAME must be <expected>, not '<raw>'``."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise ConfigError(f"{name} must be {expected}, not {raw!r}")
    return value


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """A duration in seconds: a finite number greater than 0 (``1.5``, ``30``); nan and inf are not."""
    expected = "a finite number of seconds greater than 0"
    return _checked(environ, name, default, float, lambda v: math.isfinite(v) and v > 0, expected)


def _whole(
    environ: Mapping[str, str], name: str, default: int, unit: str, low: int = 1, high: int = MAX_WHOLE
) -> int:
    """A whole number from ``low`` to ``high``; ``unit`` says what it counts, for the message."""
    expected = f"a whole number {unit} from {low} to {high}"
    return _checked(environ, name, default, int, lambda v: low <= v <= high, expected)


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    return _whole(environ, name, default, "(a TCP port)", 1, 65535)


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


def _log_level(environ: Mapping[str, str], default: str) -> str:
    raw = environ.get("LOG_LEVEL", "").strip()
    value = raw.upper() or default
    if value not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {raw!r}")
    return value


def _redis_url(name: str, url: str) -> str:
    """A URL redis-py can connect to: ``redis://``, ``rediss://``, ``unix://``, or a cluster's
    ``redis+cluster://`` or ``rediss+cluster://``."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in REDIS_SCHEMES:
        schemes = ", ".join(f"{s}://" for s in REDIS_SCHEMES)
        raise ConfigError(f"{name} must be a URL starting {schemes}, not {url!r}")
    return url


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
    """One of ``choices`` (any case); unset or empty: the first."""
    value = (environ.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be {' or '.join(choices)}, not {value!r}")
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


#: One rate limit in the ``limits`` library's notation: ``60/minute``, ``10 per 2 hours``.
RATE_LIMIT = re.compile(
    r"\s*[1-9][0-9]*\s*(/|\s+per\s+)\s*([1-9][0-9]*\s*)?(second|minute|hour|day|month|year)s?\s*", re.I
)


def _rate_limit(environ: Mapping[str, str], name: str, default: str) -> str:
    expected = "a rate limit like '60/minute' or '100 per hour'"
    return _checked(environ, name, default, str, RATE_LIMIT.fullmatch, expected)


def _share(environ: Mapping[str, str], name: str, default: float) -> float:
    """A share of something: a number greater than 0 and at most 1."""
    return _checked(environ, name, default, float, lambda v: 0 < v <= 1, "a share greater than 0, at most 1")


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Read the configuration from the environment; unset or empty values take the defaults.

    A value Tumorscope cannot use (``JOB_TTL_SECONDS=nan``, ``LOG_LEVEL=loud``) raises
    :class:`ConfigError`, whose message names the variable.
    """
    defaults = Config()
    redis_url = _redis_url("REDIS_URL", environ.get("REDIS_URL", "").strip() or defaults.redis_url)
    service = environ.get("FUNCTION_TARGET", "").strip() or defaults.service
    return Config(
        redis_url=redis_url,
        cache_redis_url=_redis_url(
            "CACHE_REDIS_URL", environ.get("CACHE_REDIS_URL", "").strip() or redis_url
        ),
        redis_timeout_seconds=_seconds(environ, "REDIS_TIMEOUT_SECONDS", defaults.redis_timeout_seconds),
        k_sink=environ.get("K_SINK", "").strip(),
        ce_overrides=_ce_overrides(environ.get("K_CE_OVERRIDES", "")),
        sink_timeout_seconds=_seconds(environ, "SINK_TIMEOUT_SECONDS", defaults.sink_timeout_seconds),
        status_base_url=environ.get("STATUS_BASE_URL", "").strip().rstrip("/"),
        submit_base_url=environ.get("SUBMIT_BASE_URL", "").strip().rstrip("/"),
        cors_allowed_origins=_origins(environ.get("CORS_ALLOWED_ORIGINS", "")),
        job_ttl_seconds=_whole(environ, "JOB_TTL_SECONDS", defaults.job_ttl_seconds, "of seconds"),
        job_deadline_seconds=_whole(
            environ, "JOB_DEADLINE_SECONDS", defaults.job_deadline_seconds, "of seconds"
        ),
        render_lock_seconds=_seconds(environ, "RENDER_LOCK_SECONDS", defaults.render_lock_seconds),
        dataset_path=Path(environ.get("DATASET_PATH") or defaults.dataset_path),
        max_body_bytes=_whole(environ, "MAX_BODY_BYTES", defaults.max_body_bytes, "of bytes"),
        cache_ttl_seconds=_whole(environ, "CACHE_TTL_SECONDS", defaults.cache_ttl_seconds, "of seconds"),
        dataset=_choice(environ, "DATASET", DATASET_SOURCES),
        log_level=_log_level(environ, defaults.log_level),
        log_format=_choice(environ, "LOG_FORMAT", LOG_FORMATS),
        service=service,
        otel_export=_otel_export(environ),
        otel_service_name=environ.get("OTEL_SERVICE_NAME", "").strip() or service,
        render_warm_up=_flag(environ, "RENDER_WARM_UP", defaults.render_warm_up),
        trusted_proxy_hops=_whole(environ, "TRUSTED_PROXY_HOPS", 0, "of proxies", 0, 16),
        submit_rate_limit=_rate_limit(environ, "SUBMIT_RATE_LIMIT", defaults.submit_rate_limit),
        draw_rate_limit=_rate_limit(environ, "DRAW_RATE_LIMIT", defaults.draw_rate_limit),
        client_store_share=_share(environ, "CLIENT_STORE_SHARE", defaults.client_store_share),
    )


def load_config_or_exit(environ: Mapping[str, str] = os.environ) -> Config:
    """:func:`load_config` for a process that is starting: a ConfigError ends it with one line and status 2.

    The line (``tumorscope: JOB_TTL_SECONDS must be ...``) goes to stderr, with no traceback.
    functions-framework loads a function's source before it listens, so the process exits at once.
    """
    try:
        return load_config(environ)
    except ConfigError as error:
        exit_for(error)


def exit_for(error: ConfigError) -> NoReturn:
    """End the process with ``error`` as one line on stderr and exit status 2 (a usage error)."""
    print(f"tumorscope: {error}", file=sys.stderr, flush=True)
    raise SystemExit(2)


@dataclass(frozen=True)
class DevConfig:
    """What ``make dev`` (devtools/devserver.py) reads beyond :class:`Config`."""

    #: Each function's port: SUBMIT_PORT, STATUS_PORT, RENDER_PORT, GRAPH_PORT.
    ports: Mapping[str, int]
    #: The port of the redis-server make dev starts when REDIS_URL is unset.
    redis_port: int = 6380
    #: REDIS_URL as given; empty: make dev starts its own redis-server.
    redis_url: str = ""
    #: functions-framework's THREADS for each function.
    threads: int = 4
    #: DEV_REDIS_CLUSTER: 0, one redis-server; 3 or more, a Redis Cluster of that many primaries,
    #: each with a replica, on DEV_REDIS_PORT and the ports after it.
    redis_cluster: int = 0


#: The functions make dev runs, each with its port's variable and default.
DEV_PORTS = {"submit": ("SUBMIT_PORT", 8081), "status": ("STATUS_PORT", 8082),
             "render": ("RENDER_PORT", 8083), "graph": ("GRAPH_PORT", 8084)}  # fmt: skip


def load_dev_config(environ: Mapping[str, str] = os.environ) -> DevConfig:
    """make dev's own settings, checked as :func:`load_config` checks the functions'."""
    ports = {name: _port(environ, variable, default) for name, (variable, default) in DEV_PORTS.items()}
    redis_url = environ.get("REDIS_URL", "").strip()
    return DevConfig(
        ports=ports,
        redis_port=_port(environ, "DEV_REDIS_PORT", DevConfig.redis_port),
        redis_url=_redis_url("REDIS_URL", redis_url) if redis_url else "",
        threads=_whole(environ, "THREADS", DevConfig.threads, "of threads", 1, 1024),
        redis_cluster=_cluster_size(environ),
    )


#: The most primaries ``DEV_REDIS_CLUSTER`` may ask for.
MAX_DEV_PRIMARIES = 16


def _cluster_size(environ: Mapping[str, str]) -> int:
    """DEV_REDIS_CLUSTER: 0 (no cluster), or 3 to 16 primaries (a cluster fails over by majority)."""
    primaries = _whole(environ, "DEV_REDIS_CLUSTER", 0, "of primaries", 0, MAX_DEV_PRIMARIES)
    if primaries in (1, 2):
        raise ConfigError(
            f"DEV_REDIS_CLUSTER must be 0 or 3 to {MAX_DEV_PRIMARIES} primaries, not {primaries}"
        )
    return primaries
