#!/usr/bin/env bash
# Build kiln, make a busybox base image, build examples/hello with it and run the result.
# Needs root (namespaces, overlayfs) and Debian's busybox-static (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /bin/busybox ] || ! /bin/busybox --list >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static
fi
cargo build --release --quiet -p kiln-cli
kiln=$PWD/target/release/kiln
export KILN_ROOT=${KILN_ROOT:-/var/lib/kiln}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
scripts/busybox-rootfs.sh "$rootfs"
"$kiln" import "$rootfs" busybox:latest
"$kiln" build -t hello:latest examples/hello
"$kiln" run --rm hello:latest
