# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Both inventories without a cluster: render, kustomize, helm lint/template, network policy sets, invalid values.

Runs the real playbooks (playbooks/render.yml, playbooks/site.yml), kubectl kustomize and helm.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SEEDS = ["staging-dev-password-123", "staging-dev-redis-123", "production-secure-password-change-me-789",
         "production-secure-redis-password-change-me"]
GOOD = {
    "SUPERTODO_POSTGRES_SUPERUSER_PASSWORD": "Xq7vN2pL9sK4mW8rT3yB6cF1",
    "SUPERTODO_POSTGRES_APP_PASSWORD": "Hd5jR8wQ2nV7kZ4xM9pL3sT6",
    "SUPERTODO_REDIS_PASSWORD": "Bc4nM7qW2eR9tY5uI8oP3aS6",
    "SUPERTODO_BACKUP_S3_ACCESS_KEY_ID": "AKIA7QW2ER9TY5UI8OP3",
    "SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY": "Wq9eR2tY7uI4oP1aS8dF5gH3jK6lZ0xC",
}


def _env(extra=None):
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", ""))
    env["ANSIBLE_NOCOLOR"] = "1"
    for key in list(env):
        if key.startswith("SUPERTODO_") and key != "SUPERTODO_SCHEMA_DIR":
            env.pop(key)
    env.update(extra or {})
    return env


def playbook(env_name, playbook_name, *args, extra_env=None):
    return subprocess.run(
        ["ansible-playbook", "-i", "inventories/%s" % env_name, "playbooks/%s" % playbook_name, *args],
        cwd=str(REPO), env=_env(extra_env), capture_output=True, text=True, timeout=600, check=False)


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux-cd")
    for env in ("staging", "production"):
        _ok(playbook(env, "render.yml", "-e", "supertodo_render_dir=%s" % root, extra_env=GOOD))
    return root


def _docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


FLUX_KUSTOMIZATIONS = {
    # name: (path, dependsOn)
    "super-todo-sources": ("./flux-cd/infrastructure", []),
}
for _env_name in ("staging", "production"):
    FLUX_KUSTOMIZATIONS.update({
        "super-todo-%s-namespaces" % _env_name: ("./flux-cd/namespaces/%s" % _env_name, []),
        "super-todo-%s-postgres" % _env_name: ("./flux-cd/infrastructure/postgres/%s" % _env_name,
                                               ["super-todo-%s-namespaces" % _env_name, "super-todo-sources"]),
        "super-todo-%s-redis" % _env_name: ("./flux-cd/infrastructure/redis/%s" % _env_name,
                                            ["super-todo-%s-namespaces" % _env_name, "super-todo-sources"]),
        "super-todo-%s" % _env_name: ("./flux-cd/apps/super-todo/%s" % _env_name,
                                      ["super-todo-%s-postgres" % _env_name, "super-todo-%s-redis" % _env_name]),
    })


def _build(tree, folder):
    out = subprocess.run(["kubectl", "kustomize", str(tree / folder)], capture_output=True, text=True, check=True,
                         env=_env()).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_tree_has_flux_layout(tree):
    for rel in ("namespaces/staging/namespace.yaml", "namespaces/production/namespace.yaml",
                "apps/super-todo/staging/helmrelease.yaml", "apps/super-todo/production/helmrelease.yaml",
                "infrastructure/postgres/helmrepository.yaml", "infrastructure/redis/production/helmrelease.yaml",
                "clusters/my-cluster/kustomization.yaml", "clusters/my-cluster/super-todo-staging.yaml",
                "clusters/my-cluster/super-todo-sources.yaml", "charts/super-todo/Chart.yaml",
                "charts/super-todo/values.schema.json"):
        assert (tree / rel).is_file(), rel
    # no kustomization.yaml that would let a bootstrap pointed at the root (or apps/) apply everything
    for rel in ("kustomization.yaml", "apps/kustomization.yaml", "namespaces/kustomization.yaml",
                "clusters/my-cluster/super-todo-helmchart.yaml"):
        assert not (tree / rel).exists(), rel


def test_second_render_reports_no_change(tree):
    proc = _ok(playbook("staging", "render.yml", "-e", "supertodo_render_dir=%s" % tree))
    assert "changed=0" in proc.stdout


