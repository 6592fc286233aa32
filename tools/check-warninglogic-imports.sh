#!/usr/bin/env bash
# WarningLogic is the pure core: it may import nothing but the Swift standard library, so the
# same engine runs in the daemon, in simulate, in tests and in benchmarks. Fails on any other import.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -rnE '^\s*(@[A-Za-z_]+(\([^)]*\))?\s+)*import\s+(class |struct |enum |protocol |func |var |let |typealias )?[A-Za-z_]+' Sources/WarningLogic \
    | grep -vE 'import\s+(Swift|_Concurrency)\s*$' || true)
if [ -n "$bad" ]; then
    echo "error: Sources/WarningLogic must import only the Swift standard library; found:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "WarningLogic imports only the standard library."
