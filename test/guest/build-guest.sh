#!/usr/bin/env bash
# Builds the e2e suite's tiny real Linux guest (test/lab/guest.ts): a Debian kernel plus a
# busybox initramfs that loads the virtio modules, mounts /dev/vda on /data and
# runs qemu-guest-agent on org.qemu.guest_agent.0.  Debian packages only.
# Idempotent: packages are downloaded once; the initramfs (a few seconds) is
# rebuilt only when this script, the kernel version or a package (.deb) changed,
# and replaced atomically.
#
#   build-guest.sh            -> prints the cache dir; kernel/initrd live there
# Called by scripts/setup-lab; the tests call it too when the cache is missing.
# Recipe and pitfalls: README.md "The real-guest lab".
#
# Env: GL_CACHE   (default /var/lib/libvirt/images/virtsnap-guest-lab)
#      GL_KPKG    kernel package (default linux-image-cloud-amd64; linux-image-amd64 also works)
set -euo pipefail
SELF=$(readlink -f "$0")
CACHE=${GL_CACHE:-/var/lib/libvirt/images/virtsnap-guest-lab}
KPKG=${GL_KPKG:-linux-image-cloud-amd64}
mkdir -p "$CACHE/debs"
log() { echo "build-guest: $*" >&2; }

# 1. host tools (installed) ---------------------------------------------------
need=()
for p in cpio kmod e2fsprogs qemu-utils jq libglib2.0-0 libnuma1 libudev1 liburing2; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. guest packages: downloaded and unpacked, NOT installed on the host --------
# (installing a kernel on the host would run initramfs hooks; we only need files)
real_kpkg=$(apt-cache depends "$KPKG" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
[ -n "$real_kpkg" ] || real_kpkg=$KPKG
cd "$CACHE/debs"
for p in "$real_kpkg" busybox-static qemu-guest-agent; do
  ls ./"${p}"_*.deb >/dev/null 2>&1 || { log "apt-get download $p"; apt-get download -q "$p" >/dev/null 2>&1; }
done
X=$CACHE/x
if [ ! -e "$X/.unpacked-$real_kpkg" ]; then
  rm -rf "$X"; mkdir -p "$X"
  for d in ./"${real_kpkg}"_*.deb ./busybox-static_*.deb ./qemu-guest-agent_*.deb; do dpkg-deb -x "$d" "$X"; done
  touch "$X/.unpacked-$real_kpkg"
fi
KVER=$(ls "$X/lib/modules" | head -1)
cp -f "$X/boot/vmlinuz-$KVER" "$CACHE/vmlinuz"
[ -e "$X/lib/modules/$KVER/modules.dep" ] || depmod -b "$X" "$KVER"

# The initrd is rebuilt only when this script, the kernel (its modules go into the initrd: a new
# ABI needs new ones) or a package changed since the last build (tests call it often).
stamp=$({ sha256sum "$SELF"; echo "$KVER"; ls ./*.deb; } | sha256sum | cut -c1-16)
if [ -e "$CACHE/initrd.img" ] && [ "$(cat "$CACHE/.built" 2>/dev/null)" = "$stamp" ]; then
  echo "$CACHE"; exit 0
fi

# 3. initramfs tree ------------------------------------------------------------
R=$(mktemp -d "$CACHE/root.XXXXXX")
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,data,root,lib/modules,usr/sbin,var,etc/qemu}
ln -s ../run "$R/var/run"
cp "$X/bin/busybox" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list-full); do
  [ -e "$R/$a" ] || { mkdir -p "$R/$(dirname "$a")"; ln -s /bin/busybox "$R/$a"; }
done
rm -f "$R/init"; ln -s /bin/busybox "$R/init"          # busybox init reads /etc/inittab
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3

# binaries + their shared libraries (ldd resolved against the host; same Debian release)
copy_elf() {  # SRC DEST_IN_ROOT
  install -D -m 755 "$1" "$R$2"
  ldd "$1" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | while read -r lib; do
    [ -e "$R$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$R$lib"
  done
}
copy_elf "$X/usr/sbin/qemu-ga" /usr/sbin/qemu-ga
copy_elf /sbin/mke2fs /sbin/mke2fs                   # first-boot format of a blank vda
ln -sf mke2fs "$R/sbin/mkfs.ext4"
cp /etc/mke2fs.conf "$R/etc/mke2fs.conf"
cp "$X/etc/qemu/fsfreeze-hook" "$R/etc/qemu/" 2>/dev/null || true
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"

# modules in dependency order (builtins are skipped)
: > "$R/etc/gl-modules"
modprobe -a -d "$X" -S "$KVER" --show-depends virtio_pci virtio_blk virtio_console ext4 2>/dev/null |
  awk '$1=="insmod"{print $2}' | awk '!seen[$0]++' | while read -r ko; do
    b=$(basename "$ko"); cp "$ko" "$R/lib/modules/$b"; echo "$b" >> "$R/etc/gl-modules"
  done
log "modules: $(tr '\n' ' ' < "$R/etc/gl-modules")"

cat > "$R/etc/inittab" <<'EOF'
::sysinit:/etc/rc.sysinit
::respawn:/etc/qga-run
::shutdown:/etc/rc.shutdown
EOF

cat > "$R/etc/rc.sysinit" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/virtio-ports /run /tmp /data
echo "gl-init: sysinit at $(cut -d' ' -f1 /proc/uptime)s"
while read -r m; do insmod /lib/modules/$m || echo "gl-init: insmod $m failed"; done < /etc/gl-modules
echo "gl-init: modules loaded at $(cut -d' ' -f1 /proc/uptime)s"
# no udev: make the /dev/virtio-ports/NAME links ourselves
i=0
while [ $i -lt 100 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ -e "$p/name" ] || continue
    n=$(cat "$p/name"); [ -n "$n" ] && ln -sf "../${p##*/}" "/dev/virtio-ports/$n"
  done
  [ -e /dev/virtio-ports/org.qemu.guest_agent.0 ] && [ -e /dev/vda ] && break
  i=$((i+1)); sleep 0.1
done
echo "gl-init: devices at $(cut -d' ' -f1 /proc/uptime)s"
if [ -b /dev/vda ]; then
  # ext2/3/4 superblock magic 0xEF53 at byte 1080 (busybox-static has no blkid)
  if [ "$(dd if=/dev/vda bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' ')" != 53ef ]; then
    echo "gl-init: /dev/vda blank, mkfs.ext4"; mkfs.ext4 -q -F /dev/vda
  fi
  mount -t ext4 /dev/vda /data && echo "gl-init: /dev/vda mounted on /data"
else
  echo "gl-init: no /dev/vda"
fi
echo "gl-init: ready at $(cut -d' ' -f1 /proc/uptime)s"
EOF

cat > "$R/etc/qga-run" <<'EOF'
#!/bin/sh
p=/dev/virtio-ports/org.qemu.guest_agent.0
while [ ! -e $p ]; do sleep 1; done
echo "gl-init: starting qemu-ga at $(cut -d' ' -f1 /proc/uptime)s"
exec /usr/sbin/qemu-ga -m virtio-serial -p $p -t /run
EOF

cat > "$R/etc/rc.shutdown" <<'EOF'
#!/bin/sh
sync; umount /data 2>/dev/null || mount -o remount,ro /data 2>/dev/null; sync
EOF

# qemu-ga's guest-shutdown runs /sbin/shutdown -h -P +0 (or -r)
rm -f "$R/sbin/shutdown"
cat > "$R/sbin/shutdown" <<'EOF'
#!/bin/sh
sync; umount /data 2>/dev/null || mount -o remount,ro /data 2>/dev/null; sync
case " $* " in *" -r "*) reboot -f ;; *) poweroff -f ;; esac
EOF
chmod 755 "$R"/etc/rc.sysinit "$R"/etc/qga-run "$R"/etc/rc.shutdown "$R"/sbin/shutdown

# 4. pack ------------------------------------------------------------------------
( cd "$R" && find . -print0 | cpio --null -o -H newc --quiet ) | gzip -1 > "$CACHE/initrd.img.new"
mv -f "$CACHE/initrd.img.new" "$CACHE/initrd.img"
chmod 644 "$CACHE/vmlinuz" "$CACHE/initrd.img"
echo "$stamp" > "$CACHE/.built"
log "kernel $KVER: $CACHE/vmlinuz ($(stat -c %s "$CACHE/vmlinuz") B), initrd $(stat -c %s "$CACHE/initrd.img") B"
echo "$CACHE"