def test_every_object_is_reached_by_exactly_one_flux_kustomization(tree):
    cluster = _build(tree, "clusters/my-cluster")
    ks = {o["metadata"]["name"]: o for o in cluster if o["kind"] == "Kustomization"}
    assert {n: (o["spec"]["path"], sorted(d["name"] for d in o["spec"].get("dependsOn", [])))
            for n, o in ks.items()} == {n: (p, sorted(d)) for n, (p, d) in FLUX_KUSTOMIZATIONS.items()}
    assert all(o["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"} and o["spec"]["prune"]
               for o in ks.values())
    # the bootstrap's GitRepository is never defined by the tree
    assert [o for o in cluster if o["kind"] != "Kustomization"] == []
    seen = {}
    for name, (path, _deps) in FLUX_KUSTOMIZATIONS.items():
        for obj in _build(tree, path[len("./flux-cd/"):]):
            key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            assert key not in seen, "%s is applied by %s and %s" % (key, seen.get(key), name)
            seen[key] = name
    assert seen[("Namespace", "", "staging")] == "super-todo-staging-namespaces"
    assert seen[("HelmRelease", "production", "postgres-production")] == "super-todo-production-postgres"
    assert seen[("HelmRepository", "flux-system", "bitnami")] == "super-todo-sources"
    assert seen[("ObjectStore", "production", "postgres-production-backup")] == "super-todo-production-postgres"
    assert not [k for k in seen if k[0] in ("Secret", "GitRepository")]
    # everything rendered is reached: the files of the tree (chart aside) hold exactly the objects seen
    rendered = set()
    for path in tree.rglob("*.yaml"):
        if "charts" in path.relative_to(tree).parts or path.name == "kustomization.yaml":
            continue
        for d in _docs(path):
            if path.parent.name != "my-cluster":
                rendered.add((d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]))
    assert rendered == set(seen)


def test_app_chart_is_where_the_tree_writes_it_and_waits_for_its_data_tier(tree):
    for env in ("staging", "production"):
        hr = _docs(tree / ("apps/super-todo/%s/helmrelease.yaml" % env))[0]
        chart = hr["spec"]["chart"]["spec"]
        assert chart["sourceRef"] == {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}
        assert chart["chart"] == "./flux-cd/charts/super-todo"
        assert (tree / chart["chart"][len("./flux-cd/"):] / "Chart.yaml").is_file()
        assert hr["spec"]["dependsOn"] == [{"name": "postgres-%s" % env}, {"name": "redis-%s" % env}]
    ns = _docs(tree / "namespaces/production/namespace.yaml")[0]
    assert ns["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/prune": "disabled"}


def test_render_into_a_tree_of_the_previous_layout_removes_its_files(tmp_path):
    old = tmp_path / "flux-cd"
    header = "# Rendered by supertodo.platform from the inventories; edit the inventory, not this file.\n"
    for rel, text in {"kustomization.yaml": "resources: [namespaces, clusters]\n",
                      "namespaces/kustomization.yaml": "resources: [staging-namespace.yaml]\n",
                      "namespaces/staging-namespace.yaml": "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: staging}\n",
                      "clusters/my-cluster/super-todo-helmchart.yaml": ("---\napiVersion: source.toolkit.fluxcd.io/v1\n"
                                                                        "kind: GitRepository\nmetadata: {name: flux-system}\n")}.items():
        (old / rel).parent.mkdir(parents=True, exist_ok=True)
        (old / rel).write_text(header + text)
    _ok(playbook("staging", "render.yml", "-e", "supertodo_render_dir=%s" % old))
    for rel in ("kustomization.yaml", "namespaces/kustomization.yaml", "namespaces/staging-namespace.yaml",
                "clusters/my-cluster/super-todo-helmchart.yaml"):
        assert not (old / rel).exists(), rel
    assert (old / "namespaces/staging/namespace.yaml").is_file()


def test_apply_mode_has_no_flux_kustomization_and_its_own_chart_source(tmp_path):
    dump = tmp_path / "objects.json"
    _ok(subprocess.run(["ansible-playbook", "-i", "inventories/staging", "tests/integration/environments/dump_objects.yml",
                        "-e", "environments_dump_file=%s" % dump, "-e", "supertodo_git_branch=staging-branch"],
                       cwd=str(REPO), env=_env(GOOD), capture_output=True, text=True, timeout=600, check=False))
    objs = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
            for o in yaml.safe_load(dump.read_text())}
    assert not [k for k in objs if k[0] == "Kustomization"]
    assert not [k for k in objs if k[1] == "flux-system" and k[0] == "GitRepository"]
    source = objs[("GitRepository", "staging", "super-todo")]
    assert source["spec"]["ref"] == {"branch": "staging-branch"}
    chart = objs[("HelmRelease", "staging", "super-todo")]["spec"]["chart"]["spec"]
    assert chart["sourceRef"] == {"kind": "GitRepository", "name": "super-todo", "namespace": "staging"}


