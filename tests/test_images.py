"""Each image, run without Docker: its own fresh venv, only the files it copies, started as its CMD.

For every function a virtual environment gets only that function's requirements.txt (installed
the way the Dockerfile installs them), a folder gets only what the Dockerfile COPYs (minus what
.dockerignore drops), the final stage's Python build steps run (bytecode, matplotlib's font
cache), and the function starts from the image's CMD with the image's ENV. A request that
exercises it must then work: proof that each image is complete, and that submit and status stay
free of pandas, numpy and matplotlib. The venvs are cached under ~/.cache (keyed by the
requirements and this Python), so only the first run pays for building them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatch
from pathlib import Path

import pytest
import requests
from build_files import DOCKERFILE, ROOT, Image, copy_build_context, images
from cloudevents.conversion import to_binary

from devtools.devserver import free_port, stop, wait_for_port
from shared.store.jobs import JobStore
from shared.web import events

pytestmark = pytest.mark.integration

IMAGES = images()
HEAVY = ("pandas", "numpy", "matplotlib")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tumorscope" / "image-venvs"


def venv_for(folder: str) -> Path:
    """A venv with only functions/<folder>/requirements.txt, installed as the Dockerfile installs it."""
    requirements = ROOT / "functions" / folder / "requirements.txt"
    key = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:16]
    venv = CACHE / f"{folder}-{key}"
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
         "-r", str(requirements)],
        check=True,
    )  # fmt: skip
    (venv / ".complete").touch()
    return venv


@pytest.fixture(scope="module")
def venvs() -> dict[str, Path]:
    """One venv per function folder (render and graph share one image's requirements), built in parallel."""
    folders = sorted({image.folder for image in IMAGES.values()})
    with ThreadPoolExecutor(len(folders)) as pool:
        return dict(zip(folders, pool.map(venv_for, folders), strict=True))


class Container:
    """A function's image unpacked into a folder: /app is ``app``, /home/app is ``home``."""

    def __init__(self, image: Image, venv: Path, root: Path) -> None:
        self.image = image
        self.app = root / "app"
        self.home = root / "home"
        self.home.mkdir(parents=True)
        copy_build_context(image, self.app)
        self.environ = {
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            **{name: self._path(value) for name, value in image.env().items()},
        }
        for command in image.build_commands():  # what the final stage runs at build time
            subprocess.run(["sh", "-c", command], cwd=self.app, env=self.environ, check=True)

    def _path(self, value: str) -> str:
        if value == "/app" or value.startswith("/app/"):
            return str(self.app) + value[4:]
        if value.startswith("/home/app"):
            return str(self.home) + value[len("/home/app") :]
        return value

    def python(self, code: str) -> str:
        done = subprocess.run(
            ["python", "-c", code], cwd=self.app, env=self.environ, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def run(self, environ: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
        """Start the image's CMD as docker would (WORKDIR /app, the image's ENV, PORT given)."""
        port = free_port()
        with open(log, "w") as output:
            process = subprocess.Popen(
                self.image.cmd(),
                cwd=self.app,
                env={**self.environ, **environ, "PORT": str(port)},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(port, process)
        return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def containers(venvs, tmp_path_factory) -> dict[str, Container]:
    return {
        name: Container(image, venvs[image.folder], tmp_path_factory.mktemp(f"image-{name}"))
        for name, image in IMAGES.items()
    }


@pytest.fixture
def started(tmp_path):
    """Start containers; stop them after the test."""
    processes = []

    def start(container: Container, environ: dict[str, str]) -> str:
        process, url = container.run(environ, tmp_path / f"{container.image.function}.log")
        processes.append(process)
        return url

    yield start
    stop(processes)


def _in_build_context(source: str) -> bool:
    """Whether .dockerignore lets ``source`` into the build context (its last matching line wins)."""
    included = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        pattern = rule.removeprefix("!").rstrip("/")
        if fnmatch(source.rstrip("/"), pattern) or fnmatch(source, f"{pattern}/*"):
            included = rule.startswith("!")
    return included


@pytest.mark.parametrize("name", list(IMAGES))
def test_every_file_the_dockerfile_copies_is_in_the_build_context(name):
    """A real build fails on a COPY of a file .dockerignore leaves out (requirements-otel.txt once did)."""
    image = IMAGES[name]
    for item in image.parser().structure:
        if item["instruction"] == "COPY" and "--from" not in item["value"]:
            source = image._expand(item["value"]).split()[-2]
            assert (ROOT / source).exists(), source
            assert _in_build_context(source), f"{source} is left out of the build context by .dockerignore"


def test_the_dockerfile_is_lint_clean():
    linted = subprocess.run(
        [Path(sys.executable).parent / "hadolint", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize("name", list(IMAGES))
def test_an_image_holds_only_shared_and_its_function_folder(containers, name):
    app = containers[name].app
    folder = IMAGES[name].folder

    assert sorted(p.name for p in app.iterdir()) == ["functions", "shared"]
    assert [p.name for p in (app / "functions").iterdir()] == [folder]
    assert (app / "shared" / "data" / "breast-cancer-wisconsin-data.csv").exists()
    assert not list(app.rglob("test_*.py"))


@pytest.mark.parametrize("name", ["submit", "status"])
def test_submit_and_status_have_no_pandas_numpy_or_matplotlib(containers, name):
    container = containers[name]
    importable = container.python(
        f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])"
    )
    assert importable == "[]"
    imported = container.python(
        f"import sys, runpy; runpy.run_path({container.environ['FUNCTION_SOURCE']!r}); "
        f"print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}])"
    )
    assert imported == "[]"


@pytest.mark.parametrize("name", ["render", "graph"])
def test_render_and_graph_images_carry_a_built_font_cache(containers, name):
    cache_dir = Path(containers[name].environ["MPLCONFIGDIR"])

    assert list(cache_dir.glob("fontlist-*.json"))


def test_the_submit_image_takes_a_sample_and_emits_its_event(containers, started, loaded_redis, event_sink):
    url = started(containers["submit"], {"REDIS_URL": loaded_redis.url, "K_SINK": event_sink.url})

    assert requests.get(f"{url}/health/readiness", timeout=10).status_code == 200
    response = requests.post(f"{url}/submit", json={"radius_mean": 14.5, "texture_mean": 20.0}, timeout=30)

    assert response.status_code == 202
    assert [r.headers["ce-type"] for r in event_sink.received] == [events.JOB_SUBMITTED]
    assert event_sink.received[0].headers["ce-subject"] == response.json()["job_id"]


def test_the_status_image_reports_a_job(containers, started, loaded_redis):
    job = JobStore(loaded_redis.client(), 3600).create({"radius_mean": 14.5})
    url = started(containers["status"], {"REDIS_URL": loaded_redis.url})

    response = requests.get(f"{url}/status/{job.job_id}", timeout=10)

    assert response.status_code == 200
    assert response.json()["status"] == "queued"


def test_the_render_image_draws_a_job_from_its_event(containers, started, loaded_redis):
    jobs = JobStore(loaded_redis.client(), 3600)
    job = jobs.create({"radius_mean": 14.5, "texture_mean": 20.0})
    url = started(containers["render"], {"REDIS_URL": loaded_redis.url})
    headers, body = to_binary(events.job_submitted(job.job_id, job.features, {}))

    response = requests.post(url, headers=headers, data=body, timeout=60)

    assert response.status_code == 200
    assert jobs.get(job.job_id).status == "complete"
    assert jobs.result(job.job_id, "png").startswith(b"\x89PNG")


def test_the_graph_image_draws_a_histogram(containers, started, loaded_redis):
    url = started(containers["graph"], {"REDIS_URL": loaded_redis.url})

    assert requests.get(f"{url}/health/liveness", timeout=10).status_code == 200
    response = requests.get(f"{url}/graph/histogram?feature=radius_mean&bins=15", timeout=60)

    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG")
    page = requests.get(f"{url}/", headers={"Accept": "text/html"}, timeout=10)  # the explorer's files
    assert 'id="sample-form"' in page.text
    assert requests.get(f"{url}/explorer/explorer.js", timeout=10).status_code == 200
