"""Deploy Tumorscope to a Knative cluster, wait until it is Ready, and run the curl journey.

    python -m knative.deploy deploy --env test [--dry-run]   (make deploy ENV=test)
    python -m knative.deploy smoke --env test                (make smoke ENV=test)

deploy builds knative/<env> with ``kubectl kustomize``, points the images at --registry/--tag,
creates the Redis Secret if it is missing (a random password; never replaced), applies every
object with server-side apply, waits for the Knative Services, the eventing objects, Redis and
the data-set Job, prints the URLs and runs the journey. The kubeconfig's current context is used
(or --context), as kubectl would.
"""

from __future__ import annotations

import argparse
import copy
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from knative.readiness import Readiness, is_cluster_local, is_waited_for, readiness, service_url
from knative.smoke import SmokeError, Urls, journey

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("test", "prod", "prod-cluster")
FIELD_MANAGER = "tumorscope-deploy"
#: Images in the manifests are tumorscope/<function>:<tag>; --registry and --tag replace both parts.
IMAGE_PREFIX = "tumorscope/"
DEFAULT_REGISTRY = "tumorscope"
DEFAULT_TAG = "0.1.0"
REDIS_SECRET = "tumorscope-redis"
LOADER_JOB = "tumorscope-load-dataset"
DATASET_CONFIGMAP = "tumorscope-dataset"
#: Applied first, in this order: what the others refer to.
APPLY_FIRST = ("Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim")

Objects = list[dict[str, Any]]


class DeployError(RuntimeError):
    """The deployment cannot go on: an object failed, or did not get ready in time."""


def build(env: str) -> Objects:
    """The objects of knative/<env>, as ``kubectl kustomize`` builds them, in the order to apply them."""
    if env not in ENVIRONMENTS:
        raise DeployError(f"unknown environment {env!r}; choose one of {', '.join(ENVIRONMENTS)}")
    built = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "knative" / env)], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        raise DeployError(f"kubectl kustomize knative/{env} failed: {built.stderr.strip()}")
    objects = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    rank = {kind: i for i, kind in enumerate(APPLY_FIRST)}
    return sorted(objects, key=lambda obj: rank.get(obj["kind"], len(APPLY_FIRST)))


