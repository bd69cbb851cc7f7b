# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render manifest entries as the GitOps tree Flux pulls, in Flux's own layout.

Each entry's ``path`` is a file of the tree; entries sharing a path become one multi-document file, in kind order.
Secret entries are never written. Directories are copied as they are (the chart). A file is rewritten only when
its bytes differ.

Which directories get a ``kustomization.yaml`` (the folders ``kubectl kustomize`` and kustomize-controller build):

- a directory holding a ``kustomization.yaml`` someone else wrote (``flux bootstrap``'s ``flux-system/``) is left
  alone: its files are its own, and the folder above lists the directory;
- with Flux Kustomizations in the tree (the rendered ones and those already in the tree's files, so that a
  second environment rendered into the same tree keeps the first one's): every directory a Flux Kustomization's
  ``spec.path`` points at, and every directory holding Flux Kustomization objects (the cluster folder the
  bootstrap Kustomization points at). Each lists every manifest file under it that is not under a deeper such
  directory, so every file is built by exactly one of them; a rendered file under none of them is an error;
- without Flux Kustomizations: every directory that holds manifest files, listing those files.

``spec.path`` is relative to the repository root; ``git_path`` is where the tree sits in the repository
(``flux-cd``: ``./flux-cd/apps/super-todo/staging`` is ``apps/super-todo/staging`` of the tree). A HelmRelease
whose chart comes from a GitRepository must name a chart directory that the tree holds.

A ``kustomization.yaml`` that this renderer wrote (it carries the header) in a directory that no longer needs one
is removed, and so is every rendered file under ``owned`` (paths only this environment writes) that the render
did not produce again.
"""

from __future__ import annotations

import filecmp
import os
import posixpath
import shutil

from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import RenderFailed
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.objects import is_secret, order, ref

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

KUSTOMIZATION = "kustomization.yaml"
HEADER = "# Rendered by supertodo.platform from the inventories; edit the inventory, not this file.\n"
FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io/"


class _Dumper(getattr(yaml, "CSafeDumper", None) or yaml.SafeDumper if yaml else object):
    pass


def _str_presenter(dumper, data):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


if yaml:
    _Dumper.add_representer(str, _str_presenter)


def dump_documents(objects):
    docs = [yaml.dump(o, Dumper=_Dumper, default_flow_style=False, sort_keys=False, width=120) for o in objects]
    return HEADER + "---\n" + "---\n".join(docs)


def grouped_objects(entries):
    """``{relative path: [objects]}`` for the non-Secret entries, in kind order."""
    grouped = {}
    for entry in order([e for e in entries if not is_secret(e)]):
        grouped.setdefault(os.path.normpath(entry["path"]), []).append(entry["object"])
    return grouped


def files_for(entries):
    """``{relative path: text}`` for the non-Secret entries."""
    return {path: dump_documents(objs) for path, objs in grouped_objects(entries).items()}


def kustomization_text(resources):
    body = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
    return HEADER + yaml.dump(body, Dumper=_Dumper, default_flow_style=False, sort_keys=False)


def is_flux_kustomization(obj):
    return isinstance(obj, dict) and obj.get("kind") == "Kustomization" and \
        str(obj.get("apiVersion", "")).startswith(FLUX_KUSTOMIZE_GROUP)


def tree_path(repo_path, git_path):
    """A path relative to the repository root (``./flux-cd/x``) as a path of the tree (``x``), or None outside it."""
    path = posixpath.normpath(str(repo_path).strip().lstrip("/"))
    base = posixpath.normpath(str(git_path or ".").strip().strip("/") or ".")
    if base == ".":
        return path
    if path == base:
        return "."
    if path.startswith(base + "/"):
        return path[len(base) + 1:]
    return None


def _under(rel, directory):
    return directory == "." or rel == directory or rel.startswith(directory + os.sep)


class Renderer:
    """Writes (or, in check mode, only compares) the tree under ``root``; tracks changed and removed files."""

    def __init__(self, root, check_mode=False, skip_dirs=("charts",), git_path=".", owned=None):
        self.root = os.path.abspath(root)
        self.check_mode = check_mode
        self.skip_dirs = set(skip_dirs)
        self.git_path = git_path or "."
        self.owned = [os.path.normpath(p) for p in (owned or [])]
        self.changed_files = []
        self.removed_files = []
        self.diffs = []

    def _read(self, rel):
        path = os.path.join(self.root, rel)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as fh:
            return fh.read()

    def _write(self, rel, text):
        path = os.path.join(self.root, rel)
        old = self._read(rel)
        if old == text:
            return False
        self.changed_files.append(rel)
        self.diffs.append({"before_header": rel, "after_header": rel, "before": old or "", "after": text})
        if not self.check_mode:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = path + ".tmp"
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.replace(tmp, path)
            except OSError as exc:
                raise RenderFailed("cannot write %s: %s" % (path, exc)) from exc
        return True

    def _remove(self, rel):
        old = self._read(rel) or ""
        self.changed_files.append(rel)
        self.removed_files.append(rel)
        self.diffs.append({"before_header": rel, "after_header": "%s (removed)" % rel, "before": old, "after": ""})
        if not self.check_mode:
            try:
                os.remove(os.path.join(self.root, rel))
            except OSError as exc:
                raise RenderFailed("cannot remove %s: %s" % (os.path.join(self.root, rel), exc)) from exc

    def copy_tree(self, src, rel_dest):
        """Copy a directory (e.g. the chart) into the tree; files whose bytes are equal are left alone."""
        if not os.path.isdir(src):
            raise RenderFailed("directory to copy %s does not exist" % src)
        for dirpath, _dirs, files in os.walk(src):
            for fname in sorted(files):
                s = os.path.join(dirpath, fname)
                rel = os.path.normpath(os.path.join(rel_dest, os.path.relpath(s, src)))
                d = os.path.join(self.root, rel)
                if os.path.isfile(d) and filecmp.cmp(s, d, shallow=False):
                    continue
                self.changed_files.append(rel)
                self.diffs.append({"before_header": rel, "after_header": rel, "before": "",
                                   "after": "(copied from %s)\n" % os.path.relpath(s, os.path.dirname(src))})
                if not self.check_mode:
                    try:
                        os.makedirs(os.path.dirname(d), exist_ok=True)
                        shutil.copyfile(s, d)
                    except OSError as exc:
                        raise RenderFailed("cannot copy %s to %s: %s" % (s, d, exc)) from exc

    def _disk_files(self):
        """Manifest files (``*.yaml``/``*.yml`` except kustomization.yaml) and our kustomization.yaml files on disk."""
        manifests, kustomizations = set(), set()
        if not os.path.isdir(self.root):
            return manifests, kustomizations
        for dirpath, dirs, fnames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            if rel_dir == ".":
                dirs[:] = [d for d in dirs if d not in self.skip_dirs and not d.startswith(".")]
            for fname in fnames:
                rel = os.path.normpath(os.path.join(rel_dir, fname))
                if fname == KUSTOMIZATION:
                    kustomizations.add(rel)
                elif fname.endswith((".yaml", ".yml")):
                    manifests.add(rel)
        return manifests, kustomizations

    def _is_ours(self, rel):
        text = self._read(rel)
        return text is not None and text.startswith(HEADER)

    def _stale(self, produced, on_disk):
        """Rendered files under ``owned`` that this render did not produce again."""
        stale = []
        for rel in sorted(on_disk - set(produced)):
            if any(rel == own or rel.startswith(own + os.sep) for own in self.owned) and self._is_ours(rel):
                stale.append(rel)
        return stale

    def _kustomizations_on_disk(self, rel):
        text = self._read(rel)
        try:
            return [d for d in yaml.safe_load_all(text or "") if is_flux_kustomization(d)]
        except yaml.YAMLError:
            return []

    def layout(self, grouped, manifest_files, foreign=()):
        """``{directory: [resources it lists]}`` and the files no Flux Kustomization reaches.

        ``foreign``: directories holding a kustomization.yaml this renderer did not write (``flux bootstrap``'s
        ``flux-system/``): their files are theirs, and the folder above lists the directory itself.
        """
        foreign = sorted(set(foreign))

        def in_foreign(rel):
            return any(_under(rel, f) for f in foreign if f != ".")

        flux = []  # (file, object, ours)
        for rel in sorted(manifest_files):
            if in_foreign(rel):
                continue
            objs = grouped[rel] if rel in grouped else self._kustomizations_on_disk(rel)
            flux.extend((rel, o, rel in grouped or self._is_ours(rel)) for o in objs if is_flux_kustomization(o))
        roots = set()
        for rel, obj, ours in flux:
            target = tree_path((obj.get("spec") or {}).get("path") or ".", self.git_path)
            if target is None or target.split("/")[0] == "..":
                if not ours:
                    continue
                raise RenderFailed("%s (in %s): spec.path %s is not inside the tree, which is %s of the repository"
                                   % (ref(obj), rel, (obj.get("spec") or {}).get("path"), self.git_path))
            if ours:
                roots.add(os.path.dirname(rel) or ".")
            roots.add(os.path.normpath(target))
        roots -= set(foreign)
        if not roots:
            roots = {os.path.dirname(rel) or "." for rel in manifest_files if not in_foreign(rel)}

        def deepest(rel):
            owners = [d for d in roots if _under(rel, d)]
            return max(owners, key=lambda d: 0 if d == "." else d.count(os.sep) + 1) if owners else None

        listing = {d: [] for d in roots}
        unreached = []
        for rel in sorted(manifest_files):
            if in_foreign(rel):
                continue
            owner = deepest(rel)
            if owner is None:
                unreached.append(rel)
            else:
                listing[owner].append(os.path.relpath(rel, owner))
        for directory in foreign:
            owner = deepest(directory)
            outer = [f for f in foreign if f != directory and _under(directory, f)]
            if owner is not None and owner != directory and not any(_under(f, owner) for f in outer):
                listing[owner].append(os.path.relpath(directory, owner))
        return listing, unreached

    def _check_charts(self, grouped, copies):
        chart_dirs = set(os.path.normpath(dest) for dest in (copies or {}).values())
        for rel, objs in sorted(grouped.items()):
            for obj in objs:
                if obj.get("kind") != "HelmRelease":
                    continue
                spec = (((obj.get("spec") or {}).get("chart") or {}).get("spec") or {})
                if (spec.get("sourceRef") or {}).get("kind") != "GitRepository":
                    continue
                chart = tree_path(spec.get("chart") or ".", self.git_path)
                found = chart is not None and (os.path.normpath(chart) in chart_dirs or
                                               os.path.isfile(os.path.join(self.root, chart, "Chart.yaml")))
                if not found:
                    raise RenderFailed(
                        "%s (in %s): spec.chart.spec.chart %s is not a chart of the tree (the tree is %s of the "
                        "repository and holds the charts %s)"
                        % (ref(obj), rel, spec.get("chart"), self.git_path,
                           ", ".join("./" + posixpath.join(self.git_path.strip("/"), d) for d in sorted(chart_dirs))
                           or "none"))

    def render(self, entries, copies=None):
        grouped = grouped_objects(entries)
        files = {path: dump_documents(objs) for path, objs in grouped.items()}
        for rel in files:
            if rel.split(os.sep)[0] in self.skip_dirs or os.path.basename(rel) == KUSTOMIZATION:
                raise RenderFailed("%s: manifests cannot be written under %s/ or as %s"
                                   % (rel, "/".join(sorted(self.skip_dirs)), KUSTOMIZATION))
        copies = copies or {}
        self._check_charts(grouped, copies)
        on_disk, kust_on_disk = self._disk_files()
        stale = self._stale(files, on_disk)
        manifest_files = (on_disk - set(stale)) | set(files)
        foreign = {os.path.dirname(rel) or "." for rel in kust_on_disk if not self._is_ours(rel)}
        listing, unreached = self.layout(grouped, manifest_files, foreign)
        ours_unreached = [rel for rel in unreached if rel in files or self._is_ours(rel)]
        if ours_unreached:
            raise RenderFailed("%s: not under any folder a Flux Kustomization of the tree points at (Flux would never "
                               "apply them); folders built: %s" % (", ".join(ours_unreached),
                                                                   ", ".join(sorted(listing)) or "none"))
        for rel, text in sorted(files.items()):
            self._write(rel, text)
        for src, dest in sorted(copies.items(), key=lambda kv: kv[1]):
            self.copy_tree(src, dest)
        for rel in stale:
            self._remove(rel)
        wanted = {os.path.normpath(os.path.join(d, KUSTOMIZATION)): kustomization_text(sorted(names))
                  for d, names in listing.items()}
        for rel in sorted(kust_on_disk - set(wanted)):
            if self._is_ours(rel):
                self._remove(rel)
        for rel, text in sorted(wanted.items()):
            self._write(rel, text)
        return self.changed_files
