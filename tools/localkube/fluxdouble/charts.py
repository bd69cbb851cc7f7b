"""Charts for the Flux controller double: the git chart directories, helm template, and values validation."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import yaml

try:
    import jsonschema
except ImportError:  # pragma: no cover - jsonschema is a pinned project dependency
    jsonschema = None


class ChartError(Exception):
    """The chart cannot be found, rendered or its values do not fit."""


def digest(data) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def chart_meta(chart_dir: Path) -> dict:
    path = chart_dir / "Chart.yaml"
    if not path.is_file():
        raise ChartError("no Chart.yaml in %s" % chart_dir)
    return yaml.safe_load(path.read_text()) or {}


def deep_merge(base, over):
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(base.get(key), value) if key in base else value
    return out


def validate_values(schema_dir: Path, chart: str, values: dict):
    """Raise ChartError when ``values`` (merged over the chart's values.yaml) do not fit the chart."""
    base = schema_dir / "chart-values" / chart
    if not base.is_dir():
        raise ChartError("chart %s is not known (no %s)" % (chart, base))
    defaults = yaml.safe_load((base / "values.yaml").read_text()) or {}
    schema_path = base / "values.schema.json"
    if schema_path.is_file():
        if jsonschema is None:
            raise ChartError("jsonschema is not installed")
        schema = json.loads(schema_path.read_text())
        merged = deep_merge(defaults, values or {})
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(merged), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(root)"
            raise ChartError("values don't meet the specifications of the schema(s) in the following chart(s): "
                             "%s: at '%s': %s" % (chart, where, first.message))
        return
    unknown = sorted(set(values or {}) - set(defaults) - {"global"})
    if unknown:
        raise ChartError("values of chart %s have unknown top-level keys: %s" % (chart, ", ".join(unknown)))


def helm_error(stderr):
    """Helm's error as helm-controller reports it: from the ``Error:`` line on (without that prefix), all lines."""
    lines = (stderr or "").strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Error: ")), None)
    if start is None:
        return lines[-1] if lines else "helm template failed"
    lines = lines[start:]
    lines[0] = lines[0][len("Error: "):]
    return "\n".join(line.rstrip() for line in lines)


def helm_template(chart_dir: Path, release: str, namespace: str, values: dict, api_versions, kube_version: str):
    """Render the chart; returns the list of objects."""
    with tempfile.TemporaryDirectory(prefix="fluxdouble-") as tmp:
        values_file = os.path.join(tmp, "values.json")
        with open(values_file, "w") as fh:
            json.dump(values or {}, fh)
        argv = ["helm", "template", release, str(chart_dir), "--namespace", namespace, "--values", values_file,
                "--kube-version", kube_version, "--include-crds"]
        for api in api_versions:
            argv += ["--api-versions", api]
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ChartError(helm_error(out.stderr))
    return [doc for doc in yaml.safe_load_all(out.stdout) if isinstance(doc, dict) and doc.get("kind")]
