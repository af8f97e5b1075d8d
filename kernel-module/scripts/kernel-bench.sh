#!/usr/bin/env bash
# Builds the Selective KSM benchmark and runs it in the VM.
#
#   kernel-module/scripts/kernel-bench.sh [-p PROCS] [-m MIB] [-d FRACTION]
#                                         [-t SECONDS] [-f FRACTION]
#
# Builds (or reuses) the kernel with scripts/kernel-build.sh (the default,
# production-like flavor unless SKSM_KERNEL_FLAVOR says otherwise), compiles
# bench/ksm_bench.c statically against the uapi headers of that kernel, and
# runs it as root in the VM (scripts/vm-run.sh) with the arguments given
# (ksm_bench -h lists them). It prints a table (floor, partition merges,
# ksmd) and the target ratios; see kernel-module/README.md. The exit status
# is the benchmark's: 0 when it completed, whatever targets it missed.
#
# Environment (besides vm-run.sh's):
#   SKSM_VM_MEMORY       default: twice the workload + 1 GiB, at least 3G
#   SKSM_VM_TIMEOUT      default: twice the ksmd timeout (-t) + 1800 s
set -euo pipefail

KM_TAG=kernel-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# The sizes, only to size the VM (ksm_bench checks its arguments itself)
procs=8 mib=64 ksmd_timeout=600
while getopts ':p:m:d:t:f:h' opt; do
	case $opt in
	p) procs=$OPTARG ;;
	m) mib=$OPTARG ;;
	t) ksmd_timeout=${OPTARG%%.*} ;;
	*) ;;
	esac
done
[[ $procs =~ ^[0-9]{1,4}$ ]] || procs=8
[[ $mib =~ ^[0-9]{1,7}$ ]] || mib=64
[[ $ksmd_timeout =~ ^[0-9]{1,7}$ ]] || ksmd_timeout=600

[ "$KERNEL_FLAVOR" != upstream ] || km_die "the upstream flavor has no partitions to measure"
image=$("$KM_DIR/scripts/kernel-build.sh")
key=${image##*/bzImage-}
headers=$KERNEL_CACHE/headers-$key/include

# The VM has a /tmp of its own: the binary must live elsewhere.
out=$KERNEL_CACHE/bench-$key
case $out in
/tmp/*) km_die "$out is under /tmp, which the VM does not see: set SKSM_CACHE elsewhere" ;;
esac
mkdir -p "$out"
km_say "building ksm_bench"
gcc -static -O2 -Wall -Wextra -Werror -isystem "$headers" \
	-o "$out/ksm_bench" "$KM_DIR/bench/ksm_bench.c"

memory_mib=$((2 * procs * mib + 1024))
[ "$memory_mib" -ge 3072 ] || memory_mib=3072
memory=${SKSM_VM_MEMORY:-${memory_mib}M}
vm_timeout=${SKSM_VM_TIMEOUT:-$((2 * ksmd_timeout + 1800))}

km_say "running ksm_bench $* in the VM ($memory, timeout ${vm_timeout}s)"
started=$(date +%s)
set +e
SKSM_KERNEL=$image SKSM_VM_MEMORY=$memory SKSM_VM_TIMEOUT=$vm_timeout \
	"$KM_DIR/scripts/vm-run.sh" "$(printf '%q ' "$out/ksm_bench" "$@")"
rc=$?
set -e
km_say "benchmark finished in $(($(date +%s) - started)) s with status $rc"
exit "$rc"
