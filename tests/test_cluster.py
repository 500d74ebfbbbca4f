"""The store and the plot cache on a Redis Cluster: 3 primaries and 3 replicas of real redis-servers.

The functions run as real processes against the cluster (REDIS_URL=redis+cluster://...). The
tests share one cluster and run in file order: the last ones SIGKILL a primary, and bring it back.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
from helpers import UNLIMITED, error_of
from redis.cluster import RedisCluster

from devtools import cluster as dev_cluster
from devtools.devserver import SPECS, free_port, port_is_free, start_function, start_redis, stop
from devtools.devserver import start_cluster as start_redis_cluster
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import column_key, current_version, load_file
from shared.store.jobs import JobStore, unfinished_key
from shared.store.plot_cache import PREFIX as PLOT_PREFIX
from shared.store.redis_client import LazyCluster, connect, shard_tag

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("cluster")]

SAMPLE = {"radius_mean": 14.5, "texture_mean": 20.0, "perimeter_mean": 95.0}
PRIMARIES = 3
#: A primary silent this long is failed over to its replica: short, so that the test is.
NODE_TIMEOUT_MS = 1000
#: How soon after a primary dies its shard must take jobs again (the private check allows 20 s).
RECOVERY_SECONDS = 20


@dataclass
class Cluster:
    first_port: int
    directory: Path
    processes: list[subprocess.Popen]
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return dev_cluster.cluster_url(self.first_port, 2 * PRIMARIES)

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.first_port, socket_timeout=5)

    def primaries(self) -> list[redis.Redis]:
        client = self.client()
        return [client.get_redis_connection(node) for node in client.get_primaries()]

    def node_of(self, key: str) -> int:
        """The port of the primary that holds ``key`` now."""
        return self.client().get_node_from_key(key).port

    def process_on(self, port: int) -> subprocess.Popen:
        return self.processes[port - self.first_port]

    def restart(self, port: int) -> None:
        """Start a node again on its port and directory: its nodes.conf brings it back into the cluster."""
        options = dev_cluster.node_options(port, NODE_TIMEOUT_MS)
        self.processes[port - self.first_port] = start_redis(port, self.directory / str(port), *options)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster as DEV_REDIS_CLUSTER=3 makes one, the data set in it, and the four functions on it."""
    first = dev_cluster.free_ports(2 * PRIMARIES, port_is_free)
    directory = tmp_path_factory.mktemp("cluster")
    made = Cluster(first, directory, start_redis_cluster(first, PRIMARIES, directory, NODE_TIMEOUT_MS))
    functions: list[subprocess.Popen] = []
    try:
        load_file(connect(made.url, 10), BUNDLED_DATASET)
        environ = {"REDIS_URL": made.url, "THREADS": "4", "REDIS_TIMEOUT_SECONDS": "1", **UNLIMITED}
        for name in ("render", "status", "submit", "graph"):
            if name == "submit":
                environ |= {"K_SINK": made.urls["render"], "STATUS_BASE_URL": made.urls["status"]}
            port = free_port()
            log = open(directory / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            functions.append(start_function(SPECS[name], port, environ, log))
            made.urls[name] = f"http://127.0.0.1:{port}"
        yield made
    finally:
        stop(functions)
        stop(made.processes)


def submit(cluster: Cluster, **headers: str) -> requests.Response:
    return requests.post(f"{cluster.urls['submit']}/submit", json=SAMPLE, headers=headers, timeout=30)


def assert_picture(cluster: Cluster, job_id: str) -> None:
    status = requests.get(f"{cluster.urls['status']}/status/{job_id}", timeout=10)
    assert status.status_code == 200, status.text[:300]
    assert status.json()["status"] == "complete", status.json()
    picture = requests.get(f"{cluster.urls['status']}/result/{job_id}", timeout=10)
    assert picture.status_code == 200
    assert picture.headers["Content-Type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG")


def test_a_cluster_url_names_its_first_node_and_the_others_as_startup_nodes() -> None:
    client = connect("redis+cluster://:secret@redis-0.redis:6379,redis-1.redis:6380/0", 1)
    assert isinstance(client, LazyCluster)  # nothing connects until the first command
    assert client.node_url == "redis://:secret@redis-0.redis:6379/0"
    assert [node.name for node in client.startup_nodes] == ["redis-1.redis:6380"]
    assert isinstance(connect("redis://127.0.0.1:1/0", 1), redis.Redis)


def test_the_cluster_has_three_shards_of_a_primary_and_a_replica(cluster: Cluster) -> None:
    info = cluster.client().cluster_info()
    assert info["cluster_state"] == "ok"
    assert (int(info["cluster_size"]), int(info["cluster_known_nodes"])) == (3, 6)
    for primary in cluster.primaries():
        assert primary.info("replication")["connected_slaves"] == 1


def test_jobs_complete_with_their_pictures_and_their_keys_spread_over_every_primary(cluster: Cluster) -> None:
    jobs = []
    for _ in range(20):
        response = submit(cluster)
        assert response.status_code == 202, response.text[:300]
        assert response.json()["status"] == "complete"  # render is submit's sink, as in make dev
        jobs.append(response.json()["job_id"])
    for job_id in jobs:
        assert_picture(cluster, job_id)
    client = cluster.client()
    for job_id in jobs:  # a job's keys share its hash tag: one slot, so its transactions are atomic
        slots = {client.keyslot(JobStore.key(job_id, part)) for part in ("", "png", "summary", "lock")}
        assert len(slots) == 1
    holders = {cluster.node_of(JobStore.key(job_id)) for job_id in jobs}
    assert len(holders) == PRIMARIES
    for primary in cluster.primaries():
        assert any(primary.scan_iter("tumorscope:job:*", count=1000))


def test_a_data_set_version_is_in_one_slot_and_the_graphs_are_drawn_and_cached_on_the_cluster(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    version = current_version(client)
    keys = [column_key(version, name) for name in ("radius_mean", "area_worst", "diagnosis", "meta")]
    assert len({client.keyslot(key) for key in keys}) == 1
    assert all(client.exists(key) for key in keys)
    path = f"{cluster.urls['graph']}/graph/histogram?feature=radius_mean&bins=13"
    first, second = requests.get(path, timeout=30), requests.get(path, timeout=30)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.content == second.content
    assert first.content.startswith(b"\x89PNG")
    assert any(client.scan_iter(f"{PLOT_PREFIX}:*", target_nodes=RedisCluster.PRIMARIES))
    features = requests.get(f"{cluster.urls['graph']}/features", timeout=30)
    assert features.status_code == 200
    assert len(features.json()["features"]) == 30


def test_each_shard_counts_its_own_unfinished_jobs_and_a_written_job_is_on_its_replica(
    cluster: Cluster,
) -> None:
    client = connect(cluster.url, 5)
    jobs = JobStore(client, ttl_seconds=600)
    created = [jobs.create(SAMPLE, job_id=jobs.ensure_room().job_id) for _ in range(12)]
    counts = {job.job_id: unfinished_key(shard_tag(client, jobs.key(job.job_id))) for job in created}
    for job_id, count in counts.items():  # counted on the primary that holds the job
        assert cluster.node_of(count) == cluster.node_of(jobs.key(job_id))
        assert client.zscore(count, job_id) is not None
    assert len(set(counts.values())) == PRIMARIES  # one count a shard
    cluster_client = cluster.client()
    for job in created:  # a 202 says the job is on a replica too: read it there
        replica = cluster_client.get_node_from_key(jobs.key(job.job_id), replica=True)
        on_replica = cluster_client.get_redis_connection(replica)
        on_replica.execute_command("READONLY")
        assert on_replica.hget(jobs.key(job.job_id), "status") == b"queued"
    for job in created:
        jobs.mark_failed(job.job_id, "a test job", "error")
    assert all(client.zcard(count) == 0 for count in set(counts.values()))


def test_an_idempotency_key_makes_one_job_though_its_key_and_the_job_are_in_different_slots(
    cluster: Cluster,
) -> None:
    answers: list[requests.Response] = []
    threads = [
        threading.Thread(target=lambda: answers.append(submit(cluster, **{"Idempotency-Key": "once-only"})))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 202]
    assert len({r.json()["job_id"] for r in answers}) == 1


def test_a_full_shard_answers_503_at_capacity_and_the_others_go_on(cluster: Cluster) -> None:
    full = cluster.primaries()[0]
    full_port = full.connection_pool.connection_kwargs["port"]
    full.config_set("maxmemory", full.info("memory")["used_memory"] + 64 * 1024)
    try:
        answers = [submit(cluster) for _ in range(30)]
        codes = Counter(r.status_code for r in answers)
        assert set(codes) == {202, 503}, codes
        for response in answers:
            if response.status_code == 503:
                assert error_of(response)["code"] == "at_capacity"
                assert int(response.headers["Retry-After"]) > 0
            else:
                assert cluster.node_of(JobStore.key(response.json()["job_id"])) != full_port
    finally:
        full.config_set("maxmemory", 0)
    assert all(submit(cluster).status_code == 202 for _ in range(6))


def test_a_primary_killed_under_load_loses_nothing_accepted_and_its_replica_takes_over(
    cluster: Cluster,
) -> None:
    client = cluster.client()
    victim = client.get_primaries()[1]
    victim_slot = next(slot for slot, nodes in client.nodes_manager.slots_cache.items() if nodes[0] == victim)
    replica_port = client.nodes_manager.slots_cache[victim_slot][1].port
    accepted: list[tuple[float, str]] = []
    statuses: Counter = Counter()
    wrong: list[str] = []
    stopping = threading.Event()

    def keep_submitting() -> None:
        with requests.Session() as session:
            while not stopping.is_set():
                response = session.post(f"{cluster.urls['submit']}/submit", json=SAMPLE, timeout=30)
                statuses[response.status_code] += 1
                if response.status_code == 202:
                    accepted.append((time.monotonic(), response.json()["job_id"]))
                elif response.status_code != 503 or "Retry-After" not in response.headers:
                    wrong.append(f"{response.status_code} {response.text[:200]}")

    clients = [threading.Thread(target=keep_submitting) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(2)
        killed_at = time.monotonic()
        cluster.process_on(victim.port).send_signal(signal.SIGKILL)
        cluster.process_on(victim.port).wait()

        def on_victims_slots(job_id: str) -> bool:
            return client.keyslot(JobStore.key(job_id)) in victim_slots

        victim_slots = {
            slot for slot, nodes in client.nodes_manager.slots_cache.items() if nodes[0] == victim
        }
        deadline = killed_at + RECOVERY_SECONDS
        while time.monotonic() < deadline:
            if any(at > killed_at + NODE_TIMEOUT_MS / 1000 and on_victims_slots(j) for at, j in accepted):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the killed primary's slots took no job within {RECOVERY_SECONDS} s")
        recovered = time.monotonic() - killed_at
        time.sleep(2)
    finally:
        stopping.set()
        for thread in clients:
            thread.join()
    assert wrong == []  # only 202, or 503 with Retry-After: never a 500
    assert statuses[202] > 0
    promoted = redis.Redis(port=replica_port)
    assert promoted.info("replication")["role"] == "master"
    for _, job_id in accepted:  # every job answered 202 is complete, with its picture
        assert_picture(cluster, job_id)
    print(f"\nfailover: 202s on the killed primary's slots again after {recovered:.1f} s; {dict(statuses)}")


def test_the_killed_node_comes_back_as_a_replica_and_nothing_was_restarted(cluster: Cluster) -> None:
    client = cluster.client()
    down = [port for port in range(cluster.first_port, cluster.first_port + 6) if port_is_free(port)]
    assert len(down) == 1
    cluster.restart(down[0])
    returned = redis.Redis(port=down[0])
    deadline = time.monotonic() + 30
    while returned.info("replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "the node did not rejoin as a replica"
        time.sleep(0.2)
    assert returned.info("replication")["role"] == "slave"
    assert client.cluster_info()["cluster_state"] == "ok"
    answers = [submit(cluster) for _ in range(9)]  # the same function processes all along
    assert [r.status_code for r in answers] == [202] * 9
    for response in answers:
        assert_picture(cluster, response.json()["job_id"])
