#!/usr/bin/env bash
# Runs every test of the workspace.
#
# The end-to-end tests drive `trailwatch serve` with the real AWS clients: the AWS CLI and boto3
# from PyPI, installed once into .venv-test (pinned versions; set TRAILWATCH_TEST_VENV to use
# another virtual environment), and check SNS signatures with sns-validator from npm. The CIS
# report is opened in Debian's Chromium (installed with apt-get when missing), driven by
# playwright-core from npm, and Prowler (PyPI, in .venv-prowler, or TRAILWATCH_PROWLER_VENV)
# audits a server beside `trailwatch cis audit`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${TRAILWATCH_TEST_VENV:-$PWD/.venv-test}"
requirements="$PWD/tools/test-requirements.txt"
stamp="$venv/.trailwatch-requirements"

if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    echo "==> installing the test clients into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
fi
export TRAILWATCH_TEST_VENV="$venv"

# Prowler, the auditor `cis audit` is compared with, in a virtual environment of its own: it
# pins its own boto3 and pulls in the SDKs of every cloud it audits (about 2 GB).
prowler_venv="${TRAILWATCH_PROWLER_VENV:-$PWD/.venv-prowler}"
prowler_requirements="$PWD/tools/prowler-requirements.txt"
prowler_stamp="$prowler_venv/.trailwatch-requirements"
if ! cmp -s "$prowler_requirements" "$prowler_stamp" 2>/dev/null; then
    echo "==> installing Prowler into $prowler_venv"
    python3 -m venv "$prowler_venv"
    "$prowler_venv/bin/pip" install --quiet --disable-pip-version-check -r "$prowler_requirements"
    cp "$prowler_requirements" "$prowler_stamp"
fi
export TRAILWATCH_PROWLER_VENV="$prowler_venv"

# AWS's SNS message validator for Node.js checks our signatures, and playwright-core drives
# Chromium (both pinned in package-lock.json).
checks="crates/trailwatch/tests/js"
if ! cmp -s "$checks/package-lock.json" "$checks/node_modules/.trailwatch-lock" 2>/dev/null; then
    echo "==> installing sns-validator and playwright-core into $checks/node_modules"
    (cd "$checks" && npm ci --no-audit --no-fund --silent)
    cp "$checks/package-lock.json" "$checks/node_modules/.trailwatch-lock"
fi

# Debian's Chromium, in which the CIS report is checked as a reader sees it.
if ! command -v chromium >/dev/null 2>&1; then
    echo "==> installing Chromium (Debian's package)"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

cargo nextest run --workspace "$@"
cargo test --workspace --doc
