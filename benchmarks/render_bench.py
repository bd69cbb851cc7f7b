"""Benchmark (not a test): render of both environments (playbooks/render.yml) vs ``helm template`` of the chart.

Renders staging and production with ``ansible-playbook -i inventories/<env> playbooks/render.yml`` into a
temporary directory; takes the app HelmRelease's ``spec.values`` of each rendered environment
(apps/super-todo/<env>/helmrelease.yaml) and runs ``helm template`` of charts/super-todo with exactly those values,
for both environments. Prints the medians (--repeats runs, alternating) and the ratio. No cluster is needed.

    source tools/env.sh && python benchmarks/render_bench.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402

ENVIRONMENTS = ("staging", "production")
CHART = REPO / "charts" / "super-todo"


def run(argv, env):
    with machine.Timed() as timed:
        out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = (timed.wall, timed.cpu)
    if out.returncode != 0:
        raise SystemExit("%s failed (exit %d):\n%s%s" % (" ".join(map(str, argv)), out.returncode,
                                                         out.stdout[-3000:], out.stderr[-2000:]))
    return seconds, out.stdout


def render_both(work, env):
    total = (0.0, 0.0)
    for name in ENVIRONMENTS:
        dest = work / "render" / name
        shutil.rmtree(dest, ignore_errors=True)
        seconds, dummy = run(["ansible-playbook", "-i", "inventories/%s" % name, "playbooks/render.yml",
                             "-e", "supertodo_render_dir=%s" % dest], env)
        total = (total[0] + seconds[0], total[1] + seconds[1])
    return total


def app_values(work, name):
    """The values of the rendered app HelmRelease of one environment, written to a file for helm."""
    path = work / "render" / name / "apps" / "super-todo" / name / "helmrelease.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "HelmRelease"]
    if len(docs) != 1:
        raise SystemExit("%s: expected one HelmRelease, found %d" % (path, len(docs)))
    values = work / ("values-%s.yaml" % name)
    values.write_text(yaml.safe_dump(docs[0]["spec"].get("values") or {}))
    return values, docs[0]["metadata"]["name"], docs[0]["metadata"].get("namespace", name)


def helm_both(work, env, releases):
    total, objects = (0.0, 0.0), 0
    for name in ENVIRONMENTS:
        values, release, namespace = releases[name]
        seconds, out = run(["helm", "template", release, str(CHART), "--namespace", namespace, "-f", str(values)],
                           env)
        total = (total[0] + seconds[0], total[1] + seconds[1])
        objects += sum(1 for d in yaml.safe_load_all(out) if d)
    return total, objects


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    machine.print_info()
    work = Path(tempfile.mkdtemp(prefix="render-bench-"))
    try:
        ours, helm = [], []
        objects = 0
        for i in range(args.repeats):
            ours.append(render_both(work, env))
            if i == 0:
                releases = {name: app_values(work, name) for name in ENVIRONMENTS}
            seconds, objects = helm_both(work, env, releases)
            helm.append(seconds)
        files = sum(1 for dummy in (work / "render").rglob("*.yaml"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = [statistics.median(r[i] for r in helm) for i in (0, 1)]
    mine = [statistics.median(r[i] for r in ours) for i in (0, 1)]
    print("render of %s, medians of %d runs (%d files written; helm template: %d objects)" % (
        " + ".join(ENVIRONMENTS), args.repeats, files, objects))
    print("%-30s %9s %9s %8s | %8s %8s %7s" % ("", "helm", "ours", "ratio", "cpu helm", "cpu ours", "ratio"))
    print("%-30s %8.2fs %8.2fs %7.1fx | %7.2fs %7.2fs %6.1fx" % (
        "render both environments", base[0], mine[0], mine[0] / base[0], base[1], mine[1], mine[1] / base[1]))
    print("goal: render of both environments <= 10x helm template: %s" % ("met" if mine[0] <= 10 * base[0] else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
