"""knative/test and knative/prod: both build, core kinds validate strictly, and the invariants hold.

``kubectl kustomize`` builds them offline; ``kubernetes-validate`` checks every core object
against the Kubernetes OpenAPI schema with unknown fields rejected. Knative's own kinds are
checked here by the invariants the code depends on (the Trigger's type is the one submit emits,
every setting a function reads is set and valid, containerConcurrency equals THREADS, ...).
"""

from __future__ import annotations

import copy
import re
import subprocess
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from build_files import ROOT, compose, default_image, images

from knative.deploy import find
from shared.config import ConfigError, load_config
from shared.web import events

ENVIRONMENTS = ("test", "prod")
FUNCTIONS = ("submit", "status", "render", "graph")
HTTP_FUNCTIONS = ("submit", "status", "graph")
KNATIVE_GROUPS = (
    "serving.knative.dev",
    "eventing.knative.dev",
    "sources.knative.dev",
    "messaging.knative.dev",
)
#: Set by Knative or by the SinkBinding rather than by the manifests' env.
INJECTED = {"PORT", "K_SINK", "K_CE_OVERRIDES"}


@cache
def built(env: str) -> tuple[dict, ...]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "knative" / env)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def knative_service(env: str, name: str) -> dict:
    return next(
        o
        for o in built(env)
        if o["kind"] == "Service"
        and o["apiVersion"].startswith("serving.knative.dev/")
        and o["metadata"]["name"] == name
    )


def container(obj: dict) -> dict:
    (only,) = obj["spec"]["template"]["spec"]["containers"]
    return only


def annotations(service: dict) -> dict[str, str]:
    return service["spec"]["template"]["metadata"]["annotations"]


def environment(env: str, obj: dict) -> dict[str, str]:
    """The environment a container starts with: the ConfigMaps it takes, its env, $(VAR) expanded."""
    values: dict[str, str] = {}
    for source in container(obj).get("envFrom", []):
        values.update(find(built(env), "ConfigMap", source["configMapRef"]["name"])["data"])
    for variable in container(obj).get("env", []):
        if "valueFrom" in variable:
            secret = variable["valueFrom"]["secretKeyRef"]
            values[variable["name"]] = f"<{secret['name']}.{secret['key']}>"
        else:
            values[variable["name"]] = re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], variable["value"])
    return values


