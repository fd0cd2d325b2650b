# Shared by the test-host scripts (sourced, not run). Roots are cached under $VIRTSNAP_LAB_DIR
# (default /srv/virtsnap-lab): built once per machine, reused by every later run.
# shellcheck shell=bash

LAB=${VIRTSNAP_LAB_DIR:-/srv/virtsnap-lab}
# Debian's mirror as this machine's apt has it (deb822 or one-line sources).
MIRROR=${VIRTSNAP_LAB_MIRROR:-$(awk '/^URIs:/{print $2; exit} /^deb /{print $2; exit}' \
  /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# A clean environment inside a root: no host PATH (no host node), C locale.
CE=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C TERM=dumb)

log() { echo "[${0##*/}] $*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || { echo "${0##*/}: run as root" >&2; exit 1; }; }

# A process belongs to root $1 iff /proc/PID/root points at it.
in_root_pid() { [ -n "${2:-}" ] && [ -d "/proc/$2" ] && [ "$(readlink "/proc/$2/root" 2>/dev/null)" = "$1" ]; }

# debootstrap SUITE into ROOT once; a half-made root (no apt-get) is made again. Prints seconds.
bootstrap_root() { # suite root
  local suite=$1 r=$2 t0
  [ -x "$r/usr/bin/apt-get" ] && [ -e "$r/.virtsnap-lab-bootstrapped" ] && return 0
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  unmount_all "$r" || return 1
  [ -d "$r" ] && rm -rf --one-file-system "$r"
  mkdir -p "$r"
  log "debootstrap --variant=minbase $suite $r ($MIRROR)"
  t0=$(date +%s)
  debootstrap --variant=minbase "$suite" "$r" "$MIRROR" >"$LAB/$suite-debootstrap.log" 2>&1 ||
    { tail -20 "$LAB/$suite-debootstrap.log" >&2; return 1; }
  # no daemon starts from a package's postinst (there is no init in a root)
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod +x "$r/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
  touch "$r/.virtsnap-lab-bootstrapped"
  log "debootstrap $suite took $(( $(date +%s) - t0 )) s"
}

# apt-get install PKGS... inside ROOT (needs /proc mounted by the caller).
apt_in_root() { # root pkgs...
  local r=$1 t0; shift
  t0=$(date +%s)
  log "apt-get install $* (in $r)"
  chroot "$r" "${CE[@]}" DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends $* && apt-get clean" \
    >"$LAB/${r##*/}-apt.log" 2>&1 || { tail -20 "$LAB/${r##*/}-apt.log" >&2; return 1; }
  log "packages took $(( $(date +%s) - t0 )) s"
}

# Every mount under ROOT, deepest first.
mounts_under() { findmnt -rn -o TARGET | { grep -E "^$1(/|$)" || true; } | sort -ru; }

# Unmount everything under ROOT (all binds are slaves: nothing propagates back to the host).
unmount_all() { # root
  local m left
  # twice: a mount stacked on the same path (seen with /dev/shm) needs a second pass
  for _ in 1 2; do
    for m in $(mounts_under "$1"); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
  left=$(mounts_under "$1")
  [ -z "$left" ] || { log "still mounted under $1:"; echo "$left" >&2; return 1; }
}

# Bind SRC at the same path inside ROOT, as a slave (an umount inside never reaches the host).
bind_same_path() { # root src [rbind]
  local r=$1 p=$2
  mkdir -p "$r$p"
  mountpoint -q "$r$p" && return 0
  if [ "${3:-}" = rbind ]; then mount --rbind "$p" "$r$p"; mount --make-rslave "$r$p"
  else mount --bind "$p" "$r$p"; mount --make-slave "$r$p"; fi
}
