#!/bin/sh
# busybox-rootfs.sh DIR [BUSYBOX]: make a minimal root filesystem in DIR from a static busybox
# (Debian's busybox-static): /bin/busybox, a /bin/<applet> link per applet, /etc/passwd and
# /etc/group with root, nobody and an `app` user (1000:1000, also in group `staff`).
set -eu
dir=${1:?usage: busybox-rootfs.sh DIR [BUSYBOX]}
bb=${2:-/bin/busybox}
[ -x "$bb" ] || { echo "busybox-rootfs.sh: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root" "$dir/home/app"
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
done
cat > "$dir/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > "$dir/etc/group" <<'GR'
root:x:0:
staff:x:50:app
app:x:1000:
nogroup:x:65534:
GR
chown 1000:1000 "$dir/home/app"
