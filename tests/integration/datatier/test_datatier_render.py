# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data tier roles (postgres, redis, backups) run for both inventories without a cluster.

Runs ansible-playbook with dump_manifests.yml (the environment role, preflight included, stopped after producing
the data tier; the playbook writes __supertodo_manifests to JSON) and checks the rendered objects: the figures of
the current setup, every custom resource against its CRD's openAPIV3Schema, every HelmRelease's values against its
chart's values.schema.json / values.yaml, backup objects only in production, refusals that name the variable, and
no secret value anywhere.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
SCHEMA_DIR = Path(os.environ.get("SUPERTODO_SCHEMA_DIR") or REPO.parent / "shared" / "schemas")
SECRETS = {
    "SUPERTODO_POSTGRES_SUPERUSER_PASSWORD": "Vt3kP9xQ2mL7wR4nB8sD6hJ1",
    "SUPERTODO_POSTGRES_APP_PASSWORD": "Gz5cN8vM1qT4yK7pW2eR9uX3",
    "SUPERTODO_REDIS_PASSWORD": "Lf6bH9jS3dA7gU1oE4iY8tQ2",
    "SUPERTODO_BACKUP_S3_ACCESS_KEY_ID": "AKIAT3STDATATIER0001",
    "SUPERTODO_BACKUP_S3_SECRET_ACCESS_KEY": "wJalrXUtnDATATIERbPxRfiCYEXAMPLEKEY42xyz",
}


def _env(extra=None):
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", ""))
    env.setdefault("SUPERTODO_SCHEMA_DIR", str(SCHEMA_DIR))
    for key in list(env):
        if key.startswith("SUPERTODO_") and key != "SUPERTODO_SCHEMA_DIR":
            env.pop(key)
    env.update(extra or {})
    return env


def dump(env_name, out, *extra_args, secrets=True):
    """Run the data tier roles for one inventory; returns (process, dumped JSON or None)."""
    proc = subprocess.run(
        ["ansible-playbook", "-i", "inventories/%s" % env_name, str(HERE / "dump_manifests.yml"),
         "-e", "datatier_dump_file=%s" % out, *extra_args],
        cwd=str(REPO), env=_env(SECRETS if secrets else None), capture_output=True, text=True, timeout=600,
        check=False)
    data = json.loads(Path(out).read_text()) if proc.returncode == 0 else None
    return proc, data


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("datatier")
    out = {}
    for env_name in ("staging", "production"):
        proc, data = dump(env_name, root / ("%s.json" % env_name))
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
        out[env_name] = {"data": data, "stdout": proc.stdout + proc.stderr,
                         "text": (root / ("%s.json" % env_name)).read_text()}
    return out


def objects(rendered, env_name, kind=None):
    entries = rendered[env_name]["data"]["manifests"]
    return [e for e in entries if kind is None or e["object"]["kind"] == kind]


