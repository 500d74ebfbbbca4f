"""Security: a password-protected Redis, unguessable job ids, no secret in the repository, bounded work.

That render is cluster-local and Redis reachable only from the project's pods (with the password
from a Secret) is checked on the built manifests in tests/test_manifests.py.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import redis
import requests
from helpers import error_of
from reliability import PrivateRedis, deliver, log_lines, wait_until_finished

from devtools.devserver import ROOT
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file
from shared.dataset.features import FEATURES
from shared.web.events import job_submitted

pytestmark = pytest.mark.integration

SAMPLE = {"radius_mean": 14.5, "texture_mean": 20.0}
FUNCTIONS = ("render", "status", "submit", "graph")


@pytest.fixture
def protected_redis(tmp_path: Path):
    """A redis-server started with ``--requirepass`` and a password made up for this run."""
    server = PrivateRedis(tmp_path / "redis", password=secrets.token_urlsafe(18))
    load_file(server.client(), BUNDLED_DATASET)
    yield server
    server.stop()


def start_all(function_processes, redis_url: str) -> dict[str, str]:
    environ = {"REDIS_URL": redis_url, "REDIS_TIMEOUT_SECONDS": "1"}
    urls = {"render": function_processes.start("render", environ)}
    urls["status"] = function_processes.start("status", environ)
    wiring = {"K_SINK": urls["render"], "STATUS_BASE_URL": urls["status"]}
    urls["submit"] = function_processes.start("submit", {**environ, **wiring})
    urls["graph"] = function_processes.start("graph", environ)
    return urls


def test_the_functions_work_with_a_password_protected_redis(function_processes, protected_redis) -> None:
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=protected_redis.port).ping()  # without the password Redis refuses
    urls = start_all(function_processes, protected_redis.url)

    submitted = requests.post(f"{urls['submit']}/submit", json=SAMPLE, timeout=30)

    assert submitted.status_code == 202
    assert wait_until_finished(urls["status"], submitted.json()["job_id"])["status"] == "complete"
    result = requests.get(submitted.json()["result_url"], timeout=10)
    assert result.headers["Content-Type"] == "image/png"
    assert requests.get(f"{urls['graph']}/graph/histogram", timeout=30).status_code == 200


@pytest.mark.parametrize("credentials", ["wrong", "none"])
def test_a_wrong_or_missing_password_is_a_503_that_shows_no_password(
    function_processes, protected_redis, credentials: str
) -> None:
    wrong = secrets.token_urlsafe(18)
    userinfo = f":{wrong}@" if credentials == "wrong" else ""
    urls = start_all(function_processes, f"redis://{userinfo}127.0.0.1:{protected_redis.port}/0")
    answers = [
        requests.post(f"{urls['submit']}/submit", json=SAMPLE, timeout=15),
        requests.get(f"{urls['status']}/status/{'a' * 32}", timeout=15),
        requests.get(f"{urls['status']}/result/{'a' * 32}", timeout=15),
        requests.get(f"{urls['graph']}/graph/histogram", timeout=15),
        requests.get(f"{urls['graph']}/graph/scatter?x=radius_mean&y=area_mean", timeout=15),
        deliver(urls["render"], job_submitted("a" * 32, SAMPLE, {})),
    ]

    for answer in answers:
        assert answer.status_code == 503, answer.text[:300]
        assert int(answer.headers["Retry-After"]) > 0
        assert error_of(answer)["code"] == "unavailable"
    everything = "\n".join(
        [a.text + json.dumps(dict(a.headers)) for a in answers]
        + ["\n".join(log_lines(function_processes.log_dir, urls[name], name)) for name in FUNCTIONS]
    )
    assert "redis unavailable" in everything  # the logs say what went wrong...
    assert wrong not in everything  # ...and no password, wrong or right, appears anywhere
    assert protected_redis.password not in everything


def test_job_ids_are_128_random_bits_and_never_repeat(function_processes, loaded_redis, event_sink) -> None:
    submit = function_processes.start("submit", {"REDIS_URL": loaded_redis.url, "K_SINK": event_sink.url})
    with requests.Session() as session:
        ids = [session.post(f"{submit}/submit", json=SAMPLE, timeout=10).json()["job_id"] for _ in range(64)]

    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", job_id) for job_id in ids)  # 32 hex digits = 128 bits
    for position in range(32):  # no fixed or counting part: every position varies across jobs
        assert len(Counter(job_id[position] for job_id in ids)) >= 4
    assert len({job_id[:8] for job_id in ids}) == len(ids)  # not a timestamp prefix either


def test_a_result_is_reachable_only_by_its_exact_id(services) -> None:
    job_id = requests.post(f"{services['submit']}/submit", json=SAMPLE, timeout=30).json()["job_id"]
    assert wait_until_finished(services["status"], job_id)["status"] == "complete"
    other = job_id[:-1] + ("0" if job_id[-1] != "0" else "1")  # one hex digit away

    assert requests.get(f"{services['status']}/result/{job_id}", timeout=10).status_code == 200
    assert requests.get(f"{services['status']}/result/{other}", timeout=10).status_code == 404
    for guess in (job_id[:-1], job_id[:8], job_id[:-1] + "*", "*", ""):
        assert requests.get(f"{services['status']}/result/{guess}", timeout=10).status_code in (400, 404)
    routes = [
        r["path"]
        for name in ("submit", "status", "graph")
        for r in requests.get(services[name]).json()["routes"]
    ]
    assert [path for path in routes if "job" in path] == ["/status/<path:job_id>", "/result/<path:job_id>"]


#: What a committed secret looks like: private keys, cloud and forge tokens, credentials inside URLs.
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    # user:password@ in a URL, unless the password is a reference like $(REDIS_PASSWORD) or ${VAR}
    "password in a URL": re.compile(r"[a-z]+://[^\s:/@\[]*:(?![$<{])[^\s@/]{8,}@"),
    "password assignment": re.compile(
        r"(?i)\b(?:requirepass|password)(?:\s*[:=]\s*|\s+)['\"]?(?![$<{])[A-Za-z0-9+/_-]{12,}"
    ),
}


def test_no_secret_is_committed() -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found = []
    for name in tracked.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        found += [f"{name}: {kind}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert found == []


def test_the_secret_patterns_catch_what_they_should() -> None:
    """The scan above is only as good as its patterns: they find real-looking secrets.

    (Each example is split in two, so that this file does not hold what the scan looks for.)
    """
    caught = {
        "redis://:" + "Zm9vYmFyYmF6cXV4@redis:6379/0": "password in a URL",
        "requirepass " + "Zm9vYmFyYmF6cXV4": "password assignment",
        "AKIA" + "ABCDEFGHIJKLMNOP": "AWS access key",
    }
    for text, kind in caught.items():
        assert SECRET_PATTERNS[kind].search(text), text
    for placeholder in (
        "redis://:$(REDIS_PASSWORD)@tumorscope-redis:6379/0",
        "redis://[:password@]host:6379",
    ):
        assert not SECRET_PATTERNS["password in a URL"].search(placeholder)


def test_work_per_request_is_bounded(services) -> None:
    """The biggest requests a client may send are refused cheaply or answered with bounded output."""
    many_names = {f"radius_meam{i}": 1 for i in range(3000)}  # about 64 KiB of misspelt names
    answer = requests.post(f"{services['submit']}/submit", json=many_names, timeout=10)
    assert answer.status_code == 400
    assert len(error_of(answer)["suggestions"]) <= 30  # difflib runs for 30 names, not 3000
    assert len(answer.content) < 8192

    assert (
        requests.post(f"{services['submit']}/submit", json={"x": "a" * 70_000}, timeout=10).status_code == 413
    )
    too_many = {**dict.fromkeys(FEATURES, 1.0), "concave points_mean": 1.0}  # 31 names, 30 features
    assert requests.post(f"{services['submit']}/submit", json=too_many, timeout=10).status_code == 400
    for query in ("bins=201", "width=2401", "height=2401", "dpi=301"):
        answer = requests.get(f"{services['graph']}/graph/histogram?{query}", timeout=10)
        assert answer.status_code == 400, query
