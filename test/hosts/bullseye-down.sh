#!/usr/bin/env bash
# Stops the legacy test host started by bullseye-up.sh: its domains, libvirtd and virtlogd, each
# by pid (a process is the root's iff /proc/PID/root is the root), then unmounts everything under
# the root. Keeps the root's files (the cache). Safe to run when nothing is up.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root
R=$LAB/bullseye
[ -d "$R" ] || exit 0

stop_pid() { # pid what
  local p=$1
  in_root_pid "$R" "$p" || return 0
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 1 50); do in_root_pid "$R" "$p" || return 0; sleep 0.1; done
  log "$2 (pid $p) still alive: SIGKILL"; kill -KILL "$p" 2>/dev/null; sleep 0.2
}
lv=$(cat "$R/run/libvirtd.pid" 2>/dev/null || true)
if in_root_pid "$R" "$lv"; then
  for d in $(chroot "$R" "${CE[@]}" virsh -q list --name 2>/dev/null); do
    chroot "$R" "${CE[@]}" virsh destroy "$d" >/dev/null 2>&1 || true
  done
fi
for f in "$R"/run/libvirt/qemu/*.pid; do
  [ -e "$f" ] && [ "${f##*/}" != driver.pid ] && stop_pid "$(cat "$f")" "qemu ${f##*/}"
done
stop_pid "$lv" libvirtd
stop_pid "$(cat "$R/run/virtlogd.pid" 2>/dev/null || true)" virtlogd
# anything else still running inside (only ever started through these scripts)
for p in $(ls /proc | grep -E '^[0-9]+$'); do
  [ "$p" != "$$" ] && in_root_pid "$R" "$p" && stop_pid "$p" "stray $(cat "/proc/$p/comm" 2>/dev/null)"
done
unmount_all "$R"
