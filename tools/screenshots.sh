#!/bin/sh
# Renders the desktop app's main screens, light and dark, into docs/screenshots/ as PNG files,
# with a real conversation. Runs offscreen (no display needed).
#
#   tools/screenshots.sh [BUILD_DIR] [MODEL_FILE]
#
# BUILD_DIR defaults to build/ui (configured with -DRAVEL_BUILD_GUI=ON, target `ravel` built);
# MODEL_FILE defaults to the bundled demo model (resources/models/ravel-demo-rwkv7.pth), which
# is what a first run shows.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/ui}
model=${2:-$root/resources/models/ravel-demo-rwkv7.pth}
out=$root/docs/screenshots
if [ ! -x "$build/ui/ravel" ]; then
    echo "screenshots.sh: $build/ui/ravel not found; build it with: ninja -C $build ravel" >&2
    exit 1
fi
if [ ! -f "$model" ]; then
    echo "screenshots.sh: model $model not found; pass a model file as the second argument" >&2
    exit 1
fi
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
QT_QPA_PLATFORM=offscreen QT_QUICK_BACKEND=software XDG_CACHE_HOME=$cache \
    "$build/ui/ravel" --screenshot "$out" --model "$model"
