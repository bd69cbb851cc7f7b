# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render manifest entries as the GitOps tree Flux pulls (the current setup's ``flux-cd/`` layout).

Each entry's ``path`` is a file of the tree; entries sharing a path become one multi-document file, in kind order.
Secret entries are never written. Directories are copied as they are (the chart). Every directory that holds
manifests gets a ``kustomization.yaml`` listing the YAML files and the sub-directories that have one, so
``kubectl kustomize <dir>`` builds the whole tree; rendering another environment into the same directory adds
its files and the listings follow what exists. A file is rewritten only when its bytes differ.
"""

from __future__ import annotations

import filecmp
import os
import shutil

from ansible_collections.supertodo.platform.plugins.module_utils.manifests.errors import RenderFailed
from ansible_collections.supertodo.platform.plugins.module_utils.manifests.objects import is_secret, order

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

KUSTOMIZATION = "kustomization.yaml"
HEADER = "# Rendered by supertodo.platform from the inventories; edit the inventory, not this file.\n"


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


def files_for(entries):
    """``{relative path: text}`` for the non-Secret entries."""
    grouped = {}
    for entry in order([e for e in entries if not is_secret(e)]):
        grouped.setdefault(os.path.normpath(entry["path"]), []).append(entry["object"])
    return {path: dump_documents(objs) for path, objs in grouped.items()}


def kustomization_text(resources):
    body = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
    return HEADER + yaml.dump(body, Dumper=_Dumper, default_flow_style=False, sort_keys=False)


class Renderer:
    """Writes (or, in check mode, only compares) the tree under ``root``; tracks changed files."""

    def __init__(self, root, check_mode=False, skip_dirs=("charts",)):
        self.root = os.path.abspath(root)
        self.check_mode = check_mode
        self.skip_dirs = set(skip_dirs)
        self.changed_files = []
        self.diffs = []

    def _write(self, rel, text):
        path = os.path.join(self.root, rel)
        old = None
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                old = fh.read()
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

    def _planned_listing(self, planned):
        """Every manifest file of the tree: those on disk plus those planned (check mode writes nothing)."""
        files = set(planned)
        if os.path.isdir(self.root):
            for dirpath, dirs, fnames in os.walk(self.root):
                rel_dir = os.path.relpath(dirpath, self.root)
                if rel_dir == ".":
                    dirs[:] = [d for d in dirs if d not in self.skip_dirs]
                for fname in fnames:
                    if fname.endswith((".yaml", ".yml")) and fname != KUSTOMIZATION:
                        files.add(os.path.normpath(os.path.join(rel_dir, fname)))
        return files

    def kustomizations(self, manifest_files):
        """``{dir/kustomization.yaml: text}`` for every directory from the files up to the root."""
        children = {}
        for rel in sorted(manifest_files):
            parts = rel.split(os.sep)
            for depth in range(len(parts)):
                parent = os.sep.join(parts[:depth]) or "."
                child = parts[depth] if depth < len(parts) - 1 else parts[-1]
                children.setdefault(parent, set()).add(child)
        out = {}
        for directory, names in children.items():
            resources = sorted(n for n in names if n.endswith((".yaml", ".yml"))) + \
                sorted(n for n in names if not n.endswith((".yaml", ".yml")))
            out[os.path.normpath(os.path.join(directory, KUSTOMIZATION))] = kustomization_text(resources)
        return out

    def render(self, entries, copies=None):
        files = files_for(entries)
        for rel in files:
            if rel.split(os.sep)[0] in self.skip_dirs or os.path.basename(rel) == KUSTOMIZATION:
                raise RenderFailed("%s: manifests cannot be written under %s/ or as %s"
                                   % (rel, "/".join(sorted(self.skip_dirs)), KUSTOMIZATION))
        for rel, text in sorted(files.items()):
            self._write(rel, text)
        for src, dest in sorted((copies or {}).items(), key=lambda kv: kv[1]):
            self.copy_tree(src, dest)
        for rel, text in sorted(self.kustomizations(self._planned_listing(files)).items()):
            self._write(rel, text)
        return self.changed_files
