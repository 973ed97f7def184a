#!/usr/bin/env bash
# Run kiln's whole test suite, installing what it needs first. Needs root (namespaces,
# overlayfs) on a Debian machine with a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

# busybox-static: the base image of the tests; docker.io, skopeo, umoci: the peers that must
# accept kiln's images (and make images kiln must accept); passt: pasta, the NAT helper of the
# default network (so the tests run isolated), and slirp4netns, the other one; gcc, libc6-dev:
# the static sandbox probe; docker-registry: the CNCF registry the registry tests start
# (registry-harness), one per test on a free port; openssh-client: the agent, ssh-add and
# ssh-keygen of the `--ssh` tests; git: the git daemon and repositories of the `ADD <git>` tests.
need=()
for p in busybox-static docker.io skopeo umoci passt slirp4netns gcc libc6-dev docker-registry openssh-client git; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Multi-platform builds (cli/tests/multiplatform.rs): arm64 RUN through binfmt_misc and QEMU
# (qemu-user-static registers its emulators with the F flag through binfmt-support), the arm64
# busybox base (downloaded and unpacked, never installed: it would replace the amd64 one every
# test uses), and the aarch64 cross compiler of the C test.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  apt-get update -qq
fi
need=()
for p in qemu-user-static binfmt-support gcc-aarch64-linux-gnu libc6-dev-arm64-cross; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 || update-binfmts --import qemu-aarch64
fi
arm64_bb=$PWD/target/arm64-busybox
if [ ! -x "$arm64_bb/bin/busybox" ]; then
  dl=$(mktemp -d)
  (cd "$dl" && apt-get download -qq busybox-static:arm64 2>/dev/null)
  mkdir -p "$arm64_bb"
  dpkg-deb -x "$dl"/busybox-static_*_arm64.deb "$arm64_bb"
  rm -rf "$dl"
fi
export KILN_ARM64_BUSYBOX=$arm64_bb/bin/busybox
# The C compilers (native and aarch64 cross) as a root filesystem, for the C test's build stage.
toolchain=$PWD/target/toolchain-rootfs
if [ ! -x "$toolchain/usr/bin/aarch64-linux-gnu-gcc" ]; then
  rm -rf "$toolchain"
  scripts/toolchain-rootfs.sh "$toolchain" >/dev/null
fi
export KILN_TOOLCHAIN_ROOTFS=$toolchain

# A docker daemon for the peer tests (no iptables, no bridge: the tests use --network none).
if ! /usr/bin/docker info >/dev/null 2>&1; then
  if ! pgrep -x dockerd >/dev/null; then
    nohup dockerd --iptables=false --bridge=none >/var/tmp/kiln-test-dockerd.log 2>&1 &
  fi
  for _ in $(seq 60); do /usr/bin/docker info >/dev/null 2>&1 && break; sleep 1; done
fi
export KILN_REQUIRE_PEERS=1

if [ "${KILN_SKIP_LINT:-0}" != 1 ]; then
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --quiet -- -D warnings
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (cargo's last line is a crate's doc-tests, often 0).
sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p' "$log" |
  awk '{p += $1; f += $2; i += $3} END {printf "tests: %d passed, %d failed, %d skipped\n", p, f, i}'
exit "$status"
