"""Building a Kustomization's ``spec.path`` as kustomize-controller does: a ``kustomization.yaml`` is generated when
the folder has none (fluxcd/pkg/kustomize generator: every manifest file below it, a sub-folder with its own
kustomization.yaml as one entry), ``spec.targetNamespace`` / ``namePrefix`` / ``nameSuffix`` / ``patches`` /
``images`` / ``components`` are written into it, and real kustomize (``kubectl kustomize``) builds it.
Also: inventory ids and the apply order of kustomize-controller (fluxcd/pkg/ssa)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


class BuildError(Exception):
    """kustomize could not build the folder."""


def kubectl_binary():
    found = shutil.which("kubectl")
    if found:
        return found
    cached = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "supertodo" / "bin" / "kubectl"
    return str(cached)


def _is_manifest(path):
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return bool(docs) and all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in docs)


def _scan(root: Path, folder: Path, out):
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            if any((entry / f).is_file() for f in KUSTOMIZATION_FILES):
                out.append(os.path.relpath(entry, root))
            else:
                _scan(root, entry, out)
        elif entry.suffix in (".yaml", ".yml") and _is_manifest(entry):
            out.append(os.path.relpath(entry, root))


def generate(spec, folder: Path):
    """Write (or extend) ``folder``'s kustomization.yaml with what the Kustomization's spec asks for."""
    existing = next((folder / f for f in KUSTOMIZATION_FILES if (folder / f).is_file()), None)
    if existing is not None:
        kust = yaml.safe_load(existing.read_text()) or {}
        target = existing
    else:
        resources = []
        _scan(folder, folder, resources)
        kust = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
        target = folder / "kustomization.yaml"
    if spec.get("targetNamespace"):
        kust["namespace"] = spec["targetNamespace"]
    for key in ("namePrefix", "nameSuffix"):
        if spec.get(key):
            kust[key] = spec[key]
    if spec.get("patches"):
        kust["patches"] = list(kust.get("patches") or []) + list(spec["patches"])
    if spec.get("images"):
        kust["images"] = list(kust.get("images") or []) + list(spec["images"])
    if spec.get("components"):
        kust["components"] = list(kust.get("components") or []) + list(spec["components"])
    target.write_text(yaml.safe_dump(kust, sort_keys=False))
    return target


def build(folder: Path):
    """``kubectl kustomize`` of ``folder``; returns the objects."""
    out = subprocess.run([kubectl_binary(), "kustomize", str(folder), "--load-restrictor", "LoadRestrictionsNone"],
                         capture_output=True, text=True, timeout=120, check=False)
    if out.returncode != 0:
        raise BuildError("kustomize build failed: %s" % (out.stderr.strip() or "exit %d" % out.returncode))
    objects = []
    for doc in yaml.safe_load_all(out.stdout):
        if doc is None:
            continue
        md = doc.get("metadata") or {}
        if not doc.get("apiVersion") or not doc.get("kind") or not md.get("name"):
            raise BuildError("failed to decode Kubernetes apiVersion, kind and name from: %s" % yaml.safe_dump(doc)[:300])
        objects.append(doc)
    return objects


def group_of(api_version):
    return api_version.split("/")[0] if "/" in api_version else ""


def entry_id(obj):
    """The inventory id ``<namespace>_<name>_<group>_<kind>`` (fluxcd/cli-utils ObjMetadata)."""
    md = obj["metadata"]
    return "%s_%s_%s_%s" % (md.get("namespace") or "", md["name"], group_of(obj["apiVersion"]), obj["kind"])


def parse_id(entry):
    ns, name, group, kind = entry["id"].split("_", 3)
    version = entry.get("v") or "v1"
    return {"namespace": ns or None, "name": name, "group": group, "kind": kind,
            "apiVersion": "%s/%s" % (group, version) if group else version}


def display(kind, namespace, name):
    """``Kind/namespace/name`` (``Kind/name`` for cluster objects), as fluxcd/pkg/ssa prints objects."""
    return "%s/%s/%s" % (kind, namespace, name) if namespace else "%s/%s" % (kind, name)


# Apply order of fluxcd/pkg/ssa ApplyAllStaged: cluster definitions first (CRDs, Namespaces), then class objects
# (e.g. StorageClass, IngressClass), then everything else in kustomize's order.
STAGE_ONE = ("CustomResourceDefinition", "Namespace")
STAGE_TWO = ("ClusterRole", "ClusterRoleBinding", "StorageClass", "IngressClass", "PriorityClass",
             "RuntimeClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


def stages(objects):
    first = [o for o in objects if o["kind"] in STAGE_ONE]
    second = [o for o in objects if o["kind"] in STAGE_TWO]
    rest = [o for o in objects if o["kind"] not in STAGE_ONE + STAGE_TWO]
    return [s for s in (first, second, rest) if s]
