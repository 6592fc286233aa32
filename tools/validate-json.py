#!/usr/bin/env python3
# Validates JSON documents against a JSON Schema (draft 2020-12) with the `jsonschema` package
# (pinned in the Makefile's venv). The county API tests run it on every page they are served.
# Usage: tools/validate-json.py SCHEMA FILE...   Exit 0: all valid; 1: a document is not (each
# error printed with its file and JSON path); 2: bad usage or an unreadable file.
import json, sys

try:
    from jsonschema import Draft202012Validator
except ImportError:
    sys.exit("error: the jsonschema package is missing; run `make venv` and use .venv/bin/python")

if len(sys.argv) < 3:
    sys.exit("usage: tools/validate-json.py SCHEMA FILE...")
with open(sys.argv[1], encoding="utf-8") as f:
    schema = json.load(f)
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
bad = 0
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        bad += 1
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        print(f"{path}: {where}: {error.message}")
sys.exit(1 if bad else 0)