def release(rendered, env_name, component):
    found = [e for e in objects(rendered, env_name, "HelmRelease")
             if e["object"]["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    assert len(found) == 1, found
    return found[0]


# -- schemas ------------------------------------------------------------------------------------------------------

def _crd_schemas():
    out = {}
    for fname in glob.glob(str(SCHEMA_DIR / "crds" / "**" / "*.yaml"), recursive=True):
        with open(fname, encoding="utf-8") as fh:
            for doc in yaml.safe_load_all(fh):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                for ver in doc["spec"]["versions"]:
                    if ver.get("served"):
                        key = ("%s/%s" % (doc["spec"]["group"], ver["name"]), doc["spec"]["names"]["kind"])
                        out[key] = ver["schema"]["openAPIV3Schema"]
    return out


CRDS = _crd_schemas()


def crd_problems(obj):
    """jsonschema on the served version's openAPIV3Schema (metadata is the API server's), plus undeclared fields."""
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import undeclared_fields

    schema = copy.deepcopy(CRDS[(obj["apiVersion"], obj["kind"])])
    schema["properties"].pop("metadata", None)
    schema["required"] = [r for r in schema.get("required", []) if r != "metadata"]
    body = {k: v for k, v in obj.items() if k != "metadata"}
    problems = ["%s: %s" % (list(e.absolute_path), e.message)
                for e in jsonschema.Draft7Validator(schema).iter_errors(body)]
    return problems + undeclared_fields(body, schema)


def _deep_merge(base, over):
    out = copy.deepcopy(base)
    for key, val in over.items():
        out[key] = _deep_merge(out[key], val) if isinstance(val, dict) and isinstance(out.get(key), dict) else val
    return out


def chart_dir(name):
    return SCHEMA_DIR / "chart-values" / name


def chart_schema_problems(name, values):
    schema = json.loads((chart_dir(name) / "values.schema.json").read_text())
    defaults = yaml.safe_load((chart_dir(name) / "values.yaml").read_text())
    merged = _deep_merge(defaults, values)
    return [("%s: %s" % (list(e.absolute_path), e.message))
            for e in jsonschema.Draft7Validator(schema).iter_errors(merged)]


def unknown_keys(values, defaults, path=""):
    """Keys of ``values`` the chart's values.yaml does not have (a `{}` default is free-form)."""
    out = []
    for key, val in values.items():
        here = "%s.%s" % (path, key) if path else key
        if not isinstance(defaults, dict) or key not in defaults:
            out.append(here)
        elif isinstance(val, dict) and isinstance(defaults[key], dict) and defaults[key]:
            out.extend(unknown_keys(val, defaults[key], here))
    return out


def chart_defaults(name):
    return yaml.safe_load((chart_dir(name) / "values.yaml").read_text())


# -- the figures --------------------------------------------------------------------------------------------------

def test_postgres_instances_come_from_the_rendered_values(rendered):
    assert release(rendered, "staging", "postgres")["object"]["spec"]["values"]["cluster"]["instances"] == 1
    assert release(rendered, "production", "postgres")["object"]["spec"]["values"]["cluster"]["instances"] == 3


def test_postgres_figures(rendered):
    stg = release(rendered, "staging", "postgres")["object"]
    prd = release(rendered, "production", "postgres")["object"]
    for obj, env_name in ((stg, "staging"), (prd, "production")):
        assert obj["metadata"]["name"] == "postgres-%s" % env_name
        assert obj["metadata"]["namespace"] == env_name
        assert obj["spec"]["chart"]["spec"]["chart"] == "cluster"
        assert obj["spec"]["chart"]["spec"]["version"] == "0.8.1"
        assert obj["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "cloudnative-pg",
                                                             "namespace": "flux-system"}
        values = obj["spec"]["values"]
        # the Cluster and its services are postgres-<env>(-rw/-ro/-r)
        assert values["fullnameOverride"] == "postgres-%s" % env_name
        assert values["cluster"]["initdb"] == {"database": "todos_db_%s" % env_name, "owner": "app",
                                               "secret": {"name": "postgres-%s-app" % env_name}}
        assert values["cluster"]["superuserSecret"] == "postgres-%s-superuser" % env_name
        assert values["backups"] == {"enabled": False}
        assert all(isinstance(v, str) for v in values["cluster"]["postgresql"]["parameters"].values())
    s, p = stg["spec"]["values"]["cluster"], prd["spec"]["values"]["cluster"]
    assert s["storage"]["size"] == "5Gi" and p["storage"]["size"] == "50Gi"
    assert s["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert p["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2000m", "memory": "2Gi"}}
    assert s["enablePDB"] is False and p["enablePDB"] is True
    assert s["monitoring"]["enabled"] is False and s["monitoring"]["podMonitor"]["enabled"] is False
    assert p["monitoring"]["enabled"] is True and p["monitoring"]["podMonitor"]["enabled"] is True
    # development parameters are smaller than production ones
    assert int(s["postgresql"]["parameters"]["max_connections"]) < int(p["postgresql"]["parameters"]["max_connections"])
    assert s["postgresql"]["parameters"]["shared_buffers"] == "64MB"
    assert p["postgresql"]["parameters"]["shared_buffers"] == "512MB"
    assert s["plugins"] == []


def test_redis_figures(rendered):
    stg = release(rendered, "staging", "redis")["object"]
    prd = release(rendered, "production", "redis")["object"]
    assert stg["metadata"]["name"] == "redis-staging" and prd["metadata"]["name"] == "redis-production"
    assert (stg["spec"]["chart"]["spec"]["chart"], stg["spec"]["chart"]["spec"]["version"]) == ("redis", "23.1.1")
    assert (prd["spec"]["chart"]["spec"]["chart"], prd["spec"]["chart"]["spec"]["version"]) == ("redis-cluster", "13.0.5")
    s, p = stg["spec"]["values"], prd["spec"]["values"]
    assert s["architecture"] == "standalone"
    assert s["master"]["persistence"]["size"] == "2Gi"
    assert s["master"]["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}
    assert s["auth"] == {"enabled": True, "existingSecret": "redis-staging-auth", "existingSecretPasswordKey": "redis-password"}
    assert p["cluster"] == {"nodes": 6, "replicas": 1}
    assert p["persistence"]["size"] == "20Gi"
    assert p["redis"]["resources"] == {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "1000m", "memory": "1Gi"}}
    assert p["usePassword"] is True and p["existingSecret"] == "redis-production-auth"
    assert p["redis"]["useAOFPersistence"] == "yes"
    conf = p["redis"]["configmap"].splitlines()
    assert "appendonly yes" in conf and "maxmemory 768mb" in conf and "maxmemory-policy allkeys-lru" in conf
    assert [line for line in conf if line.startswith("save ")] == ["save 900 1 300 10 60 10000"]
    assert p["pdb"]["create"] is True and p["pdb"]["minAvailable"] == 3
    assert p["redis"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}}
    assert p["metrics"]["enabled"] is True and p["metrics"]["serviceMonitor"]["enabled"] is True
    for values in (s, p):
        images = [values["image"], values["metrics"]["image"], values["volumePermissions"]["image"]]
        assert all(img["repository"].startswith("bitnamilegacy/") for img in images), images
        assert all(img["tag"] and img["tag"] != "latest" for img in images), images
        assert values["global"]["security"]["allowInsecureImages"] is True
        assert values["networkPolicy"]["enabled"] is False


def test_helm_repositories(rendered):
    for env_name in ("staging", "production"):
        repos = {e["object"]["metadata"]["name"]: e for e in objects(rendered, env_name, "HelmRepository")}
        assert repos["cloudnative-pg"]["object"]["spec"]["url"] == "https://cloudnative-pg.github.io/charts"
        assert repos["cloudnative-pg"]["path"] == "infrastructure/postgres/helmrepository.yaml"
        assert repos["bitnami"]["object"]["spec"] == {"interval": "1h", "type": "oci",
                                                      "url": "oci://registry-1.docker.io/bitnamicharts"}
        assert repos["bitnami"]["path"] == "infrastructure/redis/helmrepository.yaml"
    paths = {e["path"] for e in objects(rendered, "production", "HelmRelease")}
    assert {"infrastructure/postgres/production/helmrelease.yaml", "infrastructure/redis/production/helmrelease.yaml"} <= paths


def test_connection_settings_published_for_the_app(rendered):
    for env_name in ("staging", "production"):
        pg = rendered[env_name]["data"]["postgres_connection"]
        rd = rendered[env_name]["data"]["redis_connection"]
        assert pg["host"] == "postgres-%s-rw" % env_name and pg["port"] == 5432
        assert pg["database"] == "todos_db_%s" % env_name and pg["secret_name"] == "postgres-%s-app" % env_name
        assert rd["port"] == 6379 and rd["secret_name"] == "redis-%s-auth" % env_name
    assert rendered["staging"]["data"]["redis_connection"]["host"] == "redis-staging-master"
    assert rendered["production"]["data"]["redis_connection"]["host"] == "redis-production"
    assert rendered["production"]["data"]["redis_connection"]["cluster_mode"] is True
    # the app inventory points at the same services
    for env_name in ("staging", "production"):
        app = yaml.safe_load((REPO / "inventories" / env_name / "group_vars" / env_name / "super_todo.yml").read_text())
        assert app["super_todo_database_host"] == rendered[env_name]["data"]["postgres_connection"]["host"]
        assert app["super_todo_database_name"] == rendered[env_name]["data"]["postgres_connection"]["database"]
        assert app["super_todo_redis_host"] == rendered[env_name]["data"]["redis_connection"]["host"]


# -- backups --------------------------------------------------------------------------------------------------------

BACKUP_KINDS = {"ObjectStore", "ScheduledBackup", "CronJob"}


def test_staging_renders_no_backup_objects(rendered):
    assert not [e for e in objects(rendered, "staging") if e["object"]["kind"] in BACKUP_KINDS | {"NetworkPolicy"}]
    assert "barman" not in rendered["staging"]["text"]


def test_production_backup_objects(rendered):
    kinds = sorted(e["object"]["kind"] for e in objects(rendered, "production") if e["object"]["kind"] in BACKUP_KINDS)
    assert kinds == ["CronJob", "ObjectStore", "ScheduledBackup"]
    store = objects(rendered, "production", "ObjectStore")[0]
    assert store["path"] == "infrastructure/postgres/production/objectstore.yaml"
    spec = store["object"]["spec"]
    assert spec["retentionPolicy"] == "7d"
    assert spec["configuration"]["destinationPath"] == "s3://super-todo-backups/postgres-production"
    assert spec["configuration"]["wal"] == {"compression": "gzip", "maxParallel": 4, "encryption": "AES256"}
    assert spec["configuration"]["data"]["encryption"] == "AES256"
    assert spec["configuration"]["s3Credentials"] == {
        "accessKeyId": {"name": "postgres-production-backup-s3", "key": "ACCESS_KEY_ID"},
        "secretAccessKey": {"name": "postgres-production-backup-s3", "key": "ACCESS_SECRET_KEY"}}
    sched = objects(rendered, "production", "ScheduledBackup")[0]
    assert sched["path"] == "infrastructure/postgres/production/scheduledbackup.yaml"
    assert len(sched["object"]["spec"]["schedule"].split()) == 6
    assert sched["object"]["spec"]["method"] == "plugin"
    assert sched["object"]["spec"]["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
    # the ScheduledBackup backs up the Cluster the chart creates, whose WAL archiver is this ObjectStore
    values = release(rendered, "production", "postgres")["object"]["spec"]["values"]
    assert sched["object"]["spec"]["cluster"]["name"] == values["fullnameOverride"]
    assert values["cluster"]["plugins"] == [{
        "name": "barman-cloud.cloudnative-pg.io", "enabled": True, "isWALArchiver": True,
        "parameters": {"barmanObjectName": store["object"]["metadata"]["name"]}}]


def test_production_redis_snapshot_cronjob(rendered):
    cron = objects(rendered, "production", "CronJob")[0]
    assert cron["path"] == "infrastructure/redis/production/snapshot-cronjob.yaml"
    spec = cron["object"]["spec"]
    assert len(spec["schedule"].split()) == 5 and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["initContainers"][0]["env"]}
    assert env["REDIS_TARGETS"]["value"].split() == ["redis-production-%d" % i for i in range(6)]
    assert env["REDIS_HEADLESS"]["value"] == "redis-production-headless"
    assert env["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"] == {"name": "redis-production-auth", "key": "redis-password"}
    up = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert up["DESTINATION"]["value"] == "s3://super-todo-backups/redis-production"
    assert up["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-production-backup-s3"
    for container in pod["initContainers"] + pod["containers"]:
        assert ":" in container["image"].rsplit("/", 1)[-1] and not container["image"].endswith(":latest")
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_every_object_validates(rendered):
    import kubernetes_validate

    checked = 0
    for env_name in ("staging", "production"):
        for entry in objects(rendered, env_name):
            obj = entry["object"]
            if (obj["apiVersion"], obj["kind"]) in CRDS:
                assert crd_problems(obj) == [], (entry["path"], crd_problems(obj))
            else:
                kubernetes_validate.validate(obj, "1.30.0", strict=True)
            checked += 1
    assert checked == 4 + 9


def test_helmrelease_values_validate_against_the_charts(rendered):
    for env_name in ("staging", "production"):
        for component in ("postgres", "redis"):
            obj = release(rendered, env_name, component)["object"]
            chart = obj["spec"]["chart"]["spec"]["chart"]
            values = obj["spec"]["values"]
            if (chart_dir(chart) / "values.schema.json").is_file():
                assert chart_schema_problems(chart, values) == [], (env_name, chart)
            passthrough = {"redis.updateStrategy.rollingUpdate.maxUnavailable"} if chart == "redis-cluster" else set()
            assert set(unknown_keys(values, chart_defaults(chart))) == passthrough, (env_name, chart)


def test_cluster_plugin_entry_and_resources_fit_the_cluster_crd(rendered):
    spec = CRDS[("postgresql.cnpg.io/v1", "Cluster")]["properties"]["spec"]["properties"]
    for env_name in ("staging", "production"):
        cluster = release(rendered, env_name, "postgres")["object"]["spec"]["values"]["cluster"]
        for plugin in cluster["plugins"]:
            jsonschema.validate(plugin, spec["plugins"]["items"])
        jsonschema.validate(cluster["resources"], spec["resources"])
        jsonschema.validate(cluster["postgresql"]["parameters"], spec["postgresql"]["properties"]["parameters"])
        assert cluster["instances"] >= spec["instances"].get("minimum", 1)


def test_schema_check_catches_a_bad_value(rendered):
    """The checks above can fail: a string instance count and an unknown retention unit are refused."""
    values = copy.deepcopy(release(rendered, "production", "postgres")["object"]["spec"]["values"])
    values["cluster"]["instances"] = "three"
    assert chart_schema_problems("cluster", values)
    store = copy.deepcopy(objects(rendered, "production", "ObjectStore")[0]["object"])
    store["spec"]["retentionPolicy"] = "7y"
    assert crd_problems(store)
    store["spec"]["configuration"]["wal"]["unknownField"] = 1
    assert any("unknownField" in p for p in crd_problems(store))


def test_shared_validator_accepts_the_data_tier(rendered):
    """What the delivery step will run on the same objects."""
    from ansible_collections.supertodo.platform.plugins.module_utils.manifests.validate import Validator

    validator = Validator(str(SCHEMA_DIR))
    entries = objects(rendered, "staging") + objects(rendered, "production")
    assert validator.problems(entries) == []


def test_no_secret_value_in_objects_or_output(rendered):
    for env_name in ("staging", "production"):
        blob = rendered[env_name]["text"] + rendered[env_name]["stdout"]
        for value in SECRETS.values():
            assert value not in blob
        assert "password:" not in rendered[env_name]["text"]


# -- refusals -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("env_name,args,variable", [
    ("production", ["-e", "backups_destination_path="], "backups_destination_path is empty"),
    ("production", ["-e", "backups_destination_path=https://bucket/x"], "backups_destination_path must look like s3://"),
    ("production", ["-e", "backups_schedule='0 3 * * *'"], "backups_schedule must have six fields"),
    ("production", ["-e", "backups_credentials_secret="], "backups_credentials_secret is empty"),
    ("production", ["-e", "backups_retention_policy=7y"], "backups_retention_policy must look like"),
    ("staging", ["-e", "backups_enabled=true"], "backups_enabled is true in staging"),
    ("production", ["-e", "{\"postgres_pdb_min_available\": 3}"], "postgres_pdb_min_available must equal"),
    ("production", ["-e", "redis_image_tag=latest"], "redis_image_tag must be a version"),
])
def test_refusals_name_the_variable(tmp_path, env_name, args, variable):
    proc, dummy = dump(env_name, tmp_path / "out.json", *args)
    assert proc.returncode != 0
    assert variable in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / "out.json").exists()


