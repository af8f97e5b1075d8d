#!/usr/bin/env bash
# Runs a command as root inside a qemu VM booted on the Selective KSM kernel.
#
#   kernel-module/scripts/vm-run.sh CMD [ARG...]
#
# One argument is a shell command line (run by bash -c); several are one
# command and its arguments. The VM sees the host's root file system
# read-only over 9p, chroots into it (so the repository is at the same path,
# even under /tmp), with fresh writable tmpfs on /tmp, /run and /dev/shm, and
# runs CMD in the current directory. The exit status is CMD's, except that this script fails
# when the VM times out or its kernel log shows a BUG, WARNING, Oops, KASAN,
# lockdep report, panic, or a KSM partition's warning (OOM reports excepted).
#
# Environment:
#   SKSM_VM_TIMEOUT   seconds before the VM is killed (default 600)
#   SKSM_VM_MEMORY    guest memory (default 2G)
#   SKSM_VM_CPUS      guest CPUs (default 2)
#   SKSM_VM_NET       "user" adds a virtio-net device on qemu user networking
#                     with restrict=on (nothing leaves the host); default none
#   SKSM_VM_QEMU_ARGS extra qemu arguments (split on spaces)
#   SKSM_VM_CMDLINE   extra kernel parameters
#   SKSM_VM_LOG       where to keep the console log (default: a temp file,
#                     removed on success)
#   SKSM_KERNEL       bzImage to boot (default: build or reuse the cached one)
set -euo pipefail

KM_TAG=vm-run
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || km_die "usage: $0 CMD [ARG...]"
command -v qemu-system-x86_64 >/dev/null || km_die "missing qemu-system-x86_64 (apt-get install qemu-system-x86)"

timeout_s=${SKSM_VM_TIMEOUT:-600}
memory=${SKSM_VM_MEMORY:-2G}
cpus=${SKSM_VM_CPUS:-2}

image=${SKSM_KERNEL:-}
if [ -z "$image" ]; then
	image=$("$KM_DIR/scripts/kernel-build.sh")
fi
[ -f "$image" ] || km_die "no kernel image at $image"

# --- initramfs: busybox-static and /init, cached -------------------------------
# busybox-static installs /bin/busybox; the dynamic busybox package does too,
# so check that it needs no program interpreter.
busybox=/bin/busybox
if [ ! -x "$busybox" ] ||
	LC_ALL=C readelf -l "$busybox" | grep -q 'program interpreter'; then
	km_die "need a static $busybox (apt-get install busybox-static)"
fi

init_script=$(cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "vm-init: $*"; echo "@@SKSM-VM-EXIT-STATUS=125@@"; reboot -f; }
H=/mnt/host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro hostroot $H ||
	fail "cannot mount the host root over 9p"
mount -t proc proc $H/proc || fail "mount proc"
mount -t sysfs sysfs $H/sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs $H/dev || fail "mount devtmpfs"
mkdir -p $H/dev/pts $H/dev/shm
mount -t devpts devpts $H/dev/pts || true
mount -t tmpfs -o mode=1777 shm $H/dev/shm || fail "mount /dev/shm"
# The guest gets its own /tmp; folders of the host's /tmp it must still see
# (the repository, the current directory, the cache with the built tests,
# when they live there) are bound back at the same paths.
mkdir -p /mnt/hosttmp
mount --bind $H/tmp /mnt/hosttmp || fail "bind the host's /tmp"
mount -t tmpfs -o mode=1777 tmp $H/tmp || fail "mount /tmp"
for keep in $(cat /vm-keep 2>/dev/null); do
	case $keep in
	/tmp/?*)
		mkdir -p "$H$keep" &&
			mount --bind "/mnt/hosttmp${keep#/tmp}" "$H$keep" ||
			fail "bind $keep"
		;;
	esac
done
mount -t tmpfs -o mode=0755 run $H/run || true
mount -t cgroup2 cgroup2 $H/sys/fs/cgroup 2>/dev/null || true
# Swap on a compressed RAM disk (CONFIG_ZRAM), so that reclaim can swap
if [ -w /sys/block/zram0/disksize ]; then
	echo 1G >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null &&
		swapon /dev/zram0 || fail "cannot turn on swap on /dev/zram0"
