#!/usr/bin/env bash
# The test command: fetches the model and data assets the tests read (cached after the
# first run), then runs the whole suite in release mode (numeric tests are too slow in
# debug on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/fetch-assets.sh >/dev/null
# oneDNN's OpenMP threads must not spin while the test process needs the cores (see
# Sources/trimtab/OpenMPEnvironment.swift).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release --skip-build -Xswiftc -enable-testing "$@"
