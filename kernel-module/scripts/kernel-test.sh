#!/usr/bin/env bash
# Builds the Selective KSM selftests and runs one suite of them in the VM.
#
#   kernel-module/scripts/kernel-test.sh SUITE [FILTER]
#   kernel-module/scripts/kernel-test.sh --suites
#
# Builds (or reuses) the kernel of the flavor (SKSM_KERNEL_FLAVOR, see
# lib.sh) with scripts/kernel-build.sh and compiles, statically against its
# uapi headers and the kselftest.h of the tree:
#   selftests/ksm_partition_tests.c   one behaviour per test
#   selftests/ksm_partition_stress.c  fuzz, races, a killed large merge
#   (each linked with selftests/ksm_partition_lib.c, their shared helpers)
#   upstream's ksm_functional_tests and ksm_tests, from the same tree
# then boots one VM for the SUITE, as root:
#   partition      ksm_partition_tests
#   stress         ksm_partition_stress
#   upstream       upstream's tests on an idle kernel
#   upstream-held  upstream's tests again while another process keeps a
#                  partition merged, which must come out of it untouched
# The upstream flavor (the unpatched kernel) has the upstream suite only,
# for comparison. --suites prints the flavor's suites. Output is TAP; the
# exit status is non-zero if a test fails, the VM times out or the kernel
# log shows a warning. Each suite has its own VM time limit, at least twice
# what it takes on a busy machine (SKSM_VM_TIMEOUT overrides it).
# FILTER (partition and stress) runs only the tests whose name contains it.
# SKSM_STRESS_ARGS replaces the stress suite's options.
set -euo pipefail

KM_TAG=kernel-test
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$KERNEL_FLAVOR" = upstream ]; then
	suites=(upstream)
else
	suites=(partition stress upstream upstream-held)
fi
if [ "${1:-}" = --suites ]; then
	printf '%s\n' "${suites[@]}"
	exit 0
fi
suite=${1:-}
filter=${2:-}
[[ " ${suites[*]} " == *" $suite "* ]] ||
	km_die "usage: $0 SUITE [FILTER], SUITE one of: ${suites[*]} (flavor ${KERNEL_FLAVOR:-default})"

# Time limits (seconds) and stress budgets per flavor. KASAN and lockdep
# make the debug kernel some ten to twenty times slower under TCG; its
# budgets are what it takes for every code path to run (see
# kernel-module/README.md, "Test budgets"), not what finds races: the
# default kernel's longer runs do that.
if [ "$KERNEL_FLAVOR" = debug ]; then
	declare -A limit=([partition]=600 [stress]=600 [upstream]=600 [upstream-held]=600)
	stress_args=${SKSM_STRESS_ARGS:--i 30000 -s 3 -m 25}
else
	declare -A limit=([partition]=300 [stress]=300 [upstream]=300 [upstream-held]=300)
	stress_args=${SKSM_STRESS_ARGS:-}
fi

