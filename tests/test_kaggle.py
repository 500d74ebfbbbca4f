"""``make kaggle`` (``python -m shared.dataset kaggle``): the real kagglehub against a stand-in of Kaggle.

With ``KAGGLE_API_ENVIRONMENT=TEST`` kagglehub itself calls http://localhost:7777, where
tests/kaggle_standin.py answers as Kaggle does. Each test runs the real command in a process of
its own, with HOME and KAGGLEHUB_CACHE in a temporary folder, against the tests' own Redis, and
checks what was loaded (or that nothing was), what the stand-in was asked, and that no credential
appears in anything the command printed. Port 7777 is fixed: these tests never run in parallel.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kaggle_standin import (
    DOWNLOAD_DATASET,
    GET_DATASET,
    KEY,
    TOKEN,
    USERNAME,
    Kaggle,
    KaggleStandIn,
)

from devtools.devserver import StartError, free_port, load_dataset, port_is_free
from shared.config import BUNDLED_DATASET, ConfigError, kaggle_credentials, load_config
from shared.dataset.columns import current_version, info, load_file
from shared.dataset.csv_file import file_version
from shared.dataset.kaggle import KaggleError, download

pytestmark = pytest.mark.xdist_group("kaggle-7777")

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = BUNDLED_DATASET.read_bytes()
BUNDLED_VERSION = file_version(BUNDLED_DATASET)
#: The bundled file with one value changed: another version, still a valid data set.
CHANGED = BUNDLED.replace(b",17.99,", b",18.01,", 1)
#: A redis db of these tests' own in the tests' redis-server.
DB = 5


def basic(**extra: str) -> dict[str, str]:
    return {"KAGGLE_USERNAME": USERNAME, "KAGGLE_KEY": KEY, **extra}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def kaggle() -> Iterator[Kaggle]:
    """The stand-in on 127.0.0.1:7777, serving the changed file to the right credentials."""
    standin = KaggleStandIn()
    standin.kaggle.serve_csv(CHANGED)
    yield standin.kaggle
    standin.close()


@pytest.fixture
def store(redis_server):
    """The tests' Redis (db 5) with the bundled data set loaded, as ``make dev`` leaves it."""
    client = redis_server.client(db=DB)
    client.flushdb()
    load_file(client, BUNDLED_DATASET)
    yield client
    client.flushdb()


