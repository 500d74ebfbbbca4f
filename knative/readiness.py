"""Whether an object on the cluster is ready, and the URLs of Knative Services, from their status.

Knative resources report a ``Ready`` condition (``True``, ``False`` or ``Unknown`` with a reason);
a Deployment reports ``Available``, a Job ``Complete`` or ``Failed``. A status only counts once
the controller has seen the object's latest spec (``status.observedGeneration``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: The condition that says "ready" for each kind that `make deploy` waits for.
READY_CONDITION = {
    "Service": "Ready",  # serving.knative.dev
    "Broker": "Ready",
    "Trigger": "Ready",
    "SinkBinding": "Ready",
    "Deployment": "Available",
    "Job": "Complete",
}
KNATIVE_GROUPS = ("serving.knative.dev", "eventing.knative.dev", "sources.knative.dev")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    failed: bool  # False says it will not get ready without a change (e.g. the image cannot be pulled)
    reason: str

    def __str__(self) -> str:
        return "ready" if self.ready else f"{'failed' if self.failed else 'waiting'}: {self.reason}"


def is_waited_for(obj: Mapping[str, Any]) -> bool:
    """Knative Services, eventing objects, Deployments and Jobs; not a core Service or ConfigMap."""
    group = obj.get("apiVersion", "").split("/")[0] if "/" in obj.get("apiVersion", "") else ""
    kind = obj.get("kind", "")
    if kind == "Service":
        return group == "serving.knative.dev"
    return kind in READY_CONDITION and (group in KNATIVE_GROUPS or kind in ("Deployment", "Job"))


def _condition(conditions: Iterable[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def readiness(obj: Mapping[str, Any]) -> Readiness:
    """Read the object's status the way `kubectl wait --for=condition=Ready` would, with the reason."""
    status = obj.get("status") or {}
    generation = obj.get("metadata", {}).get("generation")
    observed = status.get("observedGeneration")
    reports_generation = obj.get("kind") != "Job"  # batch/v1 JobStatus has no observedGeneration
    if reports_generation and generation is not None and (observed is None or observed < generation):
        return Readiness(False, False, f"the controller has not seen generation {generation} yet")
    conditions = status.get("conditions") or []
    if obj.get("kind") == "Job":
        failed = _condition(conditions, "Failed")
        if failed and failed.get("status") == "True":
            return Readiness(False, True, _reason(failed))
    condition = _condition(conditions, READY_CONDITION.get(obj.get("kind", ""), "Ready"))
    if condition is None:
        return Readiness(False, False, "no status yet")
    if condition.get("status") == "True":
        return Readiness(True, False, "")
    # Ready=False is final for Knative (RevisionFailed, ...); Unknown means it is still working on it.
    failed = condition.get("status") == "False" and obj.get("kind") not in ("Deployment", "Job")
    return Readiness(False, failed, _reason(condition))


def _reason(condition: Mapping[str, Any]) -> str:
    reason = condition.get("reason") or condition.get("type", "")
    message = " ".join(str(condition.get("message") or "").split())
    return f"{reason}: {message}" if message else reason


def service_url(service: Mapping[str, Any]) -> str:
    """A Knative Service's URL: public for public Services, ``*.svc.cluster.local`` for cluster-local ones."""
    status = service.get("status") or {}
    url = status.get("url") or (status.get("address") or {}).get("url")
    if not url:
        raise LookupError(f"Service {service['metadata']['name']} has no URL yet")
    return url


def is_cluster_local(service: Mapping[str, Any]) -> bool:
    labels = service.get("metadata", {}).get("labels") or {}
    return labels.get("networking.knative.dev/visibility") == "cluster-local"


def broker_address(broker: Mapping[str, Any]) -> str:
    """The Broker's ingress URL, which the SinkBinding gives submit as K_SINK."""
    url = ((broker.get("status") or {}).get("address") or {}).get("url")
    if not url:
        raise LookupError(f"Broker {broker['metadata']['name']} has no address yet")
    return url