def test_rendered_objects_validate_offline(tree):
    import sys
    sys.path.insert(0, str(REPO / ".collections"))
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import Validator
    schema_dir = os.environ.get("SUPERTODO_SCHEMA_DIR") or str(REPO.parent / "shared" / "schemas")
    validator = Validator(schema_dir, {"super-todo": str(REPO / "charts" / "super-todo")})
    entries = []
    for path in tree.rglob("*.yaml"):
        if "charts" in path.relative_to(tree).parts or path.name == "kustomization.yaml":
            continue
        entries += [{"path": str(path), "object": d} for d in _docs(path)]
    assert len(entries) > 20
    assert validator.problems(entries) == []


def _values(tree, env):
    return _docs(tree / ("apps/super-todo/%s/helmrelease.yaml" % env))[0]["spec"]["values"]


def test_helmrelease_values_are_the_current_setup_figures(tree):
    stg, prd = _values(tree, "staging"), _values(tree, "production")
    assert stg["replicaCount"] == 1 and stg["app"] == {"logLevel": "DEBUG", "nodeEnv": "staging", "extraConfig": {}}
    assert stg["ingress"]["host"] == "app.staging.local" and stg["resources"] == {}
    assert not stg["autoscaling"]["enabled"] and not stg["podDisruptionBudget"]["enabled"]
    assert prd["ingress"]["host"] == "app.staging" and prd["ingress"]["forceHttps"] is True
    assert prd["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1000m", "memory": "1Gi"}}
    assert prd["autoscaling"] == {"enabled": True, "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80,
                                  "targetMemoryUtilizationPercentage": 80, "scaleDownStabilizationSeconds": 300}
    assert prd["podDisruptionBudget"] == {"enabled": True, "minAvailable": 2}
    assert prd["probes"]["initialDelaySeconds"] == 30 and prd["app"]["logLevel"] == "WARN"
    assert prd["antiAffinity"]["required"] and prd["topologySpread"]["enabled"]
    assert prd["database"]["existingSecret"] == "postgres-production-app"
    assert prd["redis"]["existingSecret"] == "redis-production-auth"