def settings_the_code_reads() -> set[str]:
    """Every variable shared/config.py reads, plus functions-framework's own."""
    source = (ROOT / "shared" / "config.py").read_text()
    return set(re.findall(r'environ(?:\.get\(|, )"([A-Z_]+)"', source)) | {"PORT", "THREADS", "WORKERS"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_both_environments_build_with_every_kind(env):
    kinds = {(o["apiVersion"].split("/")[0], o["kind"]) for o in built(env)}

    assert {
        ("serving.knative.dev", "Service"),
        ("eventing.knative.dev", "Broker"),
        ("eventing.knative.dev", "Trigger"),
        ("sources.knative.dev", "SinkBinding"),
        ("apps", "Deployment"),
        ("v1", "Service"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("batch", "Job"),
        ("v1", "ConfigMap"),
        ("v1", "Namespace"),
    } <= kinds
    assert {o["metadata"].get("namespace") for o in built(env) if o["kind"] != "Namespace"} == {
        find(built(env), "Namespace", f"tumorscope{'-test' if env == 'test' else ''}")["metadata"]["name"]
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_core_objects_validate_strictly(env):
    core = [o for o in built(env) if o["apiVersion"].split("/")[0] not in KNATIVE_GROUPS]
    assert len(core) >= 7
    for obj in core:
        kubernetes_validate.validate(obj, "1.33", strict=True)  # raises ValidationError


def test_strict_validation_rejects_an_unknown_field():
    broken = copy.deepcopy(find(built("test"), "Deployment", "tumorscope-redis"))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.33", strict=True)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_trigger_takes_the_type_submit_emits_to_render_with_retries_and_a_dead_letter_sink(env):
    trigger = find(built(env), "Trigger", "render-submitted-jobs")
    broker = find(built(env), "Broker", trigger["spec"]["broker"])
    render = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "render"}

    assert trigger["spec"]["filter"]["attributes"] == {"type": events.JOB_SUBMITTED}
    assert trigger["spec"]["subscriber"]["ref"] == render
    delivery = trigger["spec"]["delivery"]
    assert delivery["retry"] >= 3
    assert delivery["backoffPolicy"] == "exponential"
    assert re.fullmatch(r"PT\d+(\.\d+)?S", delivery["backoffDelay"])
    assert delivery["deadLetterSink"]["ref"] == render  # render marks a dead-lettered job failed
    binding = find(built(env), "SinkBinding", "submit-to-broker")
    assert binding["spec"]["subject"] == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "submit",
    }
    assert binding["spec"]["sink"]["ref"]["name"] == broker["metadata"]["name"]


def test_test_uses_the_in_memory_channel_broker_and_prod_a_kafka_broker():
    test_broker = find(built("test"), "Broker", "tumorscope")
    prod_broker = find(built("prod"), "Broker", "tumorscope")
    class_key = "eventing.knative.dev/broker.class"

    assert test_broker["metadata"]["annotations"][class_key] == "MTChannelBasedBroker"
    channel = find(built("test"), "ConfigMap", test_broker["spec"]["config"]["name"])
    assert yaml.safe_load(channel["data"]["channel-template-spec"])["kind"] == "InMemoryChannel"
    assert test_broker["spec"]["config"]["namespace"] == "tumorscope-test"
    assert prod_broker["metadata"]["annotations"][class_key] == "Kafka"
    kafka = find(built("prod"), "ConfigMap", prod_broker["spec"]["config"]["name"])
    assert {"bootstrap.servers", "default.topic.replication.factor"} <= set(kafka["data"])
    assert prod_broker["spec"]["config"]["namespace"] == "tumorscope"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_scales_to_zero_with_concurrency_equal_to_its_threads(env, name):
    service = knative_service(env, name)
    spec = service["spec"]["template"]["spec"]
    scaling = annotations(service)

    assert scaling["autoscaling.knative.dev/min-scale"] == "0"
    assert int(scaling["autoscaling.knative.dev/max-scale"]) >= 1
    assert spec["containerConcurrency"] == int(environment(env, service)["THREADS"])
    assert 0 < float(scaling["autoscaling.knative.dev/target"]) <= spec["containerConcurrency"]
    assert 0 < spec["timeoutSeconds"] <= 600
    assert {"cpu", "memory"} <= set(container(service)["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container(service)["resources"]["limits"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_render_is_cluster_local_and_the_others_public(env):
    visibility = {
        name: knative_service(env, name)["metadata"]
        .get("labels", {})
        .get("networking.knative.dev/visibility")
        for name in FUNCTIONS
    }

    assert visibility == {"submit": None, "status": None, "render": "cluster-local", "graph": None}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_http_functions_are_probed_on_the_health_routes_and_render_keeps_the_tcp_default(env):
    for name in HTTP_FUNCTIONS:
        probed = container(knative_service(env, name))
        assert probed["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
        assert probed["livenessProbe"]["httpGet"]["path"] == "/health/liveness"
    render = container(knative_service(env, "render"))
    assert "readinessProbe" not in render
    assert "livenessProbe" not in render


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_setting_is_one_the_code_reads_and_the_code_accepts_it(env, name):
    service = knative_service(env, name)
    values = environment(env, service)
    read = settings_the_code_reads()

    assert set(values) - read == {"REDIS_PASSWORD"}  # only used inside REDIS_URL
    assert not set(values) & INJECTED  # Knative rejects PORT; the SinkBinding owns K_SINK
    assert values["REDIS_URL"] == "redis://:<tumorscope-redis.password>@tumorscope-redis:6379/0"
    assert container(service)["envFrom"] == [{"configMapRef": {"name": "tumorscope-config"}}]
    try:
        load_config(values)
    except ConfigError as error:
        pytest.fail(f"{name} in {env}: {error}")
    # What is unset takes load_config's default (proved just above); these have no default fit for a cluster.
    assert {"REDIS_URL", "THREADS", "WORKERS"} <= set(values)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_render_holds_its_job_lock_as_long_as_knative_lets_it_run(env):
    render = knative_service(env, "render")

    lock_seconds = load_config(environment(env, render)).render_lock_seconds
    assert lock_seconds >= render["spec"]["template"]["spec"]["timeoutSeconds"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_submit_gets_its_sink_from_the_binding_and_a_status_base_url(env):
    assert "STATUS_BASE_URL" in environment(env, knative_service(env, "submit"))  # make deploy fills it in
    assert "CORS_ALLOWED_ORIGINS" in environment(env, knative_service(env, "submit"))
    assert "CORS_ALLOWED_ORIGINS" in environment(env, knative_service(env, "status"))
    assert {"SUBMIT_BASE_URL", "STATUS_BASE_URL"} <= set(environment(env, knative_service(env, "graph")))
    assert find(built(env), "SinkBinding", "submit-to-broker")["spec"]["subject"]["name"] == "submit"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_images_and_ports_agree_with_the_dockerfile_and_compose(env):
    for name in FUNCTIONS:
        function = container(knative_service(env, name))
        assert function["image"] == default_image(name)
        assert function["ports"] == [{"name": "http1", "containerPort": int(images()[name].env()["PORT"])}]
    loader = container(find(built(env), "Job", "tumorscope-load-dataset"))
    assert loader["image"] == default_image("render")  # it has pandas and the bundled CSV
    assert loader["command"] == ["python", "-m", "shared.dataset", "load"]
    for name, service in (("tumorscope-redis", "redis"), ("tumorscope-redis-cache", "redis-cache")):
        assert (
            container(find(built(env), "Deployment", name))["image"]
            == compose()["services"][service]["image"]
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("name", ["tumorscope-redis", "tumorscope-redis-cache"])
def test_only_tumorscope_pods_reach_redis_and_only_with_the_secret_password(env, name):
    policy = find(built(env), "NetworkPolicy", name)
    redis = find(built(env), "Deployment", name)
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]

    assert (
        policy["spec"]["podSelector"]["matchLabels"].items()
        <= redis["spec"]["template"]["metadata"]["labels"].items()
    )
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 6379}]
    clients = [knative_service(env, name) for name in FUNCTIONS] + [
        find(built(env), "Job", "tumorscope-load-dataset")
    ]
    for client in clients:
        assert allowed.items() <= client["spec"]["template"]["metadata"]["labels"].items()
    assert "$(REDIS_PASSWORD)" in container(redis)["args"]
    assert environment(env, redis)["REDIS_PASSWORD"] == "<tumorscope-redis.password>"
    assert not [o for o in built(env) if o["kind"] == "Secret"], "the Secret is created at deploy time"


def redis_persistence(env: str) -> str:
    redis = find(built(env), "Deployment", "tumorscope-redis")
    volume = next(v for v in redis["spec"]["template"]["spec"]["volumes"] if v["name"] == "persistence")
    return find(built(env), "ConfigMap", volume["configMap"]["name"])["data"]["persistence.conf"]


def redis_conf(env: str, deployment: str, volume: str) -> dict[str, str]:
    """The redis-server settings a Deployment's ConfigMap volume gives it: name -> value."""
    redis = find(built(env), "Deployment", deployment)
    mounted = next(v for v in redis["spec"]["template"]["spec"]["volumes"] if v["name"] == volume)
    (text,) = find(built(env), "ConfigMap", mounted["configMap"]["name"])["data"].values()
    lines = [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {name: value for name, value in lines}


def megabytes(quantity: str) -> float:
    """A Kubernetes memory quantity (``256Mi``, ``1Gi``) or redis one (``160mb``) in MiB."""
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi|mb)", quantity).groups()
    return int(number) * {"Mi": 1, "Gi": 1024, "mb": 1e6 / 2**20}[unit]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_store_is_never_evicted_the_cache_evicts_and_each_maxmemory_leaves_headroom(env):
    store = redis_conf(env, "tumorscope-redis", "persistence")
    cache = redis_conf(env, "tumorscope-redis-cache", "config")
    limits = {
        name: megabytes(container(find(built(env), "Deployment", name))["resources"]["limits"]["memory"])
        for name in ("tumorscope-redis", "tumorscope-redis-cache")
    }

    assert store["maxmemory-policy"] == "noeviction"
    assert cache["maxmemory-policy"] == "allkeys-lru"
    assert cache["appendonly"] == "no"
    assert cache["save"] == '""'
    # An append-only rewrite forks: the store keeps a third of its container free for it.
    headroom = 2 / 3 if store["appendonly"] == "yes" else 0.8
    assert megabytes(store["maxmemory"]) <= limits["tumorscope-redis"] * headroom
    assert megabytes(cache["maxmemory"]) <= limits["tumorscope-redis-cache"] * 0.8
    graph = environment(env, knative_service(env, "graph"))
    assert graph["CACHE_REDIS_URL"] == "redis://:<tumorscope-redis.password>@tumorscope-redis-cache:6379/0"
    for name in ("submit", "status", "render"):  # nothing else writes plots
        assert "CACHE_REDIS_URL" not in environment(env, knative_service(env, name))


def test_prod_keeps_an_append_only_file_on_a_claim_and_test_keeps_nothing():
    prod_volumes = find(built("prod"), "Deployment", "tumorscope-redis")["spec"]["template"]["spec"][
        "volumes"
    ]
    test_volumes = find(built("test"), "Deployment", "tumorscope-redis")["spec"]["template"]["spec"][
        "volumes"
    ]
    data = {
        "prod": next(v for v in prod_volumes if v["name"] == "data"),
        "test": next(v for v in test_volumes if v["name"] == "data"),
    }

    assert "appendonly yes" in redis_persistence("prod")
    assert data["prod"] == {"name": "data", "persistentVolumeClaim": {"claimName": "tumorscope-redis-data"}}
    assert find(built("prod"), "PersistentVolumeClaim", "tumorscope-redis-data")["spec"]["accessModes"] == [
        "ReadWriteOnce"
    ]
    assert "appendonly no" in redis_persistence("test")
    assert data["test"] == {"name": "data", "emptyDir": {}}
    assert not [o for o in built("test") if o["kind"] == "PersistentVolumeClaim"]


def without_what_may_differ(env: str) -> list[dict]:
    """The environment's objects minus namespace, sizes, broker class and persistence."""
    kept = []
    for obj in copy.deepcopy(built(env)):
        if obj["kind"] == "PersistentVolumeClaim" or obj["metadata"]["name"] in (
            "tumorscope-broker-channel",
            "tumorscope-kafka-broker",
        ):
            continue
        text = yaml.safe_dump(obj).replace("tumorscope-test", "tumorscope")
        obj = yaml.safe_load(re.sub(r"(tumorscope-redis-(persistence|cache-config))-\w+", r"\1", text))
        if obj["kind"] == "Namespace":
            obj["metadata"]["name"] = "tumorscope"
        if obj["kind"] == "Broker":
            obj["metadata"].pop("annotations")
            obj["spec"].pop("config")
        if obj["metadata"]["name"] in ("tumorscope-redis-persistence", "tumorscope-redis-cache-config"):
            obj["data"] = {}  # persistence, and maxmemory sized to each container
        template = obj.get("spec", {}).get("template", {})
        template.get("metadata", {}).get("annotations", {}).pop("autoscaling.knative.dev/max-scale", None)
        for item in template.get("spec", {}).get("containers", []):
            item.pop("resources", None)
        if obj["kind"] == "Deployment":
            template["spec"]["volumes"] = [v for v in template["spec"]["volumes"] if v["name"] != "data"]
        kept.append(obj)
    return sorted(kept, key=lambda o: (o["kind"], o["metadata"]["name"]))


def test_test_and_prod_differ_only_by_namespace_sizes_broker_class_and_persistence():
    assert without_what_may_differ("test") == without_what_may_differ("prod")


def test_prod_is_sized_above_test():
    for name in FUNCTIONS:
        test_max = int(annotations(knative_service("test", name))["autoscaling.knative.dev/max-scale"])
        prod_max = int(annotations(knative_service("prod", name))["autoscaling.knative.dev/max-scale"])
        assert prod_max > test_max


def test_no_manifest_holds_a_password():
    texts = [p.read_text() for p in Path(ROOT / "knative").rglob("*.yaml")]

    assert not [t for t in texts if re.search(r"(?i)(requirepass|password)\s*[:=]\s*['\"]?\w{6,}", t)]


def test_prod_cluster_is_prod_with_its_store_a_redis_cluster_of_six_nodes():
    """A StatefulSet of six with claims and anti-affinity, a PDB, and a Job that makes the cluster."""
    objects = built("prod-cluster")
    for obj in objects:
        if obj["apiVersion"].split("/")[0] not in KNATIVE_GROUPS:
            kubernetes_validate.validate(obj, "1.33", strict=True)
    assert not [o for o in objects if o["metadata"]["name"] in ("tumorscope-redis", "tumorscope-redis-data")
                and o["kind"] != "Secret"]  # fmt: skip
    nodes = find(objects, "StatefulSet", "tumorscope-redis-cluster")
    assert nodes["spec"]["replicas"] == 6
    pod = nodes["spec"]["template"]["spec"]
    assert pod["affinity"]["podAntiAffinity"]
    assert nodes["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    config = find(objects, "ConfigMap", nodes_config_map(pod))["data"]["cluster.conf"]
    assert "cluster-enabled yes" in config
    assert "maxmemory-policy noeviction" in config
    assert "appendonly yes" in config
    budget = find(objects, "PodDisruptionBudget", "tumorscope-redis-cluster")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == nodes["spec"]["selector"]["matchLabels"]
    create = find(objects, "Job", "tumorscope-redis-cluster-create")
    assert "--cluster-replicas 1" in container(create)["args"][0]
    assert find(objects, "Service", "tumorscope-redis-cluster")["spec"]["clusterIP"] == "None"
    for name in FUNCTIONS:
        url = environment("prod-cluster", knative_service("prod-cluster", name))["REDIS_URL"]
        assert url.startswith("redis+cluster://")
        assert load_config({"REDIS_URL": url}).redis_url == url
    job = find(objects, "Job", "tumorscope-load-dataset")
    assert environment("prod-cluster", job)["REDIS_URL"].startswith("redis+cluster://")


def nodes_config_map(pod: dict) -> str:
    return next(v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v)