image=$("$KM_DIR/scripts/kernel-build.sh")
key=${image##*/bzImage-}
headers=$KERNEL_CACHE/headers-$key/include
tree=$(km_tree)
[ -d "$headers" ] || km_die "no uapi headers at $headers"

out=$KERNEL_CACHE/selftests-$key
mkdir -p "$out"
cflags=(-static -O2 -g -Wall -Wextra -Werror
	-isystem "$headers" -I "$tree/tools/testing/selftests")

build_ours() {
	km_say "building $1"
	gcc "${cflags[@]}" -o "$out/$1" "$KM_DIR/selftests/$1.c" \
		"$KM_DIR/selftests/ksm_partition_lib.c" -lpthread
}

# Upstream's KSM selftests, built from the same tree (as its Makefile does).
build_upstream() {
	local mm=$tree/tools/testing/selftests/mm
	local cc=(gcc -static -O2 -D_GNU_SOURCE= -U_FORTIFY_SOURCE -w
		-I "$tree" -isystem "$headers" -isystem "$tree/tools/include/uapi"
		-I "$tree/tools/testing/selftests")
	km_say "building upstream ksm_functional_tests and ksm_tests"
	"${cc[@]}" -o "$out/ksm_functional_tests" \
		"$mm/ksm_functional_tests.c" "$mm/vm_util.c" "$mm/thp_settings.c" \
		-lrt -lpthread -lm
	[ -f /usr/lib/x86_64-linux-gnu/libnuma.a ] ||
		km_die "missing libnuma.a for upstream ksm_tests (apt-get install libnuma-dev)"
	# (static libnuma makes ld warn about getaddrinfo; harmless here)
	rm -f "$out/ksm_tests"
	"${cc[@]}" -o "$out/ksm_tests" \
		"$mm/ksm_tests.c" "$mm/vm_util.c" "$mm/thp_settings.c" \
		-lrt -lpthread -lm -lnuma 2>&1 | grep -v -e getaddrinfo -e 'affinity_ip' >&2 || true
	[ -x "$out/ksm_tests" ] || km_die "building ksm_tests failed"
}

# The modes upstream's run_vmtests.sh runs, less the timing ones (-H, -P)
# and the NUMA ones (-N: the VM has a single node). They wait for ksmd's
# full scans; a line every 30 s shows that ksmd is progressing, so that a
# time-out tells a slow scan from a stuck one.
upstream_tests="(while sleep 30; do
	echo \"# ksmd: uptime \$(cut -d' ' -f1 /proc/uptime) s, full_scans \$(cat /sys/kernel/mm/ksm/full_scans), pages_scanned \$(cat /sys/kernel/mm/ksm/pages_scanned)\"
done) &
monitor=\$!
echo \"# upstream: ksm_functional_tests\$when\"
./ksm_functional_tests || rc=1
for mode in '-M -p 10' '-U' '-Z -p 10 -z 0' '-Z -p 10 -z 1'; do
	echo \"# upstream: ksm_tests \$mode\$when\"
	./ksm_tests \$mode || rc=1
done
kill \$monitor"

cd_out="cd $(printf '%q' "$out") && rc=0"
filter_arg=
[ -z "$filter" ] || filter_arg=$(printf '%q' "$filter")
case $suite in
partition)
	build_ours ksm_partition_tests
	cmd="$cd_out
echo '# Selective KSM: ksm_partition_tests'
./ksm_partition_tests $filter_arg || rc=1
exit \$rc"
	;;
stress)
	build_ours ksm_partition_stress
	cmd="$cd_out
echo '# Selective KSM: ksm_partition_stress'
./ksm_partition_stress $stress_args $filter_arg || rc=1
exit \$rc"
	;;
upstream)
	build_upstream
	when=' (idle)'
	[ "$KERNEL_FLAVOR" != upstream ] || when=' (unpatched kernel)'
	cmd="$cd_out
when='$when'
$upstream_tests
exit \$rc"
	;;
upstream-held)
	build_ours ksm_partition_tests
	build_upstream
	cmd="$cd_out
./ksm_partition_tests --hold >/tmp/hold.tap 2>&1 &
holder=\$!
i=0
until grep -q 'holding partition' /tmp/hold.tap || [ \$i -ge 600 ]; do
	kill -0 \$holder 2>/dev/null || break
	sleep 0.1
	i=\$((i + 1))
done
when=' (a partition merged meanwhile)'
$upstream_tests
kill -TERM \$holder
wait \$holder || rc=1
echo '# Selective KSM: a partition held across the upstream tests'
cat /tmp/hold.tap
exit \$rc"
	;;
esac

# The partition tests take memory offline: qemu plugs in a DIMM, which the
# guest onlines as ZONE_MOVABLE (blocks that hold only movable pages, and no
# early reservations, as boot memory has under KASAN)
if [ "$suite" = partition ]; then
	export SKSM_VM_MEMORY=2G,slots=1,maxmem=3G
	export SKSM_VM_QEMU_ARGS="-object memory-backend-ram,id=hp0,size=512M -device pc-dimm,id=dimm0,memdev=hp0"
	export SKSM_VM_CMDLINE=memhp_default_state=online_movable
fi

km_say "running the $suite suite in the VM"
started=$(date +%s)
set +e
SKSM_KERNEL=$image SKSM_VM_TIMEOUT=${SKSM_VM_TIMEOUT:-${limit[$suite]}} \
	"$KM_DIR/scripts/vm-run.sh" "$cmd"
rc=$?
set -e
km_say "the $suite suite finished in $(($(date +%s) - started)) s with status $rc"
exit "$rc"
