#!/usr/bin/env bash
# Installs everything Ravel needs to build and test on Debian 12. Idempotent, non-interactive.
set -euo pipefail
packages=(
    build-essential cmake ninja-build pkg-config git
    qt6-base-dev qt6-declarative-dev qt6-tools-dev qt6-l10n-tools libqt6sql6-sqlite
    qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts
    qml6-module-qtquick-window qml6-module-qtquick-templates qml6-module-qtquick-dialogs
    qml6-module-qtqml-workerscript qml6-module-qtqml qml6-module-qt-labs-platform
    qml6-module-qtquick-shapes qml6-module-qt-labs-settings qml6-module-qttest
    qml6-module-qt-labs-folderlistmodel
    libgl-dev nlohmann-json3-dev libsqlite3-dev libxxhash-dev libutf8proc-dev zlib1g-dev
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
