#!/usr/bin/env bash
# Configures and builds the release preset, then runs every test suite (GUI tests offscreen).
# Reference data is read from $RAVEL_SHARED_DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
export RAVEL_SHARED_DATA="${RAVEL_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
cmake --preset release
cmake --build --preset release
ctest --preset release --output-on-failure "$@"
