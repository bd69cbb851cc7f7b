# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which source object a Flux object reconciles from (what ``flux reconcile ... --with-source`` reconciles first)."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.flux.kinds import SOURCE_KINDS


def helmchart_name(namespace, name):
    """The HelmChart helm-controller creates for a HelmRelease with ``spec.chart``: ``<hr-namespace>-<hr-name>``."""
    return "%s-%s" % (namespace, name)


def source_of(obj):
    """``(kind, namespace, name)`` of the object's source, or ``None`` (a source kind with no source of its own).

    * Kustomization: ``spec.sourceRef``.
    * HelmRelease with ``spec.chartRef``: the referenced OCIRepository or HelmChart.
    * HelmRelease with ``spec.chart``: the HelmChart helm-controller manages, named in ``status.helmChart``
      (``namespace/name``) or else ``<hr-namespace>-<hr-name>`` in the namespace of the chart's sourceRef.
    * HelmChart: its ``spec.sourceRef`` (GitRepository, HelmRepository or Bucket).
    """
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Kustomization":
        sref = spec.get("sourceRef") or {}
        return sref.get("kind"), sref.get("namespace") or namespace, sref.get("name")
    if kind == "HelmRelease":
        if spec.get("chartRef"):
            cref = spec["chartRef"]
            return cref.get("kind"), cref.get("namespace") or namespace, cref.get("name")
        chart_status = (obj.get("status") or {}).get("helmChart")
        if chart_status and "/" in chart_status:
            chart_ns, chart_name = chart_status.split("/", 1)
            return "HelmChart", chart_ns, chart_name
        sref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
        return "HelmChart", sref.get("namespace") or namespace, helmchart_name(namespace, meta.get("name"))
    if kind == "HelmChart":
        sref = spec.get("sourceRef") or {}
        return sref.get("kind"), namespace, sref.get("name")
    if kind in SOURCE_KINDS:
        return None
    return None


def dependencies(obj):
    """``[(namespace, name)]`` of ``spec.dependsOn`` (same kind; namespace defaults to the object's)."""
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [(d.get("namespace") or namespace, d.get("name")) for d in (obj.get("spec") or {}).get("dependsOn") or []]


def dependency_order(objects):
    """The objects ordered so that every object comes after the objects of the list it depends on.

    ``objects`` are full objects (with ``kind``); a stable topological sort (input order among independent
    objects). A dependency cycle raises ``ValueError`` naming the objects in it.
    """
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    index = {k: i for i, k in enumerate(keys)}
    deps = []
    for obj, key in zip(objects, keys):
        deps.append([index[(key[0],) + d] for d in dependencies(obj) if (key[0],) + d in index])
    done, ordered, visiting = set(), [], set()

    def visit(i, path):
        if i in done:
            return
        if i in visiting:
            cycle = [keys[j] for j in path[path.index(i):]]     # ends with i again: each object once, then i
            raise ValueError("dependsOn cycle: %s" % " -> ".join("%s %s/%s" % k for k in cycle))
        visiting.add(i)
        for j in deps[i]:
            visit(j, path + [j])
        visiting.discard(i)
        done.add(i)
        ordered.append(objects[i])

    for i in range(len(objects)):
        visit(i, [i])
    return ordered
