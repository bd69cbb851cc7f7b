# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secrets role's filters (plugins/filter/secret_values.py): which live Secrets to read, and each value chosen
from the live Secret, the inventory or a generator, with the keys nothing provides."""

from __future__ import annotations

import base64
import importlib.util
import string
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = Path(__file__).resolve().parents[4] / "plugins" / "filter" / "secret_values.py"


@pytest.fixture(scope="module")
def sv():
    spec = importlib.util.spec_from_file_location("secret_values_filter", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SPECS = [
    {"id": "postgres_app", "type": "kubernetes.io/basic-auth",
     "keys": {"username": "secrets_postgres_app_username", "password": "secrets_postgres_app_password"},
     "generate": ["password"]},
    {"id": "redis", "type": "Opaque", "keys": {"redis-password": "secrets_redis_password"},
     "generate": ["redis-password"]},
    {"id": "backup_s3", "type": "Opaque",
     "keys": {"ACCESS_KEY_ID": "secrets_backup_s3_access_key_id",
              "ACCESS_SECRET_KEY": "secrets_backup_s3_secret_access_key"},
     "generate": []},
]
NAMES = {"postgres_app": "postgres-staging-app", "redis": "redis-staging-auth", "backup_s3": "postgres-staging-backup-s3"}
INVENTORY = {
    "secrets_postgres_app_username": "app",
    "secrets_postgres_app_password": "Inv3ntoryAppPassw0rd",
    "secrets_redis_password": "",
    "secrets_backup_s3_access_key_id": "AKIAEXAMPLE",
    "secrets_backup_s3_secret_access_key": "",
}


def b64(text):
    return base64.b64encode(text.encode()).decode()


def secret(name, **data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "staging"},
            "data": {k: b64(v) for k, v in data.items()}}


def test_reads_name_each_secret_under_its_spec_id(sv):
    assert sv.secret_reads(SPECS, NAMES) == [
        {"api_version": "v1", "kind": "Secret", "name": "postgres-staging-app", "key": "postgres_app"},
        {"api_version": "v1", "kind": "Secret", "name": "redis-staging-auth", "key": "redis"},
        {"api_version": "v1", "kind": "Secret", "name": "postgres-staging-backup-s3", "key": "backup_s3"},
    ]


def test_reads_name_the_spec_without_a_secret_name(sv):
    with pytest.raises(AnsibleFilterError, match="supertodo_secret_names has no name for redis"):
        sv.secret_reads(SPECS, {"postgres_app": "a", "backup_s3": "b"})


def test_inventory_values_without_generation(sv):
    out = sv.secret_values(SPECS, {}, INVENTORY)
    assert out["values"] == {
        "postgres_app": {"username": "app", "password": "Inv3ntoryAppPassw0rd"},
        "redis": {},
        "backup_s3": {"ACCESS_KEY_ID": "AKIAEXAMPLE"},
    }
    # the keys nothing provides, in the spec's order, per Secret that lacks one
    assert out["missing"] == {"redis": ["redis-password"], "backup_s3": ["ACCESS_SECRET_KEY"]}


def test_live_secret_wins_only_when_generate_missing(sv):
    live = {"postgres_app": [secret("postgres-staging-app", username="app", password="L1vePassw0rdFromCluster")],
            "redis": [secret("redis-staging-auth", **{"redis-password": "L1veRedisPassw0rd"})],
            "backup_s3": []}
    out = sv.secret_values(SPECS, live, INVENTORY, generate_missing=True)
    assert out["values"]["postgres_app"] == {"username": "app", "password": "L1vePassw0rdFromCluster"}
    assert out["values"]["redis"] == {"redis-password": "L1veRedisPassw0rd"}
    # production (no generation): the live data is ignored, the inventory decides
    out = sv.secret_values(SPECS, live, INVENTORY, generate_missing=False)
    assert out["values"]["postgres_app"]["password"] == "Inv3ntoryAppPassw0rd"
    assert out["values"]["redis"] == {}
    assert out["missing"]["redis"] == ["redis-password"]


def test_live_data_is_base64_decoded_utf8(sv):
    live = {"redis": [secret("redis-staging-auth", **{"redis-password": "pässwörd-ünïcode"})]}
    out = sv.secret_values(SPECS, live, INVENTORY, generate_missing=True)
    assert out["values"]["redis"]["redis-password"] == "pässwörd-ünïcode"


def test_live_key_absent_falls_back_to_inventory_then_generation(sv):
    live = {"postgres_app": [secret("postgres-staging-app", username="olduser")]}
    out = sv.secret_values(SPECS, live, INVENTORY, generate_missing=True, length=32)
    assert out["values"]["postgres_app"] == {"username": "olduser", "password": "Inv3ntoryAppPassw0rd"}


def test_generated_values_are_letters_and_digits_of_the_length(sv):
    out = sv.secret_values(SPECS, {}, INVENTORY, generate_missing=True, length=40)
    value = out["values"]["redis"]["redis-password"]
    assert len(value) == 40
    assert set(value) <= set(string.ascii_letters + string.digits)
    other = sv.secret_values(SPECS, {}, INVENTORY, generate_missing=True, length=40)["values"]["redis"]
    assert other["redis-password"] != value
    # a key outside the spec's `generate` is never generated: it is reported missing
    assert out["values"]["backup_s3"] == {"ACCESS_KEY_ID": "AKIAEXAMPLE"}
    assert out["missing"] == {"backup_s3": ["ACCESS_SECRET_KEY"]}


def test_inventory_value_is_taken_as_text_and_beats_generation(sv):
    inventory = dict(INVENTORY, secrets_redis_password=12345678901234567)
    out = sv.secret_values(SPECS, {}, inventory, generate_missing=True)
    assert out["values"]["redis"] == {"redis-password": "12345678901234567"}


def test_unset_or_null_inventory_value_counts_as_empty(sv):
    inventory = {k: v for k, v in INVENTORY.items() if k != "secrets_postgres_app_username"}
    inventory["secrets_backup_s3_access_key_id"] = None
    out = sv.secret_values(SPECS, {}, inventory)
    assert out["missing"]["postgres_app"] == ["username"]
    assert out["missing"]["backup_s3"] == ["ACCESS_KEY_ID", "ACCESS_SECRET_KEY"]


def test_generated_length_must_be_positive(sv):
    with pytest.raises(AnsibleFilterError, match="secrets_generated_length must be a whole number >= 1"):
        sv.secret_values(SPECS, {}, INVENTORY, generate_missing=True, length=0)


def test_no_value_in_an_error_message(sv):
    live = {"redis": [{"kind": "Secret", "metadata": {"name": "redis-staging-auth"},
                       "data": {"redis-password": "not base64 Inv3ntory!"}}]}
    with pytest.raises(AnsibleFilterError) as err:
        sv.secret_values(SPECS, live, INVENTORY, generate_missing=True)
    assert "redis-staging-auth" in str(err.value) and "redis-password" in str(err.value)
    assert "Inv3ntory" not in str(err.value)
