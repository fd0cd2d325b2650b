#!/usr/bin/env bash
# A Debian 12 (bookworm) root with Debian's OWN nodejs package (18.x, not this machine's Node),
# qemu-utils and libvirt-clients, where the .deb is installed with apt/dpkg. virtsnap inside talks
# to the HOST's libvirtd: the host's /run/libvirt, the images dir and the lab's work dir are bound
# at the same paths, so qemu-img inside and QEMU outside see the same files.
# Built once, cached in $VIRTSNAP_LAB_DIR/bookworm-node18 (default /srv/virtsnap-lab).
#
#   bookworm-node18.sh up     # build if missing, mount (idempotent)
#   bookworm-node18.sh down   # unmount everything under the root (the files stay: the cache)
#   bookworm-node18.sh run CMD...   # one command inside, clean environment
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root
R=$LAB/bookworm-node18
WORK=$LAB/work   # backups and restores of the tests that use this root, same path inside and out
IMAGES=/var/lib/libvirt/images

up() {
  mkdir -p "$LAB" "$WORK"
  chmod 0755 "$LAB"; chmod 0711 "$WORK"   # host QEMU must reach cbt targets in here
  if [ ! -e "$R/.virtsnap-lab-ready" ]; then
    bootstrap_root bookworm "$R"
    # Debian's own archive only (main, updates, security), never a third-party nodejs
    cat >"$R/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${VIRTSNAP_LAB_SECURITY:-http://deb.debian.org/debian-security} bookworm-security main
SRC
    mountpoint -q "$R/proc" || mount -t proc vslg-proc "$R/proc"
    apt_in_root "$R" nodejs qemu-utils libvirt-clients
    touch "$R/.virtsnap-lab-ready"
  fi
  mountpoint -q "$R/proc" || mount -t proc vslg-proc "$R/proc"
  # a private /run (the lock dir /run/virtsnap is the root's own) with the host's libvirt sockets in it
  mountpoint -q "$R/run" || mount -t tmpfs -o mode=755,size=16m vslg-run "$R/run"
  mkdir -p "$R/run/lock"
  bind_same_path "$R" /run/libvirt
  bind_same_path "$R" "$IMAGES"
  bind_same_path "$R" "$WORK"
}

case "${1:-}" in
  up) up ;;
  down) unmount_all "$R" ;;
  run) shift; exec chroot "$R" "${CE[@]}" "$@" ;;
  *) echo "usage: ${0##*/} up|down|run CMD..." >&2; exit 2 ;;
esac
