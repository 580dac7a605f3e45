#!/usr/bin/env bash
# Builds the office-printer example with hotline-pkg and publishes it, signed, into a
# repository: keys (first run only), root, package, targets/snapshot/timestamp, then verifies
# the result the way a device would.
#
# Usage: packages/examples/printer/build.sh [OUT_DIR]    (default: packages/examples/printer/out)
# Set HOTLINE_PKG to a built hotline-pkg binary to skip `cargo run`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out}"
if [ -n "${HOTLINE_PKG:-}" ]; then
    pkg=("$HOTLINE_PKG")
else
    pkg=(cargo run --quiet --manifest-path "$here/../../Cargo.toml" --bin hotline-pkg --)
fi

mkdir -p "$out/keys"
chmod 700 "$out/keys"
for role in root targets snapshot timestamp; do
    [ -f "$out/keys/$role.key" ] || "${pkg[@]}" keygen --out "$out/keys/$role.key"
done

"${pkg[@]}" build "$here" --out "$out/office-printer-1.0.0.hpkg"

if [ ! -f "$out/repo/metadata/1.root.json" ]; then
    "${pkg[@]}" root --out "$out/root.json" \
        --root-key "$out/keys/root.key.pub" --targets-key "$out/keys/targets.key.pub" \
        --snapshot-key "$out/keys/snapshot.key.pub" --timestamp-key "$out/keys/timestamp.key.pub" \
        --sign "$out/keys/root.key"
    "${pkg[@]}" init --repo "$out/repo" --root "$out/root.json"
fi

"${pkg[@]}" publish --repo "$out/repo" \
    --targets-key "$out/keys/targets.key" --snapshot-key "$out/keys/snapshot.key" \
    --timestamp-key "$out/keys/timestamp.key" \
    "$out/office-printer-1.0.0.hpkg"

"${pkg[@]}" verify --repo "$out/repo" --trusted-root "$out/root.json" office-printer-1.0.0.hpkg
