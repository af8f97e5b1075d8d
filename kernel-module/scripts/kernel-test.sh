#!/usr/bin/env bash
# Builds the Selective KSM selftests and runs them in the VM.
#
#   kernel-module/scripts/kernel-test.sh [FILTER]
#
# Builds (or reuses) the kernel with scripts/kernel-build.sh, compiles
# selftests/ksm_partition_tests.c statically against the uapi headers of
# that kernel (so include/uapi/linux/ksm.h of our series is used) and the
# kselftest.h of its tree, and also upstream's ksm_functional_tests and
# ksm_tests from the same tree (upstream KSM must behave as before). Runs all
# of them as root in the VM (scripts/vm-run.sh). Output is TAP; exits non-zero if any test
# fails or the kernel log shows a warning. FILTER (optional) runs only the
# partition tests whose name contains it, and skips the upstream tests.
set -euo pipefail

KM_TAG=kernel-test
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

filter=${1:-}
image=$("$KM_DIR/scripts/kernel-build.sh")
key=${image##*/bzImage-}
headers=$KERNEL_CACHE/headers-$key/include
tree=$(km_tree)
[ -d "$headers" ] || km_die "no uapi headers at $headers"

out=$KERNEL_CACHE/selftests-$key
mkdir -p "$out"
cflags=(-static -O2 -g -Wall -Wextra -Werror
	-isystem "$headers" -I "$tree/tools/testing/selftests")

km_say "building ksm_partition_tests"
gcc "${cflags[@]}" -o "$out/ksm_partition_tests" \
	"$KM_DIR/selftests/ksm_partition_tests.c" -lpthread

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

if [ -n "$filter" ]; then
	cmd="cd $(printf '%q' "$out") && ./ksm_partition_tests $(printf '%q' "$filter")"
else
	cmd="cd $(printf '%q' "$out") && rc=0
echo '# Selective KSM: ksm_partition_tests'
./ksm_partition_tests || rc=1
echo '# upstream: ksm_functional_tests'
./ksm_functional_tests || rc=1
# The modes upstream's run_vmtests.sh runs, less timing and NUMA ones
for mode in '-M -p 10' '-U' '-Z -p 10 -z 0' '-Z -p 10 -z 1'; do
	echo \"# upstream: ksm_tests \$mode\"
	./ksm_tests \$mode || rc=1
done
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