def containers(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The containers of a Knative Service, Deployment or Job (none for other kinds)."""
    return obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])


def set_images(objects: Objects, registry: str, tag: str) -> None:
    """Point tumorscope/<function>:<tag> images at ``registry``/<function>:``tag``."""
    for obj in objects:
        for container in containers(obj):
            if container["image"].startswith(IMAGE_PREFIX):
                function = container["image"][len(IMAGE_PREFIX) :].split(":")[0]
                container["image"] = f"{registry.rstrip('/')}/{function}:{tag}"


def set_env(obj: Mapping[str, Any], name: str, value: str) -> None:
    """Set ``name`` on every container of ``obj`` that already lists it."""
    for container in containers(obj):
        for variable in container.get("env", []):
            if variable["name"] == name:
                variable["value"] = value


def env_value(obj: Mapping[str, Any], name: str) -> str | None:
    for container in containers(obj):
        for variable in container.get("env", []):
            if variable["name"] == name:
                return variable.get("value")
    return None


def dataset_job(job: Mapping[str, Any], configmap: str, filename: str) -> dict[str, Any]:
    """The loader Job, loading ``filename`` from the ConfigMap ``configmap`` instead of the bundled CSV."""
    loader = copy.deepcopy(dict(job))
    pod = loader["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "dataset", "configMap": {"name": configmap}}]
    (container,) = pod["containers"]
    container["volumeMounts"] = [{"name": "dataset", "mountPath": "/data", "readOnly": True}]
    container["command"] = [*container["command"], f"/data/{filename}"]
    return loader


def namespace_of(objects: Iterable[Mapping[str, Any]]) -> str:
    return next(obj["metadata"]["name"] for obj in objects if obj["kind"] == "Namespace")


def find(objects: Iterable[Mapping[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)  # type: ignore[return-value]


def label(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def public_urls(services: Mapping[str, Mapping[str, Any]]) -> Urls:
    """The URLs the journey uses, from the Knative Services' status."""
    return Urls(*(service_url(services[name]) for name in ("submit", "status", "graph")))


def progress_line(elapsed: float, states: Mapping[str, Readiness]) -> str:
    ready = sum(state.ready for state in states.values())
    waiting = "; ".join(f"{name} {state}" for name, state in states.items() if not state.ready)
    return f"[{elapsed:5.0f} s] {ready}/{len(states)} ready" + (f"; {waiting}" if waiting else "")


def wait_until_ready(
    fetch: Callable[[Mapping[str, Any]], Mapping[str, Any] | None],
    objects: Iterable[Mapping[str, Any]],
    timeout_seconds: float,
    report: Callable[[str], None] = print,
    poll_seconds: float = 2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Mapping[str, Any]]:
    """Poll ``fetch`` (the object as the cluster has it) until every object is ready.

    Prints a progress line whenever something changes; raises DeployError when an object fails
    for good or ``timeout_seconds`` pass. Returns the last state of each object, by kind/name.
    """
    waited = [obj for obj in objects if is_waited_for(obj)]
    started = clock()
    last_line = ""
    while True:
        current = {label(obj): fetch(obj) for obj in waited}
        states = {
            name: readiness(obj) if obj else Readiness(False, False, "not found")
            for name, obj in current.items()
        }
        line = progress_line(clock() - started, states)
        if line.split("]", 1)[1] != last_line.split("]", 1)[-1]:
            report(line)
            last_line = line
        failed = {name: state for name, state in states.items() if state.failed}
        if failed:
            raise DeployError("; ".join(f"{name} {state}" for name, state in failed.items()))
        if all(state.ready for state in states.values()):
            return {name: obj for name, obj in current.items() if obj}
        if clock() - started > timeout_seconds:
            raise DeployError(f"not ready after {timeout_seconds:.0f} s: {line.split(';', 1)[-1].strip()}")
        sleep(poll_seconds)


class Cluster:
    """The cluster, through the ``kubernetes`` client's dynamic client (any kind, server-side apply)."""

    def __init__(self, context: str | None = None) -> None:
        from kubernetes import client, config, dynamic

        try:
            config.load_kube_config(context=context)
        except config.ConfigException as no_kubeconfig:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                raise DeployError(f"no cluster to deploy to (kubeconfig: {no_kubeconfig})") from None
        api = client.ApiClient()
        self.core = client.CoreV1Api(api)
        self.dynamic = dynamic.DynamicClient(api)

    def resource(self, obj: Mapping[str, Any]):
        return self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])

    def get(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            found = self.resource(obj).get(
                name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace")
            )
        except NotFoundError:
            return None
        return found.to_dict()

    def apply(self, obj: Mapping[str, Any]) -> None:
        self.resource(obj).server_side_apply(body=obj, field_manager=FIELD_MANAGER, force_conflicts=True)

    def delete_job(self, obj: Mapping[str, Any], timeout_seconds: float = 60) -> None:
        """Delete a Job and its pods (a Job's pod template cannot change, and a finished one never reruns)."""
        if self.get(obj) is None:
            return
        self.resource(obj).delete(
            name=obj["metadata"]["name"],
            namespace=obj["metadata"]["namespace"],
            body={"propagationPolicy": "Foreground"},
        )
        deadline = time.monotonic() + timeout_seconds
        while self.get(obj) is not None:
            if time.monotonic() > deadline:
                raise DeployError(f"{label(obj)} was not deleted within {timeout_seconds} s")
            time.sleep(1)

    def put_dataset(self, namespace: str, path: Path) -> None:
        """The CSV as the ConfigMap DATASET_CONFIGMAP (a ConfigMap holds up to 1 MiB)."""
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": DATASET_CONFIGMAP, "namespace": namespace},
            "data": {path.name: path.read_text()},
        }
        self.apply(body)

    def ensure_redis_secret(self, namespace: str) -> bool:
        """Create the Redis password Secret unless it exists; True if it was created."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.read_namespaced_secret(REDIS_SECRET, namespace)
            return False
        except ApiException as error:
            if error.status != 404:
                raise
        body = {
            "metadata": {"name": REDIS_SECRET, "labels": {"app.kubernetes.io/part-of": "tumorscope"}},
            "type": "Opaque",
            "stringData": {"password": secrets.token_hex(24)},
        }
        self.core.create_namespaced_secret(namespace, body)
        return True


def public_wiring(urls: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """What each Service is told of the others' public URLs (those known in ``urls``, name -> URL).

    submit's links point at status; graph's explorer page posts to submit and reads status, which
    therefore let graph's origin call them from a browser (CORS).
    """
    wanted = {
        "submit": {"STATUS_BASE_URL": "status", "CORS_ALLOWED_ORIGINS": "graph"},
        "status": {"CORS_ALLOWED_ORIGINS": "graph"},
        "graph": {"SUBMIT_BASE_URL": "submit", "STATUS_BASE_URL": "status"},
    }
    return {
        service: {variable: urls[source] for variable, source in variables.items() if source in urls}
        for service, variables in wanted.items()
    }


def _wire(objects: Objects, urls: Mapping[str, str], states: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """Set each Service's wiring; the Services whose deployed values differ (to apply again)."""
    changed = []
    for name, variables in public_wiring(urls).items():
        service = find(objects, "Service", name)
        deployed = states.get(f"Service/{name}") or {}
        for variable, value in variables.items():
            set_env(service, variable, value)
        if any(env_value(deployed, variable) != value for variable, value in variables.items()):
            changed.append(service)
    return changed


