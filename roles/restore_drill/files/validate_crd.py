"""Validate YAML documents against the openAPIV3Schema of the CRDs in <schema_dir>/crds (metadata included).

Usage: validate_crd.py SCHEMA_DIR FILE...; prints one line per problem and exits 1 when a document is invalid.
"""

import glob
import os
import sys

import jsonschema
import yaml


def load_crds(schema_dir):
    crds = {}
    for path in sorted(glob.glob(os.path.join(schema_dir, "crds", "**", "*.y*ml"), recursive=True)):
        with open(path, encoding="utf-8") as fh:
            for doc in yaml.safe_load_all(fh):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                for version in doc["spec"]["versions"]:
                    if version.get("served"):
                        key = ("%s/%s" % (doc["spec"]["group"], version["name"]), doc["spec"]["names"]["kind"])
                        crds[key] = version["schema"]["openAPIV3Schema"]
    return crds


def main(argv):
    crds = load_crds(argv[1])
    problems = 0
    checked = 0
    for path in argv[2:]:
        with open(path, encoding="utf-8") as fh:
            for doc in yaml.safe_load_all(fh):
                if not doc or "/" not in doc.get("apiVersion", "") or "." not in doc["apiVersion"].split("/")[0]:
                    continue
                schema = crds.get((doc["apiVersion"], doc["kind"]))
                name = "%s %s/%s" % (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
                if schema is None:
                    print("%s (%s): no CRD for %s in %s" % (name, path, doc["apiVersion"], argv[1]))
                    problems += 1
                    continue
                checked += 1
                for err in jsonschema.Draft7Validator(schema).iter_errors(doc):
                    print("%s (%s): %s: %s" % (name, path, "/".join(str(p) for p in err.absolute_path) or "(root)",
                                               err.message))
                    problems += 1
    print("%d custom resources checked, %d problems" % (checked, problems))
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