@pytest.mark.parametrize("env", ["staging", "production"])
def test_helm_lint_and_template_with_each_environment(tree, env, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(_values(tree, env)))
    chart = str(REPO / "charts" / "super-todo")
    lint = subprocess.run(["helm", "lint", chart, "-f", str(values)], capture_output=True, text=True, env=_env(),
                          check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for kube_version, hpa, pdb in (("1.30.0", "autoscaling/v2", "policy/v1"),
                                   ("1.20.2", "autoscaling/v2beta2", "policy/v1beta1")):
        out = subprocess.run(["helm", "template", "super-todo", chart, "-n", env, "-f", str(values),
                              "--kube-version", kube_version], capture_output=True, text=True, env=_env(), check=True)
        objs = {d["kind"]: d for d in yaml.safe_load_all(out.stdout) if d}
        deploy = objs["Deployment"]["spec"]["template"]["spec"]
        env_vars = {e["name"]: e for e in deploy["containers"][0]["env"]}
        assert env_vars["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-%s-app" % env
        assert env_vars["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "redis-%s-auth" % env
        assert objs["Service"]["spec"]["ports"][0]["port"] == 80
        assert objs["Ingress"]["spec"]["tls"]
        if env == "production":
            assert objs["HorizontalPodAutoscaler"]["apiVersion"] == hpa
            assert objs["PodDisruptionBudget"]["apiVersion"] == pdb
            assert objs["HorizontalPodAutoscaler"]["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
            assert "podAntiAffinity" in deploy["affinity"] and deploy["topologySpreadConstraints"]
            assert objs["ServiceMonitor"]["apiVersion"] == "monitoring.coreos.com/v1"
            assert deploy["containers"][0]["readinessProbe"]["initialDelaySeconds"] == 30
        else:
            assert "HorizontalPodAutoscaler" not in objs and "PodDisruptionBudget" not in objs
            assert objs["Deployment"]["spec"]["replicas"] == 1


def test_strict_and_basic_network_policy_sets(tree):
    prod = {d["metadata"]["name"]: d for d in _docs(tree / "namespaces/production/namespace.yaml")
            if d["kind"] == "NetworkPolicy"}
    stg = {d["metadata"]["name"]: d for d in _docs(tree / "namespaces/staging/namespace.yaml")
           if d["kind"] == "NetworkPolicy"}
    assert set(stg) == {"allow-same-namespace", "allow-from-ingress-controller"}
    deny = prod["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    assert {"allow-dns-egress", "allow-ingress-controller-to-app", "allow-app-to-postgres", "allow-postgres-from-app",
            "allow-app-to-redis", "allow-redis-from-app", "allow-postgres-peers", "allow-redis-peers",
            "allow-monitoring-scrapes"} <= set(prod)


# The production refusals (seed, change-me, short and empty secrets, the tag latest, unknown overrides), an
# override's warning and the secret search at -vvv of render.yml live in tests/integration/reliability/, where they
# run against a live cluster (nothing applied, checked there) and with --diff and a log file.


def _flows(policies, ns):
    """The flows of the strict set, as (description, allowed?) pairs, evaluated with the policies given."""
    from netpol import External, Pod, allowed
    spaces = {name: {"kubernetes.io/metadata.name": name}
              for name in (ns, "ingress-nginx", "monitoring", "kube-system", "cnpg-system", "elsewhere")}
    app = Pod(ns, {"app.kubernetes.io/name": "super-todo", "app.kubernetes.io/instance": "super-todo"})
    pg = Pod(ns, {"cnpg.io/cluster": "postgres-%s" % ns, "cnpg.io/instanceName": "postgres-%s-1" % ns})
    pg2 = Pod(ns, {"cnpg.io/cluster": "postgres-%s" % ns, "cnpg.io/instanceName": "postgres-%s-2" % ns})
    redis = Pod(ns, {"app.kubernetes.io/instance": "redis-%s" % ns, "app.kubernetes.io/name": "redis-cluster"})
    other = Pod(ns, {"app": "debug-shell"})
    ingress = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    prom = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
    dns = Pod("kube-system", {"k8s-app": "kube-dns"})
    stranger = Pod("elsewhere", {"app": "x"})
    internet = External("93.184.216.34")

    def ok(src, dst, port, proto="TCP"):
        return allowed(policies, src, dst, port, proto, spaces)

    return {
        "ingress controller -> app:3000": ok(ingress, app, 3000),
        "app -> postgres:5432": ok(app, pg, 5432),
        "app -> redis:6379": ok(app, redis, 6379),
        "app -> redis:16379": ok(app, redis, 16379),
        "postgres <-> postgres:5432": ok(pg, pg2, 5432) and ok(pg2, pg, 5432),
        "redis <-> redis:16379": ok(redis, redis, 16379),
        "app -> dns:53/UDP": ok(app, dns, 53, "UDP"),
        "monitoring -> app:3000": ok(prom, app, 3000),
        "monitoring -> postgres:9187": ok(prom, pg, 9187),
        "monitoring -> redis:9121": ok(prom, redis, 9121),
        # denied by default
        "other namespace -> app:3000": ok(stranger, app, 3000),
        "ingress controller -> postgres:5432": ok(ingress, pg, 5432),
        "app -> postgres:8000": ok(app, pg, 8000),
        "redis -> postgres:5432": ok(redis, pg, 5432),
        "postgres -> app:3000": ok(pg, app, 3000),
        "unlabelled pod -> postgres:5432": ok(other, pg, 5432),
        "app -> internet:443": ok(app, internet, 443),
        "unlabelled pod -> internet:443": ok(other, internet, 443),
        "app -> dns:53 in another namespace": ok(app, stranger, 53, "UDP"),
    }


STRICT_ALLOWED = {"ingress controller -> app:3000", "app -> postgres:5432", "app -> redis:6379", "app -> redis:16379",
                  "postgres <-> postgres:5432", "redis <-> redis:16379", "app -> dns:53/UDP",
                  "monitoring -> app:3000", "monitoring -> postgres:9187", "monitoring -> redis:9121"}


def test_strict_set_denies_by_default_and_allows_exactly_the_needed_flows(tree):
    policies = [d for d in _docs(tree / "namespaces/production/namespace.yaml") if d["kind"] == "NetworkPolicy"]
    flows = _flows(policies, "production")
    assert {name for name, ok in flows.items() if ok} == STRICT_ALLOWED
    # without the policies everything is open: the evaluator is not denying on its own
    assert all(_flows([], "production").values())


def test_basic_set_allows_the_namespace_and_the_ingress_controller_only(tree):
    from netpol import Pod, allowed
    policies = [d for d in _docs(tree / "namespaces/staging/namespace.yaml") if d["kind"] == "NetworkPolicy"]
    spaces = {n: {"kubernetes.io/metadata.name": n} for n in ("staging", "ingress-nginx", "elsewhere")}
    app = Pod("staging", {"app.kubernetes.io/name": "super-todo"})
    pg = Pod("staging", {"cnpg.io/cluster": "postgres-staging"})
    assert allowed(policies, app, pg, 5432, namespaces=spaces)
    assert allowed(policies, Pod("ingress-nginx", {}), app, 3000, namespaces=spaces)
    assert not allowed(policies, Pod("elsewhere", {}), app, 3000, namespaces=spaces)
    assert not allowed(policies, Pod("elsewhere", {}), pg, 5432, namespaces=spaces)


def test_an_invalid_inventory_value_fails_with_its_variable_and_writes_nothing(tmp_path):
    proc = playbook("staging", "render.yml", "-e", "supertodo_render_dir=%s" % tmp_path,
                    "-e", "super_todo_ingress_host=Not_A_Host")
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert "spec.values.ingress.host" in flat and "[inventory variable super_todo_ingress_host]" in flat
    assert not any(tmp_path.iterdir())
    proc = playbook("staging", "render.yml", "-e", "supertodo_render_dir=%s" % tmp_path, "-e", "super_todo_log_level=TRACE")
    assert proc.returncode != 0 and "super_todo_log_level must be one of" in " ".join(proc.stdout.split())


def test_production_refuses_tls_nothing_provides_and_takes_an_issuer_or_a_secret(tmp_path):
    bare = playbook("production", "render.yml", "-e", "supertodo_render_dir=%s" % (tmp_path / "a"),
                    "-e", "super_todo_ingress_tls_issuer=", extra_env=GOOD)
    assert bare.returncode != 0
    assert "super_todo_ingress_tls is true but nothing provides the certificate: set super_todo_ingress_tls_issuer" \
        in " ".join(bare.stdout.split()), bare.stdout[-3000:]
    assert not (tmp_path / "a").exists()
    _ok(playbook("production", "render.yml", "-e", "supertodo_render_dir=%s" % (tmp_path / "b"),
                 "-e", "super_todo_ingress_tls_issuer=", "-e", "super_todo_ingress_tls_secret=app-staging-tls",
                 extra_env=GOOD))
    ingress = _docs(tmp_path / "b/apps/super-todo/production/helmrelease.yaml")[0]["spec"]["values"]["ingress"]
    assert ingress["tls"] == {"enabled": True, "secretName": "app-staging-tls"} and ingress["annotations"] == {}
    _ok(playbook("production", "render.yml", "-e", "supertodo_render_dir=%s" % (tmp_path / "c"),
                 "-e", "super_todo_ingress_tls_issuer_kind=Issuer", extra_env=GOOD))
    ingress = _docs(tmp_path / "c/apps/super-todo/production/helmrelease.yaml")[0]["spec"]["values"]["ingress"]
    assert ingress["annotations"] == {"cert-manager.io/issuer": "letsencrypt-production"}
    # the chart renders the annotation and the Secret name on the Ingress
    out = subprocess.run(["helm", "template", "super-todo", str(REPO / "charts" / "super-todo"), "-f", "-"],
                         input=yaml.safe_dump(_docs(tmp_path / "c/apps/super-todo/production/helmrelease.yaml")[0]
                                              ["spec"]["values"]),
                         capture_output=True, text=True, check=True, env=_env()).stdout
    ing = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Ingress"][0]
    assert ing["metadata"]["annotations"]["cert-manager.io/issuer"] == "letsencrypt-production"
    assert ing["spec"]["tls"][0]["secretName"] == "super-todo-tls"