def deploy(cluster: Cluster, objects: Objects, timeout_seconds: float) -> dict[str, Mapping[str, Any]]:
    namespace = namespace_of(objects)
    cluster.apply(find(objects, "Namespace", namespace))
    if cluster.ensure_redis_secret(namespace):
        print(f"created Secret {namespace}/{REDIS_SECRET} with a random Redis password")
    known = {}  # URLs known from a deploy before: no revision just to change them back
    for name in ("submit", "status", "graph"):
        deployed = cluster.get(find(objects, "Service", name)) or {}
        if (deployed.get("status") or {}).get("url"):
            known[name] = service_url(deployed)
    _wire(objects, known, {})
    for obj in objects:
        if obj["kind"] == "Job":
            cluster.delete_job(obj)
        cluster.apply(obj)
        print(f"applied {label(obj)}")
    states = wait_until_ready(cluster.get, objects, timeout_seconds)
    # The URLs exist only now on a first deploy: tell each Service the others' (absolute links, CORS).
    urls = {name: service_url(states[f"Service/{name}"]) for name in ("submit", "status", "graph")}
    changed = _wire(objects, urls, states)
    for service in changed:
        cluster.apply(service)
        print(f"set {', '.join(public_wiring(urls)[service['metadata']['name']])} on {label(service)}")
    if changed:
        states = wait_until_ready(cluster.get, objects, timeout_seconds)
    return states


def print_urls(states: Mapping[str, Mapping[str, Any]]) -> None:
    for name, obj in states.items():
        if name.startswith("Service/"):
            where = "cluster-local" if is_cluster_local(obj) else "public"
            print(f"{obj['metadata']['name']:8} {service_url(obj)}  ({where})")


def services_on(cluster: Cluster, objects: Objects) -> dict[str, Mapping[str, Any]]:
    found = {}
    for obj in objects:
        if obj["kind"] == "Service" and obj["apiVersion"].startswith("serving.knative.dev/"):
            current = cluster.get(obj)
            if current is None:
                raise DeployError(f"{label(obj)} is not deployed; run make deploy first")
            found[obj["metadata"]["name"]] = current
    return found


def load_dataset(cluster: Cluster, objects: Objects, path: Path, timeout_seconds: float) -> None:
    """Load the CSV at ``path`` into the deployed Redis with the loader Job, and wait for it."""
    namespace = namespace_of(objects)
    render = cluster.get(find(objects, "Service", "render"))
    if render is None:
        raise DeployError("render is not deployed; run make deploy first")
    job = dataset_job(find(objects, "Job", LOADER_JOB), DATASET_CONFIGMAP, path.name)
    containers(job)[0]["image"] = containers(render)[0]["image"]  # the image deployed, with pandas
    cluster.put_dataset(namespace, path)
    cluster.delete_job(job)
    cluster.apply(job)
    wait_until_ready(cluster.get, [job], timeout_seconds)
    print(f"loaded {path.name}; kubectl -n {namespace} logs job/{LOADER_JOB} shows the counts and version")


def cluster_errors() -> tuple[type[Exception], ...]:
    """What the kubernetes client raises for an unreachable cluster or a refused request (Knative missing)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
    from urllib3.exceptions import HTTPError

    return (ApiException, DynamicApiError, ResourceNotFoundError, HTTPError)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knative.deploy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in [
        ("deploy", "apply, wait until Ready, run the journey"),
        ("smoke", "the journey"),
        ("load-dataset", "load another CSV (Kaggle's format) into the deployed Redis"),
    ]:
        command = commands.add_parser(name, help=summary)
        command.add_argument("--env", choices=ENVIRONMENTS, default="test")
        command.add_argument("--context", help="kubeconfig context (default: the current one)")
        command.add_argument("--timeout", type=float, default=600, help="seconds to wait for Ready")
    commands.choices["load-dataset"].add_argument("csv", type=Path, help="the CSV to load (up to 1 MiB)")
    deploy_command = commands.choices["deploy"]
    deploy_command.add_argument("--registry", default=DEFAULT_REGISTRY, help="image registry/prefix")
    deploy_command.add_argument("--tag", default=DEFAULT_TAG, help="image tag")
    deploy_command.add_argument("--dry-run", action="store_true", help="print what would be applied")
    deploy_command.add_argument("--no-smoke", action="store_true", help="skip the journey")
    arguments = parser.parse_args(argv)

    try:
        objects = build(arguments.env)
        if arguments.command == "deploy":
            set_images(objects, arguments.registry, arguments.tag)
            if arguments.dry_run:
                print(f"# make deploy ENV={arguments.env} would create Secret {REDIS_SECRET} if missing,")
                print("# then server-side apply these objects:")
                print(yaml.safe_dump_all(objects, sort_keys=False), end="")
                return 0
            cluster = Cluster(arguments.context)
            states = deploy(cluster, objects, arguments.timeout)
            print_urls(states)
            services = {obj["metadata"]["name"]: obj for obj in states.values() if obj["kind"] == "Service"}
            if arguments.no_smoke:
                return 0
        elif arguments.command == "load-dataset":
            load_dataset(Cluster(arguments.context), objects, arguments.csv, arguments.timeout)
            return 0
        else:
            cluster = Cluster(arguments.context)
            services = services_on(cluster, objects)
        journey(public_urls(services), arguments.timeout)
    except (DeployError, SmokeError, LookupError) as error:
        print(f"{arguments.command}: {error}", file=sys.stderr)
        return 1
    except cluster_errors() as error:
        print(f"{arguments.command}: the cluster refused or could not be reached: {error}", file=sys.stderr)
        return 1
    print(f"{arguments.command}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
