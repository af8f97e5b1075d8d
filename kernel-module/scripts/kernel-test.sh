#!/usr/bin/env bash
# Builds the Selective KSM selftests and runs them in the VM.
#
#   kernel-module/scripts/kernel-test.sh [FILTER]
#
# Builds (or reuses) the kernel of the flavor (SKSM_KERNEL_FLAVOR, see
# lib.sh) with scripts/kernel-build.sh and compiles, statically against its
# uapi headers and the kselftest.h of the tree:
#   selftests/ksm_partition_tests.c   one behaviour per test
#   selftests/ksm_partition_stress.c  fuzz, races, a killed large merge
#   (each linked with selftests/ksm_partition_lib.c, their shared helpers)
#   upstream's ksm_functional_tests and ksm_tests, from the same tree
# and runs them as root in the VM (scripts/vm-run.sh): ours, then
# upstream's twice, idle and while another process keeps a partition
# merged (which must come out of it untouched). The upstream flavor (the
# unpatched kernel) runs upstream's tests only, for comparison. Output is
# TAP; exits non-zero if any test fails or the kernel log shows a warning.
# FILTER (optional) runs only the partition tests whose name contains it.
# SKSM_STRESS_ARGS passes options to ksm_partition_stress.
set -euo pipefail

KM_TAG=kernel-test
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

filter=${1:-}
# KASAN and lockdep make the debug kernel some ten times slower: its large
# range is a quarter of the VM's memory instead of 60%
stress_args=${SKSM_STRESS_ARGS:-}
[ "$KERNEL_FLAVOR" != debug ] || stress_args=${SKSM_STRESS_ARGS:--m 25}
image=$("$KM_DIR/scripts/kernel-build.sh")
key=${image##*/bzImage-}
headers=$KERNEL_CACHE/headers-$key/include
tree=$(km_tree)
[ -d "$headers" ] || km_die "no uapi headers at $headers"

out=$KERNEL_CACHE/selftests-$key
mkdir -p "$out"
cflags=(-static -O2 -g -Wall -Wextra -Werror
	-isystem "$headers" -I "$tree/tools/testing/selftests")

if [ "$KERNEL_FLAVOR" != upstream ]; then
	km_say "building ksm_partition_tests and ksm_partition_stress"
	gcc "${cflags[@]}" -o "$out/ksm_partition_tests" \
		"$KM_DIR/selftests/ksm_partition_tests.c" \
		"$KM_DIR/selftests/ksm_partition_lib.c" -lpthread
	gcc "${cflags[@]}" -o "$out/ksm_partition_stress" \
		"$KM_DIR/selftests/ksm_partition_stress.c" \
		"$KM_DIR/selftests/ksm_partition_lib.c" -lpthread
fi

# Upstream's KSM selftests, built from the same tree (as its Makefile does).
mm=$tree/tools/testing/selftests/mm
upstream_cc=(gcc -static -O2 -D_GNU_SOURCE= -U_FORTIFY_SOURCE -w
	-I "$tree" -isystem "$headers" -isystem "$tree/tools/include/uapi"
	-I "$tree/tools/testing/selftests")
km_say "building upstream ksm_functional_tests and ksm_tests"
"${upstream_cc[@]}" -o "$out/ksm_functional_tests" \
	"$mm/ksm_functional_tests.c" "$mm/vm_util.c" "$mm/thp_settings.c" \
	-lrt -lpthread -lm
[ -f /usr/lib/x86_64-linux-gnu/libnuma.a ] ||
	km_die "missing libnuma.a for upstream ksm_tests (apt-get install libnuma-dev)"
# (static libnuma makes ld warn about getaddrinfo; harmless here)
rm -f "$out/ksm_tests"
"${upstream_cc[@]}" -o "$out/ksm_tests" \
	"$mm/ksm_tests.c" "$mm/vm_util.c" "$mm/thp_settings.c" \
	-lrt -lpthread -lm -lnuma 2>&1 | grep -v -e getaddrinfo -e 'affinity_ip' >&2 || true
[ -x "$out/ksm_tests" ] || km_die "building ksm_tests failed"

# The modes upstream's run_vmtests.sh runs, less the timing ones (-H, -P)
# and the NUMA ones (-N: the VM has a single node)
upstream_tests="echo \"# upstream: ksm_functional_tests\$when\"
./ksm_functional_tests || rc=1
for mode in '-M -p 10' '-U' '-Z -p 10 -z 0' '-Z -p 10 -z 1'; do
	echo \"# upstream: ksm_tests \$mode\$when\"
	./ksm_tests \$mode || rc=1
done"

cd_out="cd $(printf '%q' "$out") && rc=0"
if [ -n "$filter" ]; then
	cmd="cd $(printf '%q' "$out") && ./ksm_partition_tests $(printf '%q' "$filter")"
elif [ "$KERNEL_FLAVOR" = upstream ]; then
	cmd="$cd_out
when=' (unpatched kernel)'
$upstream_tests
exit \$rc"
else
	cmd="$cd_out
echo '# Selective KSM: ksm_partition_tests'
./ksm_partition_tests || rc=1
echo '# Selective KSM: ksm_partition_stress'
./ksm_partition_stress $stress_args || rc=1
when=' (idle)'
$upstream_tests
# Again while a partition keeps pages merged: same results, partition intact
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
fi

km_say "running in the VM"
started=$(date +%s)
set +e
SKSM_KERNEL=$image "$KM_DIR/scripts/vm-run.sh" "$cmd"
rc=$?
set -e
km_say "tests finished in $(($(date +%s) - started)) s with status $rc"
exit "$rc"