@pytest.fixture
def make_kaggle(redis_server, tmp_path):
    """Run ``python -m shared.dataset kaggle`` as ``make kaggle`` does, with only the given credentials."""

    def run(credentials: dict[str, str], redis_url: str | None = None) -> Run:
        home, temporary = tmp_path / "home", tmp_path / "tmp"
        home.mkdir(exist_ok=True)
        temporary.mkdir(exist_ok=True)
        environ = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "HOME": str(home),
            "TMPDIR": str(temporary),
            "KAGGLEHUB_CACHE": str(tmp_path / "kagglehub"),
            "KAGGLE_API_ENVIRONMENT": "TEST",
            "REDIS_URL": redis_url or f"redis://127.0.0.1:{redis_server.port}/{DB}",
            **credentials,
        }
        done = subprocess.run(
            [sys.executable, "-m", "shared.dataset", "kaggle"],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for secret in (KEY, TOKEN):
            assert secret not in done.stdout + done.stderr, "a credential was printed"
        return Run(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def kaggle_environment(monkeypatch, tmp_path):
    """This process's environment as make kaggle's: kagglehub's test hook, a bare HOME, no credentials."""
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def assert_untouched(store, run: Run) -> None:
    """The command failed with one line on stderr, and the bundled data set is still the one loaded."""
    assert run.code == 1, run.output
    assert run.stderr.startswith("error: "), run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
    assert current_version(store) == BUNDLED_VERSION


# --- it loads Kaggle's file ----------------------------------------------------------------------


def test_good_credentials_load_a_changed_file_as_a_new_version(kaggle, store, make_kaggle, tmp_path):
    run = make_kaggle(basic())

    assert run.code == 0, run.output
    changed_version = hashlib.sha256(CHANGED).hexdigest()
    assert current_version(store) == changed_version != BUNDLED_VERSION
    assert info(store)["rows"] == 569
    assert f"sha256 {changed_version}: differs from the bundled copy ({BUNDLED_VERSION})" in run.stdout
    assert f"version {changed_version}" in run.stdout
    # kagglehub's three calls, with the user's Basic credentials; nothing else
    assert kaggle.calls() == [
        ("POST", GET_DATASET),
        ("POST", DOWNLOAD_DATASET),
        ("GET", "/files/data.csv.zip"),
    ]
    assert all(auth.startswith("Basic ") for _, _, auth in kaggle.requests[:2])
    assert not list((tmp_path / "tmp").iterdir()), "the download was left behind"


def test_an_api_token_is_sent_as_a_bearer_token(kaggle, store, make_kaggle):
    run = make_kaggle({"KAGGLE_API_TOKEN": TOKEN})

    assert run.code == 0, run.output
    assert current_version(store) != BUNDLED_VERSION
    assert [auth for _, _, auth in kaggle.requests[:2]] == [f"Bearer {TOKEN}"] * 2


@pytest.mark.parametrize("file_name", ["data.csv.zip", "archive.zip", "data.csv"])
def test_the_file_may_come_zipped_under_any_name_or_as_it_is(kaggle, store, make_kaggle, file_name):
    kaggle.serve_csv(BUNDLED, file_name)
    store.flushdb()

    run = make_kaggle(basic())

    assert run.code == 0, run.output
    assert current_version(store) == BUNDLED_VERSION
    assert f"sha256 {BUNDLED_VERSION}: equals the bundled copy" in run.stdout
    assert info(store)["source"] == "kaggle-uciml-breast-cancer-wisconsin-data.csv"


# --- every failure says what went wrong and leaves the data set as it was -----------------------


def test_no_credentials_is_said_before_any_request(kaggle, store, make_kaggle):
    run = make_kaggle({})

    assert_untouched(store, run)
    assert "no Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY" in run.stderr
    assert "KAGGLE_API_TOKEN" in run.stderr
    assert kaggle.requests == []


def test_a_username_without_a_key_is_refused_before_any_request(kaggle, store, make_kaggle):
    run = make_kaggle({"KAGGLE_USERNAME": USERNAME})

    assert_untouched(store, run)
    assert "KAGGLE_KEY is not set" in run.stderr
    assert kaggle.requests == []


def test_a_wrong_key_is_a_401_naming_the_variables_to_check(kaggle, store, make_kaggle):
    wrong = "ffffffffffffffffffffffffffffffff"
    run = make_kaggle(basic(KAGGLE_KEY=wrong))

    assert_untouched(store, run)
    assert (
        "Kaggle refused the credentials (401 Unauthorized): check KAGGLE_USERNAME and KAGGLE_KEY"
        in run.stderr
    )
    assert wrong not in run.output
    assert kaggle.calls() == [("POST", GET_DATASET)]


def test_terms_not_accepted_is_a_403_with_the_page_to_accept_them(kaggle, store, make_kaggle):
    kaggle.fail["DownloadDataset"] = 403

    run = make_kaggle(basic())

    assert_untouched(store, run)
    assert "Kaggle refused the download (403 Forbidden)" in run.stderr
    assert "https://www.kaggle.com/datasets/uciml/breast-cancer-wisconsin-data" in run.stderr


def test_an_unknown_data_set_is_a_404(kaggle, store, make_kaggle):
    kaggle.fail["GetDataset"] = 404

    run = make_kaggle(basic())

    assert_untouched(store, run)
    assert "Kaggle has no data set uciml/breast-cancer-wisconsin-data with a file data.csv (404" in run.stderr


def test_rate_limiting_is_a_429_with_when_to_try_again(kaggle, store, make_kaggle):
    kaggle.fail["GetDataset"] = 429
    kaggle.error_headers["Retry-After"] = "30"

    run = make_kaggle({"KAGGLE_API_TOKEN": TOKEN})

    assert_untouched(store, run)
    assert "(429 Too Many Requests): try again in 30 s" in run.stderr


def test_a_network_that_is_down_is_named(store, make_kaggle):
    run = make_kaggle(basic())  # no stand-in: nothing listens on 7777

    assert_untouched(store, run)
    assert "cannot reach Kaggle at http://localhost:7777 (Connection refused)" in run.stderr


@pytest.mark.parametrize(
    ("corrupt", "said"),
    [
        ("md5", "its MD5 checksum does not match"),
        ("short", "cut short"),
        ("truncated-zip", "not a readable zip"),
        ("garbage", "neither a zip nor a CSV"),
    ],
)
def test_a_corrupt_download_is_refused(kaggle, store, make_kaggle, corrupt, said):
    if corrupt == "truncated-zip":
        kaggle.file_name = "archive.zip"
        kaggle.body = kaggle.body[: len(kaggle.body) // 2]
    elif corrupt == "garbage":
        kaggle.body = bytes(range(256)) * 64
    else:
        kaggle.corrupt = corrupt

    run = make_kaggle(basic())

    assert_untouched(store, run)
    assert "corrupt" in run.stderr
    assert said in run.stderr


def test_a_download_that_hangs_fails_at_its_deadline(kaggle, tmp_path, kaggle_environment):
    kaggle.delay = 30

    started = time.monotonic()
    with pytest.raises(KaggleError, match="the download from Kaggle did not finish within 1 s"):
        download(kaggle_credentials(basic()), tmp_path / "download", deadline_seconds=1)
    assert time.monotonic() - started < 15  # gave up long before the file came


def test_a_csv_that_fails_validation_is_not_loaded(kaggle, store, make_kaggle):
    kaggle.serve_csv(BUNDLED.replace(b",M,", b",X,", 1))

    run = make_kaggle(basic())

    assert_untouched(store, run)
    assert "Kaggle's data.csv is not a usable data set, nothing was loaded: line 2 (id 842302)" in run.stderr
    assert "column diagnosis: 'X' is not M or B" in run.stderr


def test_a_redis_that_is_down_fails_before_the_download(kaggle, make_kaggle):
    run = make_kaggle(basic(), redis_url=f"redis://127.0.0.1:{free_port()}/0")

    assert run.code == 2, run.output
    assert "cannot reach Redis (REDIS_URL)" in run.stderr
    assert kaggle.requests == []


# --- the credentials, read in shared.config ------------------------------------------------------


def test_credentials_come_from_the_environment_and_never_show_in_a_repr():
    assert kaggle_credentials({}) is None
    token = kaggle_credentials({"KAGGLE_API_TOKEN": TOKEN, **basic()})
    pair = kaggle_credentials(basic())

    assert token.api_token == TOKEN  # the token wins, as in kagglehub
    assert token.kind == "KAGGLE_API_TOKEN"
    assert (pair.username, pair.key, pair.kind) == (USERNAME, KEY, "KAGGLE_USERNAME and KAGGLE_KEY")
    assert KEY not in repr(pair)
    assert TOKEN not in repr(token)
    with pytest.raises(ConfigError, match="KAGGLE_USERNAME is not set"):
        kaggle_credentials({"KAGGLE_KEY": KEY})


def test_dataset_must_be_bundled_or_kaggle():
    assert load_config({}).dataset == "bundled"
    assert load_config({"DATASET": "Kaggle"}).dataset == "kaggle"
    with pytest.raises(ConfigError, match="DATASET must be bundled or kaggle, not 'kagle'"):
        load_config({"DATASET": "kagle"})


# --- make dev DATASET=kaggle ---------------------------------------------------------------------


def test_make_dev_with_dataset_kaggle_starts_with_kaggles_file(kaggle, store, kaggle_environment):
    for name, value in basic().items():
        kaggle_environment.setenv(name, value)
    said: list[str] = []

    meta = load_dataset(load_config({"DATASET": "kaggle"}), store, said.append)

    assert meta["version"] == hashlib.sha256(CHANGED).hexdigest() == current_version(store)
    assert any(line.startswith(f"kaggle: sha256 {meta['version']}: differs") for line in said)


def test_make_dev_with_dataset_kaggle_stops_when_kaggle_refuses(kaggle, store, kaggle_environment):
    kaggle_environment.setenv("KAGGLE_API_TOKEN", TOKEN)
    kaggle.fail["DownloadDataset"] = 403

    with pytest.raises(StartError, match=r"^DATASET=kaggle: Kaggle refused the download \(403 Forbidden\)"):
        load_dataset(load_config({"DATASET": "kaggle"}), store, print)
    assert current_version(store) == BUNDLED_VERSION


def test_make_dev_with_dataset_kaggle_exits_with_the_message_and_leaves_nothing_running(kaggle, tmp_path):
    kaggle.fail["DownloadDataset"] = 403
    ports = ("SUBMIT_PORT", "STATUS_PORT", "RENDER_PORT", "GRAPH_PORT", "DEV_REDIS_PORT")
    environ = {
        name: value for name, value in os.environ.items() if not name.startswith(("KAGGLE_", "REDIS_"))
    }
    environ.update({name: str(free_port()) for name in ports})
    environ.update(
        DATASET="kaggle",
        KAGGLE_API_ENVIRONMENT="TEST",
        KAGGLE_API_TOKEN=TOKEN,
        HOME=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )

    done = subprocess.run(
        [sys.executable, "-m", "devtools.devserver"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "make dev: DATASET=kaggle: Kaggle refused the download (403 Forbidden)" in done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert port_is_free(int(environ["DEV_REDIS_PORT"]))  # its redis-server was stopped


def test_make_dev_without_dataset_loads_the_bundled_file(store):
    store.flushdb()

    assert load_dataset(load_config({}), store, print)["version"] == BUNDLED_VERSION


# --- the Knative Job ---------------------------------------------------------------------------


def test_the_knative_kaggle_job_runs_the_same_command_with_credentials_only_from_a_secret():
    built = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "knative" / "kaggle")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (job,) = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    base = yaml.safe_load((ROOT / "knative" / "base" / "load-dataset-job.yaml").read_text())
    kubernetes_validate.validate(job, "1.33", strict=True)  # raises ValidationError
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (loader,) = base["spec"]["template"]["spec"]["containers"]
    env = {variable["name"]: variable for variable in container["env"]}

    assert container["command"] == ["python", "-m", "shared.dataset", "kaggle"]
    assert container["image"] == loader["image"]  # the render image: kagglehub is in its requirements
    assert [env["REDIS_PASSWORD"], env["REDIS_URL"]] == loader["env"]
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": "tumorscope-kaggle",
            "key": name,
            "optional": True,
        }
    # the Redis NetworkPolicy admits pods of tumorscope only
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tumorscope"
