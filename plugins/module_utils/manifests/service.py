# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the manifest modules do, apart from Ansible plumbing: validate, then apply or render."""

from __future__ import annotations

from ansible_collections.supertodo.platform.plugins.module_utils.kube.client import KubeClient
from ansible_collections.supertodo.platform.plugins.module_utils.kube.errors import ApiError, SupertodoError
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.apply import Applier
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.discovery import DiscoveryCache, cluster_crds
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import ManifestInvalid
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.objects import (
    is_secret,
    secret_values,
    validate_entries,
)
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.render import Renderer
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import Validator


def protect_secrets(module):
    """Register every Secret value of the entries as a no_log value, before anything can be printed.

    ``secret_manifests`` is a no_log option, for which Ansible masks every string it holds (kinds, names, the
    namespace) wherever it appears in the output; only the values of its Secrets are kept as no_log values.
    """
    declared = module.params.get("secret_manifests") or []
    module.no_log_values.difference_update(_strings(declared))
    for entry in module.params.get("manifests") or []:
        if isinstance(entry, dict) and isinstance(entry.get("object"), dict) and is_secret(entry):
            module.no_log_values.update(secret_values(entry["object"]))
    for entry in declared:
        if isinstance(entry.get("object"), dict):
            module.no_log_values.update(secret_values(entry["object"]))


def _strings(value):
    """Every string and number a nested value holds, as Ansible collects the strings of a no_log option."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield str(value)


def validate(params, client_factory=None):
    """Validate the entries; returns ``(entries, warnings)``. Custom resources are checked against the schema dir,
    else (``client_factory`` given) against the CRDs the cluster serves, read once; ``warnings`` names what could
    be checked against neither."""
    entries = params["manifests"]
    problems = validate_entries(entries)
    warnings = []
    if not problems:
        loader = (lambda: cluster_crds(client_factory())) if client_factory is not None else None
        validator = Validator(params.get("schema_dir"), params.get("charts"),
                              params.get("kubernetes_version") or "1.30.0", crd_loader=loader)
        problems = validator.problems(entries)
        warnings = validator.warnings
    if problems:
        raise ManifestInvalid(problems)
    return entries, warnings


class _LazyClient:
    """Builds the client on first use, so that a run validated against the schema dir connects only to apply."""

    def __init__(self, params, client=None):
        self.params = params
        self.client = client

    def __call__(self):
        if self.client is None:
            self.client = KubeClient(self.params)
        return self.client


def _yaml(obj):
    import yaml
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True) if obj is not None else ""


def refuse_present(client, rules):
    """Raise when an object of a ``refuse_present`` rule exists; a kind the server does not serve is absent."""
    for rule in rules or []:
        try:
            listing = client.list(rule["api_version"], rule["kind"], rule.get("namespace"))
        except ApiError as exc:
            if exc.status == 404:
                continue
            raise ApiError("%s objects %s(%s): cannot read them before applying: %s"
                           % (rule["kind"], "in %s " % rule["namespace"] if rule.get("namespace") else "",
                              ", ".join(rule["names"]), exc), exc.status, exc.reason, exc.body) from exc
        wanted = set(rule["names"])
        found = sorted("%s/%s" % (item["metadata"].get("namespace"), item["metadata"]["name"])
                       if item["metadata"].get("namespace") else item["metadata"]["name"]
                       for item in listing.get("items", []) if item["metadata"]["name"] in wanted)
        if found:
            raise SupertodoError("%s; nothing was applied" % rule["refusal"].replace("{objects}", ", ".join(found)))


def apply_manifests(params, check_mode=False, diff=False, client=None):
    lazy = _LazyClient(params, client)
    entries, warnings = validate(params, lazy)
    client = lazy()
    cache = DiscoveryCache.for_client(client)
    if cache is not None:
        cache.load(client)
    refuse_present(client, params.get("refuse_present"))
    applier = Applier(client, params.get("field_manager") or "supertodo.platform", check_mode=check_mode,
                      force=bool(params.get("force_conflicts")), discovery=cache)
    try:
        results = applier.apply(entries)
    finally:
        if cache is not None:
            cache.save(client)
    counts = {"create": 0, "update": 0, "unchanged": 0}
    for res in results:
        counts[res["action"]] += 1
    out = {
        "changed": any(r["changed"] for r in results),
        "objects": [{k: r[k] for k in ("ref", "action", "changed", "resource_version")} for r in results],
        "counts": counts,
        "conflicts_taken": applier.taken,
        "requests": getattr(client, "requests", 0),
        "warnings": warnings,
    }
    if diff:
        out["diff"] = [{"before_header": r["ref"], "after_header": r["ref"],
                        "before": _yaml(r["before"]), "after": _yaml(r["after"])}
                       for r in results if r["changed"]]
    return out


def render_manifests(params, check_mode=False, diff=False, client=None):
    """Render; the cluster (its CRDs, for validation) is read only when a kubeconfig or host is given."""
    connected = client is not None or params.get("kubeconfig") or params.get("host")
    entries, warnings = validate(params, _LazyClient(params, client) if connected else None)
    renderer = Renderer(params["dest"], check_mode=check_mode, git_path=params.get("git_path") or ".",
                        owned=params.get("owned") or [])
    copies = {src: dest for dest, src in (params.get("copies") or {}).items()}
    files = renderer.render(entries, copies)
    out = {"changed": bool(files), "files": files, "removed": renderer.removed_files, "dest": renderer.root,
           "skipped_secrets": sum(1 for e in entries if is_secret(e)), "warnings": warnings}
    if diff:
        out["diff"] = renderer.diffs
    return out
