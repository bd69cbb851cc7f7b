"""Flux objects the integration tests create (a GitRepository and HelmReleases of the test chart)."""

from __future__ import annotations

CHART_PATH = "tests/integration/flux/testchart"


def gitrepository(namespace, url, name="repo"):
    """A GitRepository of ``url`` (the Flux double fetches it: a repository on the local cluster's Git server)."""
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "10m", "url": url, "ref": {"branch": "main"}}}


def helmrelease(namespace, name, values=None, depends_on=(), chart=CHART_PATH, source=("GitRepository", "repo"),
                annotations=None):
    hr = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
          "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
          "spec": {"interval": "10m", "timeout": "2m",
                   "chart": {"spec": {"chart": chart, "reconcileStrategy": "Revision",
                                      "sourceRef": {"kind": source[0], "name": source[1]}}},
                   "values": values or {}}}
    if depends_on:
        hr["spec"]["dependsOn"] = [{"name": d} for d in depends_on]
    return hr
