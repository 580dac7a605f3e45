#!/usr/bin/env bash
# Runs Hotline's whole test suite on a fresh Debian machine: installs the system packages the
# end-to-end tests need (when missing), then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use. Keep this list in one place.
packages=(
    cups
    xvfb
    xdotool
    openbox
    x11-utils
    fonts-dejavu-core
    xterm
    imagemagick
    bsdiff
    xdelta3
    chromium
    chromium-driver
    # The credential tests: useradd/chpasswd/chage/usermod/passwd, faillock, and perl's
    # crypt() to check a password against its shadow hash.
    passwd
    libpam-modules-bin
    perl-base
    ffmpeg
    util-linux
)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing test dependencies: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo test --workspace --locked "$@"
