#!/usr/bin/env bash
# The legacy test host: a Debian 11 (bullseye) root with its stock libvirt 7.0 + QEMU 5.2 and
# their own virtlogd + libvirtd beside the host's. Built once (cached in $VIRTSNAP_LAB_DIR/bullseye,
# default /srv/virtsnap-lab), then only mounted and started: idempotent, about 1 s when cached.
# Never touches the host's libvirtd, its sockets (/run/libvirt) or domains.
# Safety (see README "Test hosts"): no QEMU mount namespace (setns() would escape the root to the
# host's /dev), every bind a slave, a private /run tmpfs, daemons in an empty network namespace.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root
R=$LAB/bullseye
mkdir -p "$LAB"

fresh=0
if [ ! -e "$R/.virtsnap-lab-ready" ]; then bootstrap_root bullseye "$R"; fresh=1; fi

# Do NOT bind the root onto itself: with "/" not a mount point, a QEMU mount namespace (if ever
# turned on again) fails with EINVAL instead of escaping.
mountpoint -q "$R/proc" || mount -t proc vslg-proc "$R/proc"
bind_same_path "$R" /sys rbind   # includes the cgroup mounts libvirt puts QEMUs in
bind_same_path "$R" /dev rbind   # includes pts, shm
# private /run: the root's libvirt sockets and pid files live here, never in the host's /run
mountpoint -q "$R/run" || mount -t tmpfs -o mode=755,size=64m vslg-run "$R/run"
mkdir -p "$R/run/lock"

if [ "$fresh" = 1 ]; then
  apt_in_root "$R" qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients procps
  # the root's 'default' network must never autostart (it would clash with the host's virbr0)
  rm -f "$R/etc/libvirt/qemu/networks/autostart/default.xml"
  touch "$R/.virtsnap-lab-ready"
fi

# No libatomic1 here, as on a stock Debian 11 host with only libvirt and QEMU: the single
# executable (Node 24's official binary) must not need it. A root cached before this had it: drop it.
if chroot "$R" "${CE[@]}" dpkg -s libatomic1 >/dev/null 2>&1; then
  chroot "$R" "${CE[@]}" dpkg --purge libatomic1 >/dev/null
fi

# libvirt 7.0 fills a QEMU's private /dev from a fork that setns()es into the QEMU's mount
# namespace, which resets its root to the HOST's "/": it would recreate the host's /dev nodes.
Q="$R/etc/libvirt/qemu.conf"
grep -qE '^namespaces = \[ *\]' "$Q" || printf '\n# virtsnap test host: no mount namespace in a root (setns escapes it)\nnamespaces = [ ]\n' >>"$Q"
rm -f "$R/etc/libvirt/qemu/networks/autostart/default.xml"

alive() { local p; p=$(cat "$R/run/$1.pid" 2>/dev/null || true); in_root_pid "$R" "$p" && echo "$p"; }
# each daemon in its own empty network namespace: it can never touch the host's bridges or firewall
alive virtlogd >/dev/null || unshare --net -- chroot "$R" "${CE[@]}" /usr/sbin/virtlogd -d
alive libvirtd >/dev/null || unshare --net -- chroot "$R" "${CE[@]}" /usr/sbin/libvirtd -d
for _ in $(seq 1 100); do
  chroot "$R" "${CE[@]}" virsh -c qemu:///system version >/dev/null 2>&1 && break
  sleep 0.2
done
chroot "$R" "${CE[@]}" virsh -c qemu:///system version >/dev/null 2>&1 ||
  { log "the root's libvirtd did not come up"; exit 1; }
log "up: $R ($(chroot "$R" "${CE[@]}" libvirtd --version), pids virtlogd $(alive virtlogd) libvirtd $(alive libvirtd))"
