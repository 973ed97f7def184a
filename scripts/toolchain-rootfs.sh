#!/bin/sh
# toolchain-rootfs.sh DIR: a root filesystem with this machine's C compilers, for the build
# stage of the multi-platform C test (cli/tests/registry_multiplatform.rs): gcc for the host
# and aarch64-linux-gnu-gcc (Debian's gcc-aarch64-linux-gnu, libc6-dev-arm64-cross), their
# binutils, C libraries and headers (static linking), the shared libraries they load, and a
# static busybox for the shell. Files come from the packages that own the compilers (dpkg -L),
# documentation left out.
set -eu
dir=${1:?usage: toolchain-rootfs.sh DIR}
here=$(dirname "$0")
for cc in gcc aarch64-linux-gnu-gcc; do
  command -v "$cc" >/dev/null || { echo "toolchain-rootfs.sh: $cc not found (apt-get install gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross)" >&2; exit 1; }
done
"$here/busybox-rootfs.sh" "$dir"
# The host's merged-/usr links (lib -> usr/lib …), so that paths keep their meaning.
for l in lib lib32 lib64 libx32 sbin; do
  if [ -L "/$l" ] && [ ! -e "$dir/$l" ]; then
    ln -s "$(readlink "/$l")" "$dir/$l"
    mkdir -p "$dir/$(readlink -f "/$l")"
  fi
done
# The packages owning what each compiler runs and links with.
owners() {
  cc=$1
  for f in "$(command -v "$cc")" "$(readlink -f "$(command -v "$cc")")" \
      "$("$cc" -print-prog-name=cc1)" "$("$cc" -print-prog-name=collect2)" \
      "$(readlink -f "$("$cc" -print-prog-name=as)")" "$(readlink -f "$("$cc" -print-prog-name=ld)")" \
      "$("$cc" -print-libgcc-file-name)" "$("$cc" -print-file-name=libc.a)" \
      "$("$cc" -print-file-name=crt1.o)"; do
    # The path as named (a link's package) and as resolved (the file's).
    dpkg -S "$f" "$(readlink -f "$f")" 2>/dev/null | sed 's/: .*//; s/, /\n/g'
  done
  echo '#include <linux/limits.h>' | "$cc" -E -H -x c - 2>&1 >/dev/null | sed -n 's/^\. //p' |
    while read -r h; do dpkg -S "$(readlink -f "$h")" 2>/dev/null | sed 's/: .*//'; done
}
# `as` and `ld` are links of the binutils packages.
pkgs=$( (owners gcc; owners aarch64-linux-gnu-gcc; dpkg -S "$(command -v as)" | sed 's/: .*//') |
  sed 's/:.*//' | sort -u)
list=$(mktemp)
for p in $pkgs; do
  # Not needed to compile C: docs, link-time optimisation, sanitizer and other runtimes.
  dpkg -L "$p" | grep -v -e '^/usr/share/' -e '^/\.$' -e '/lto1$' -e '/lto-dump' \
    -e '/lib[a-z]*san[._]' -e '/libgomp' -e '/libitm' -e '/libquadmath' -e '/libatomic' \
    -e '/plugin/' -e '/libcc1' -e '/libgprofng' -e '/gprofng' -e '/libstdc++' >>"$list"
done
# Shared libraries of every program among them, and the dynamic loader.
for f in $(sort -u "$list" | grep -E '/(bin|libexec|lib/gcc[^/]*/[^/]+/[0-9]+)/'); do
  [ -f "$f" ] && [ -x "$f" ] || continue
  ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^\t\(\/[^ ]*\) .*/\1/p'
done | sort -u >>"$list"
# Each file by its real directory (through the merged-/usr links); a link with every hop.
copy() {
  real="$(readlink -f "$(dirname "$1")")/$(basename "$1")"
  [ -e "$dir$real" ] || [ -L "$dir$real" ] && return 0
  mkdir -p "$dir$(dirname "$real")"
  cp -a "$real" "$dir$real"
  if [ -L "$real" ]; then
    t=$(readlink "$real")
    case "$t" in /*) ;; *) t="$(dirname "$real")/$t" ;; esac
    copy "$t"
  fi
}
sort -u "$list" | while read -r f; do
  if [ -L "$f" ] || [ -f "$f" ]; then copy "$f"; fi
done
rm -f "$list"
[ -f /etc/ld.so.cache ] && cp /etc/ld.so.cache "$dir/etc/"
# Debian's gcc is a link in the gcc package; make sure `gcc` runs.
[ -e "$dir/usr/bin/gcc" ] || ln -s "$(readlink -f "$(command -v gcc)")" "$dir/usr/bin/gcc"
