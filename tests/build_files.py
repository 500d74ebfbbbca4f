"""The Dockerfile, .dockerignore and docker-compose.yml read as docker reads them, for the tests."""

from __future__ import annotations

import fnmatch
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
FUNCTIONS = ("submit", "status", "render", "graph")


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def default_image(service: str) -> str:
    """The image compose builds for ``service`` with REGISTRY and TAG unset."""
    image = compose()["services"][service]["image"]
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), image)


@dataclass(frozen=True)
class Image:
    """One function's image: its build arguments, as docker-compose.yml passes them."""

    function: str
    build_args: dict[str, str]

    @property
    def folder(self) -> str:
        return self.build_args["FUNCTION"]

    def parser(self) -> DockerfileParser:
        return DockerfileParser(str(DOCKERFILE), build_args=self.build_args, cache_content=True)

    def env(self) -> dict[str, str]:
        """The image's ENV (PATH left out: it extends the base image's)."""
        return {k: v for k, v in self.parser().envs.items() if k != "PATH"}

    def cmd(self) -> list[str]:
        import json

        return json.loads(self.parser().cmd)

    def final_stage(self) -> list[dict]:
        structure = self.parser().structure
        last_from = max(i for i, item in enumerate(structure) if item["instruction"] == "FROM")
        return structure[last_from + 1 :]

    def _expand(self, value: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: self.build_args[m.group(1)], value)

    def copies(self) -> list[tuple[str, str]]:
        """(source in the build context, destination under WORKDIR) of each COPY from the context."""
        found = []
        for item in self.final_stage():
            if item["instruction"] == "COPY" and "--from" not in item["value"]:
                *_flags, source, destination = self._expand(item["value"]).split()
                found.append((source, destination))
        return found

    def build_commands(self) -> list[str]:
        """The final stage's RUN commands that run Python (useradd needs root; it only makes the user)."""
        runs = [self._expand(item["value"]) for item in self.final_stage() if item["instruction"] == "RUN"]
        return [command for command in runs if command.startswith("python")]


def images() -> dict[str, Image]:
    return {
        name: Image(name, {k: str(v) for k, v in compose()["services"][name]["build"]["args"].items()})
        for name in FUNCTIONS
    }


def dockerignore_patterns() -> list[str]:
    """The basename patterns .dockerignore excludes everywhere (its ``**/`` lines)."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line[3:] for line in lines if line.startswith("**/")]


def copy_build_context(image: Image, app: Path) -> None:
    """Copy what the image's COPY instructions take from the build context into ``app`` (its WORKDIR)."""
    ignored = dockerignore_patterns()

    def ignore(_folder: str, names: list[str]) -> set[str]:
        return {n for n in names if any(fnmatch.fnmatch(n, p) for p in ignored)}

    for source, destination in image.copies():
        shutil.copytree(ROOT / source, app / destination, ignore=ignore)