fi
cp /vm-cmd.sh $H/tmp/.vm-cmd.sh
echo "@@SKSM-VM-START@@"
chroot $H /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	/bin/bash /tmp/.vm-cmd.sh </dev/null
rc=$?
echo "@@SKSM-VM-EXIT-STATUS=$rc@@"
reboot -f
INIT
)
rd_key=$( { printf '%s\n' "$init_script"; sha256sum <"$busybox"; } | sha256sum | cut -c1-16)
rd_base=$KERNEL_CACHE/initramfs-$rd_key.cpio.gz
if [ ! -f "$rd_base" ]; then
	km_say "building the busybox initramfs"
	mkdir -p "$KERNEL_CACHE"
	work=$(mktemp -d)
	mkdir -p "$work"/{bin,dev,proc,sys,mnt/host}
	cp "$busybox" "$work/bin/busybox"
	printf '%s\n' "$init_script" >"$work/init"
	chmod 0755 "$work/init"
	mknod -m 600 "$work/dev/console" c 5 1
	mknod -m 666 "$work/dev/null" c 1 3
	(cd "$work" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -9) >"$rd_base.tmp"
	mv "$rd_base.tmp" "$rd_base"
	rm -rf "$work"
fi

# --- per-run part: the command, appended as a second cpio archive ---------------
case $PWD/ in
/tmp/*) km_say "warning: the VM has its own /tmp; $PWD is not visible there, running in /" ;;
esac
run_dir=$(mktemp -d)
trap 'rm -rf "$run_dir"' EXIT
{
	printf 'set -e\n'
	printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
	printf 'set +e\n'
	if [ $# -eq 1 ]; then
		printf 'bash -c %q\n' "$1"
	else
		printf '%q ' "$@"
		printf '\n'
	fi
} >"$run_dir/vm-cmd.sh"
printf '%s\n' "$(cd "$KM_DIR/.." && pwd)" "$PWD" "$SKSM_CACHE" >"$run_dir/vm-keep"
(cd "$run_dir" && printf '%s\n' vm-cmd.sh vm-keep | cpio --quiet -o -H newc -R 0:0 | gzip) >"$run_dir/cmd.cpio.gz"
cat "$rd_base" "$run_dir/cmd.cpio.gz" >"$run_dir/initramfs.cpio.gz"

net=(-nic none)
if [ "${SKSM_VM_NET:-}" = user ]; then
	# shellcheck disable=SC2054 # commas separate qemu sub-options
	net=(-netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0)
fi
# shellcheck disable=SC2206
extra=(${SKSM_VM_QEMU_ARGS:-})

log=${SKSM_VM_LOG:-$run_dir/console.log}
km_say "booting $(basename "$image") (TCG, $cpus CPUs, $memory, timeout ${timeout_s}s)"
started=$(date +%s)
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "$cpus" -m "$memory" \
	-nographic -no-reboot -monitor none -serial stdio \
	-kernel "$image" -initrd "$run_dir/initramfs.cpio.gz" \
	-append "console=ttyS0 loglevel=5 printk.time=1 panic=-1 rdinit=/init ${SKSM_VM_CMDLINE:-}" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	"${net[@]}" "${extra[@]}" </dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - started))

status=$(sed -n 's/^.*@@SKSM-VM-EXIT-STATUS=\([0-9]*\)@@.*$/\1/p' "$log" | tail -1)
# Kernel lines carry a [seconds.micros] stamp; the command's output does not.
# An OOM report is no kernel problem (tests run memcgs into their limit on
# purpose): its stack dump, from "invoked oom-killer:" to the line that says
# what it did, is not checked. A KSM partition that cannot be freed is.
bad=$(awk '/\] .* invoked oom-killer:/ { oom = 1 }
	!oom { print }
	/\] (Out of memory and no killable processes|oom-kill:constraint=|Memory cgroup out of memory: Killed)/ { oom = 0 }' "$log" |
	grep -E '^\[ *[0-9]+\.[0-9]+\] .*(BUG:|WARNING:|Oops|KASAN|UBSAN|lockdep|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|Kernel panic|general protection fault|Call Trace:|blocked for more than|ksm: partition)' || true)

rc=0
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
	km_say "FAIL: the VM timed out after ${timeout_s}s"
	rc=124
elif [ -z "$status" ]; then
	km_say "FAIL: the VM stopped without reporting the command's status (qemu exit $qemu_rc)"
	rc=125
else
	rc=$status
fi
if [ -n "$bad" ]; then
	km_say "FAIL: the kernel log reports problems:"
	printf '%s\n' "$bad" >&2
	[ "$rc" -ne 0 ] || rc=126
fi
if [ "$rc" -ne 0 ] && [ -z "${SKSM_VM_LOG:-}" ]; then
	cp "$log" "$KERNEL_CACHE/last-vm-console.log"
	km_say "console log kept in $KERNEL_CACHE/last-vm-console.log"
fi
km_say "done in ${elapsed}s, exit status $rc"
exit "$rc"
