"""make deploy / make smoke: readiness and URLs read from Knative's status, the wait, the dry run.

There is no cluster here. The status objects below are shaped as Knative Serving 1.23 and
Eventing 1.22 write them (conditions, observedGeneration, url, address); the wait loop reads
them through the same ``fetch`` the deploy passes it, and the journey runs against real processes.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml
from build_files import ROOT

from devtools.devserver import free_port
from knative.deploy import (
    DeployError,
    build,
    dataset_job,
    find,
    public_urls,
    public_wiring,
    set_env,
    set_images,
    wait_until_ready,
)
from knative.readiness import broker_address, is_cluster_local, is_waited_for, readiness, service_url
from knative.smoke import SmokeError, Urls, journey

NOW = "2026-11-28T04:10:12Z"


def knative_service(name: str, generation: int = 1, local: bool = False) -> dict:
    """A Knative Service whose latest revision is Ready, as `kubectl get ksvc -o yaml` shows it."""
    domain = "svc.cluster.local" if local else "127.0.0.1.sslip.io"
    service = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "tumorscope-test", "generation": generation},
        "status": {
            "observedGeneration": generation,
            "conditions": [
                {"type": "ConfigurationsReady", "status": "True", "lastTransitionTime": NOW},
                {"type": "Ready", "status": "True", "lastTransitionTime": NOW},
                {"type": "RoutesReady", "status": "True", "lastTransitionTime": NOW},
            ],
            "latestCreatedRevisionName": f"{name}-0000{generation}",
            "latestReadyRevisionName": f"{name}-0000{generation}",
            "url": f"http://{name}.tumorscope-test.{domain}",
            "address": {"url": f"http://{name}.tumorscope-test.svc.cluster.local"},
            "traffic": [{"revisionName": f"{name}-0000{generation}", "latestRevision": True, "percent": 100}],
        },
    }
    if local:
        service["metadata"]["labels"] = {"networking.knative.dev/visibility": "cluster-local"}
    return service


def creating(service: dict) -> dict:
    """The same Service while its first revision is still starting."""
    waiting = copy.deepcopy(service)
    message = f'Configuration "{service["metadata"]["name"]}" is waiting for a Revision to become ready.'
    waiting["status"] = {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "ConfigurationsReady",
                "status": "Unknown",
                "reason": "RevisionMissing",
                "message": message,
                "lastTransitionTime": NOW,
            },
            {
                "type": "Ready",
                "status": "Unknown",
                "reason": "RevisionMissing",
                "message": message,
                "lastTransitionTime": NOW,
            },
            {
                "type": "RoutesReady",
                "status": "Unknown",
                "reason": "RevisionMissing",
                "lastTransitionTime": NOW,
            },
        ],
        "latestCreatedRevisionName": f"{service['metadata']['name']}-00001",
        "url": service["status"]["url"],
        "address": service["status"]["address"],
    }
    return waiting


def image_pull_failed(service: dict) -> dict:
    failed = creating(service)
    message = (
        'Revision "submit-00001" failed with message: Unable to fetch image "tumorscope/submit:0.1.0": '
        "failed to resolve image to digest: GET https://registry.example.com/v2/tumorscope/submit/manifests/"
        "0.1.0: UNAUTHORIZED."
    )
    for condition in failed["status"]["conditions"][:2]:
        condition.update(status="False", reason="RevisionFailed", message=message)
    return failed


def broker(ready: bool = True) -> dict:
    conditions = [
        {"type": "Addressable", "status": "True", "lastTransitionTime": NOW},
        {
            "type": "DeadLetterSinkResolved",
            "status": "True",
            "reason": "DeadLetterSinkNotConfigured",
            "message": "No dead letter sink is configured.",
            "lastTransitionTime": NOW,
        },
        {"type": "FilterReady", "status": "True", "lastTransitionTime": NOW},
        {"type": "IngressReady", "status": "True", "lastTransitionTime": NOW},
        {"type": "Ready", "status": "True", "lastTransitionTime": NOW},
        {"type": "TriggerChannelReady", "status": "True", "lastTransitionTime": NOW},
    ]
    if not ready:
        conditions[3:5] = [
            {
                "type": "IngressReady",
                "status": "Unknown",
                "reason": "NoEndpoints",
                "message": "Ingress has no endpoints",
                "lastTransitionTime": NOW,
            },
            {
                "type": "Ready",
                "status": "Unknown",
                "reason": "NoEndpoints",
                "message": "Ingress has no endpoints",
                "lastTransitionTime": NOW,
            },
        ]
    url = "http://broker-ingress.knative-eventing.svc.cluster.local/tumorscope-test/tumorscope"
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {
            "name": "tumorscope",
            "namespace": "tumorscope-test",
            "generation": 1,
            "annotations": {"eventing.knative.dev/broker.class": "MTChannelBasedBroker"},
        },
        "status": {
            "observedGeneration": 1,
            "conditions": conditions,
            "address": {"name": "http", "url": url},
            "annotations": {
                "knative.dev/channelAPIVersion": "messaging.knative.dev/v1",
                "knative.dev/channelKind": "InMemoryChannel",
                "knative.dev/channelName": "tumorscope-kne-trigger",
            },
        },
    }


def redis_deployment(available: bool) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "tumorscope-redis", "namespace": "tumorscope-test", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability."
                    if available
                    else "Deployment does not have minimum availability.",
                },
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    }


def loader_job(state: str) -> dict:
    conditions = {
        "running": [],
        "complete": [{"type": "Complete", "status": "True", "lastTransitionTime": NOW}],
        "failed": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            },
        ],
    }[state]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "tumorscope-load-dataset", "namespace": "tumorscope-test", "generation": 1},
        "status": {"conditions": conditions} if conditions else {"active": 1, "ready": 1},
    }


def test_a_service_with_ready_true_is_ready_and_says_where_it_answers():
    submit = knative_service("submit")

    assert readiness(submit).ready
    assert service_url(submit) == "http://submit.tumorscope-test.127.0.0.1.sslip.io"
    assert not is_cluster_local(submit)


def test_a_cluster_local_service_answers_on_its_cluster_address():
    render = knative_service("render", local=True)

    assert service_url(render) == "http://render.tumorscope-test.svc.cluster.local"
    assert is_cluster_local(render)


def test_a_service_waiting_for_its_revision_is_not_ready_and_not_failed():
    state = readiness(creating(knative_service("submit")))

    assert not state.ready
    assert not state.failed
    assert str(state) == (
        'waiting: RevisionMissing: Configuration "submit" is waiting for a Revision to become ready.'
    )


def test_a_revision_that_cannot_pull_its_image_has_failed_with_the_reason():
    state = readiness(image_pull_failed(knative_service("submit")))

    assert state.failed
    assert state.reason.startswith(
        'RevisionFailed: Revision "submit-00001" failed with message: Unable to fetch'
    )


def test_a_status_from_before_the_latest_change_does_not_count():
    submit = knative_service("submit")
    submit["metadata"]["generation"] = 2  # applied again; the controller has not caught up

    assert not readiness(submit).ready
    assert readiness(submit).reason == "the controller has not seen generation 2 yet"


def test_an_object_without_status_yet_is_waited_for():
    assert str(readiness({"kind": "Broker", "metadata": {"name": "tumorscope"}})) == "waiting: no status yet"


def test_a_broker_is_ready_on_its_ready_condition_and_has_an_ingress_address():
    assert readiness(broker()).ready
    assert str(readiness(broker(ready=False))) == "waiting: NoEndpoints: Ingress has no endpoints"
    assert broker_address(broker()).endswith("/tumorscope-test/tumorscope")


def test_deployments_and_jobs_are_ready_when_available_and_complete():
    assert readiness(redis_deployment(available=True)).ready
    assert not readiness(redis_deployment(available=False)).failed  # pods may still be starting
    assert not readiness(loader_job("running")).ready
    assert readiness(loader_job("complete")).ready
    assert readiness(loader_job("failed")).failed


def test_a_service_without_a_url_yet_has_none():
    submit = knative_service("submit")
    del submit["status"]["url"], submit["status"]["address"]

    with pytest.raises(LookupError):
        service_url(submit)


def test_deploy_waits_for_knative_objects_redis_and_the_job_but_not_plain_objects():
    waited = {f"{o['kind']}/{o['metadata']['name']}" for o in build("test") if is_waited_for(o)}

    assert waited == {
        "Service/submit",
        "Service/status",
        "Service/render",
        "Service/graph",
        "Broker/tumorscope",
        "Trigger/render-submitted-jobs",
        "SinkBinding/submit-to-broker",
        "Deployment/tumorscope-redis",
        "Deployment/tumorscope-redis-cache",
        "Job/tumorscope-load-dataset",
    }


class FakeClock:
    """Time that moves only when the wait sleeps, so the loop runs instantly."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def cluster_over_time(timeline: dict[str, list[dict]], clock: FakeClock):
    """``fetch`` for the wait: each object's status at the current time (one entry per 2 s poll)."""

    def fetch(obj: dict) -> dict | None:
        states = timeline[obj["metadata"]["name"]]
        return states[min(int(clock.now // 2), len(states) - 1)]

    return fetch


def test_the_wait_reports_progress_until_every_object_is_ready():
    submit, graph = knative_service("submit"), knative_service("graph")
    objects = [submit, graph, broker()]
    clock, lines = FakeClock(), []
    fetch = cluster_over_time(
        {
            "submit": [creating(submit), submit],
            "graph": [creating(graph), creating(graph), graph],
            "tumorscope": [broker()],
        },
        clock,
    )

    states = wait_until_ready(fetch, objects, 60, lines.append, clock=clock, sleep=clock.sleep)

    assert public_urls(
        {**{n: knative_service(n) for n in ("submit", "status")}, "graph": states["Service/graph"]}
    ) == Urls(
        "http://submit.tumorscope-test.127.0.0.1.sslip.io",
        "http://status.tumorscope-test.127.0.0.1.sslip.io",
        "http://graph.tumorscope-test.127.0.0.1.sslip.io",
    )
    assert [line.split("] ")[1].split(";")[0] for line in lines] == ["1/3 ready", "2/3 ready", "3/3 ready"]
    assert "Service/graph waiting: RevisionMissing" in lines[1]


def test_the_wait_stops_at_a_failed_revision_with_its_reason():
    submit = knative_service("submit")
    clock = FakeClock()
    fetch = cluster_over_time({"submit": [creating(submit), image_pull_failed(submit)]}, clock)

    with pytest.raises(DeployError, match=r"Service/submit failed: RevisionFailed: .*Unable to fetch image"):
        wait_until_ready(fetch, [submit], 60, lambda _line: None, clock=clock, sleep=clock.sleep)


def test_the_wait_gives_up_after_its_timeout_naming_what_is_not_ready():
    submit = knative_service("submit")
    clock = FakeClock()
    fetch = cluster_over_time({"submit": [creating(submit)], "tumorscope": [broker(ready=False)]}, clock)

    with pytest.raises(
        DeployError, match=r"not ready after 30 s: Service/submit waiting.*Broker/tumorscope waiting"
    ):
        wait_until_ready(fetch, [submit, broker()], 30, lambda _line: None, clock=clock, sleep=clock.sleep)


def test_images_point_at_the_registry_and_tag_given():
    objects = build("prod")

    set_images(objects, "registry.example.com/team/", "abc123")

    assert find(objects, "Service", "graph")["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example.com/team/graph:abc123"
    )
    assert find(objects, "Job", "tumorscope-load-dataset")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ] == ("registry.example.com/team/render:abc123")
    redis = find(objects, "Deployment", "tumorscope-redis")["spec"]["template"]["spec"]["containers"][0]
    assert redis["image"].startswith("redis:")  # not ours: left alone


def test_submit_learns_the_status_url():
    submit = find(build("test"), "Service", "submit")

    set_env(submit, "STATUS_BASE_URL", "http://status.tumorscope-test.127.0.0.1.sslip.io")

    env = {v["name"]: v.get("value") for v in submit["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["STATUS_BASE_URL"] == "http://status.tumorscope-test.127.0.0.1.sslip.io"


def test_each_service_is_told_the_others_public_urls_for_links_the_explorer_and_cors():
    urls = {name: f"https://{name}.tumorscope.example.com" for name in ("submit", "status", "graph")}

    assert public_wiring(urls) == {
        "submit": {"STATUS_BASE_URL": urls["status"], "CORS_ALLOWED_ORIGINS": urls["graph"]},
        "status": {"CORS_ALLOWED_ORIGINS": urls["graph"]},
        "graph": {"SUBMIT_BASE_URL": urls["submit"], "STATUS_BASE_URL": urls["status"]},
    }
    assert public_wiring({"status": urls["status"]})["graph"] == {"STATUS_BASE_URL": urls["status"]}
    objects = build("prod")
    for name, variables in public_wiring(urls).items():  # each is listed on its Service, to be filled in
        service = find(objects, "Service", name)
        for variable, value in variables.items():
            set_env(service, variable, value)
        env = {v["name"]: v.get("value") for v in service["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert {variable: env[variable] for variable in variables} == variables


def test_another_data_set_is_loaded_by_the_loader_job_from_a_configmap():
    import kubernetes_validate

    job = dataset_job(find(build("test"), "Job", "tumorscope-load-dataset"), "tumorscope-dataset", "my.csv")

    kubernetes_validate.validate(job, "1.33", strict=True)
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "dataset", "configMap": {"name": "tumorscope-dataset"}}]
    assert pod["containers"][0]["command"] == ["python", "-m", "shared.dataset", "load", "/data/my.csv"]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "dataset", "mountPath": "/data", "readOnly": True}
    ]


def test_objects_are_applied_namespace_and_configuration_first():
    kinds = [o["kind"] for o in build("prod")]

    assert kinds[0] == "Namespace"
    assert kinds.index("PersistentVolumeClaim") < kinds.index("Deployment")
    assert max(i for i, k in enumerate(kinds) if k == "ConfigMap") < kinds.index("Deployment")


def test_an_unknown_environment_is_refused():
    with pytest.raises(DeployError, match="unknown environment 'staging'"):
        build("staging")


def run_deploy(*arguments: str, **environ: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "knative.deploy", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **environ},
        check=False,
    )


def test_make_deploy_dry_run_prints_what_it_would_apply_without_a_cluster(tmp_path):
    done = run_deploy(
        "deploy", "--env", "prod", "--dry-run", "--tag", "abc123", KUBECONFIG=str(tmp_path / "none")
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# make deploy ENV=prod would create Secret tumorscope-redis if missing")
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    assert objects == set_images_of(build("prod"), "tumorscope", "abc123")


def set_images_of(objects: list[dict], registry: str, tag: str) -> list[dict]:
    set_images(objects, registry, tag)
    return objects


def test_without_a_cluster_deploy_and_smoke_say_so(tmp_path):
    for command in ("deploy", "smoke"):
        done = run_deploy(command, "--env", "test", KUBECONFIG=str(tmp_path / "none"))

        assert done.returncode == 1
        assert done.stderr.startswith(f"{command}: no cluster to deploy to")


def test_an_unreachable_cluster_is_reported(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
                "users": [{"name": "me", "user": {"token": "none"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "me"}}],
                "current-context": "gone",
            }
        )
    )

    done = run_deploy("smoke", "--env", "test", KUBECONFIG=str(kubeconfig))

    assert done.returncode == 1
    assert done.stderr.startswith("smoke: the cluster refused or could not be reached:")
    assert "Connection refused" in done.stderr


@pytest.mark.integration
def test_the_smoke_journey_passes_against_the_functions(services):
    steps: list[str] = []

    journey(Urls(services["submit"], services["status"], services["graph"]), report=steps.append)

    assert len(steps) == 5
    assert steps[0].startswith("POST /submit -> 202")


@pytest.mark.integration
def test_the_smoke_journey_fails_on_a_wrong_answer(services):
    swapped = Urls(services["submit"], services["status"], services["status"])  # no /graph on status

    with pytest.raises(SmokeError, match=r"GET /graph/histogram\?feature=radius_mean&bins=15: HTTP 404"):
        journey(swapped, report=lambda _line: None)