def test_backups_without_credential_values_are_refused_in_apply_mode(tmp_path):
    # preflight refuses the empty values first, as in site.yml, naming each variable
    proc, dummy = dump("production", tmp_path / "out.json", secrets=False)
    assert proc.returncode != 0
    assert "secrets_backup_s3_access_key_id is empty" in proc.stdout
    assert "secrets_backup_s3_secret_access_key is empty" in proc.stdout
    # empty secrets accepted by an override: the backups role still refuses to enable backups without credentials
    override = json.dumps({"supertodo_overrides": [{"name": "allow_empty_secret", "reason": "a test of the backups role"}]})
    proc, dummy = dump("production", tmp_path / "out.json", "-e", override, secrets=False)
    assert proc.returncode != 0
    assert "secrets_backup_s3_access_key_id and secrets_backup_s3_secret_access_key are empty" in proc.stdout
    assert not (tmp_path / "out.json").exists()
    # render mode needs no credential values (Secrets are never rendered)
    proc, data = dump("production", tmp_path / "render.json", "-e", "supertodo_delivery_mode=render", secrets=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert [e for e in data["manifests"] if e["object"]["kind"] == "ObjectStore"]


# -- the GitOps tree --------------------------------------------------------------------------------------------------

def render_tree(env_name, dest):
    return subprocess.run(
        ["ansible-playbook", "-i", "inventories/%s" % env_name, str(HERE / "render_datatier.yml"),
         "-e", "supertodo_render_dir=%s" % dest],
        cwd=str(REPO), env=_env(SECRETS), capture_output=True, text=True, timeout=600, check=False)


def test_staging_tree_renders_and_builds(tmp_path):
    proc = render_tree("staging", tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    for rel in ("infrastructure/postgres/helmrepository.yaml", "infrastructure/postgres/staging/helmrelease.yaml",
                "infrastructure/redis/helmrepository.yaml", "infrastructure/redis/staging/helmrelease.yaml"):
        assert (tmp_path / rel).is_file(), rel
    assert not list(tmp_path.rglob("objectstore.yaml")) and not list(tmp_path.rglob("snapshot-cronjob.yaml"))
    # no root kustomization.yaml (Flux's layout, docs/gitops.md): kustomize builds each folder that has one
    kinds = set()
    for folder in sorted({p.parent for p in tmp_path.rglob("kustomization.yaml")}):
        out = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, env=_env(),
                             timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        kinds |= {(o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(out.stdout) if o}
    assert {("HelmRelease", "postgres-staging"), ("HelmRelease", "redis-staging"),
            ("HelmRepository", "cloudnative-pg"), ("HelmRepository", "bitnami")} <= kinds


def test_production_tree_renders_with_backup_objects(tmp_path):
    proc = render_tree("production", tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    docs = [d for d in yaml.safe_load_all((tmp_path / "infrastructure/postgres/production/objectstore.yaml").read_text()) if d]
    assert [d["kind"] for d in docs] == ["ObjectStore"]
    assert (tmp_path / "infrastructure/postgres/production/scheduledbackup.yaml").is_file()
    assert (tmp_path / "infrastructure/redis/production/snapshot-cronjob.yaml").is_file()
