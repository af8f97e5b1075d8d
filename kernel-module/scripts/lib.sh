# shellcheck shell=bash
# Shared settings of the kernel scripts. Sourced, not run.

KM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SKSM_CACHE=${SKSM_CACHE:-$HOME/.cache/selective-ksm}
KERNEL_CACHE=$SKSM_CACHE/kernel
KERNEL_SOURCE_PKG=${KERNEL_SOURCE_PKG:-linux-source-6.12}
KERNEL_SOURCE_TARBALL=${KERNEL_SOURCE_TARBALL:-/usr/src/$KERNEL_SOURCE_PKG.tar.xz}
# Flavors (SKSM_KERNEL_FLAVOR), each built in a tree of its own so that
# switching between them rebuilds nothing:
#   (empty)   the series, configured as a production kernel would be
#   debug     the series with KASAN, lockdep, DEBUG_VM and friends
#   upstream  the pristine source with the same configuration, no series
KERNEL_FLAVOR=${SKSM_KERNEL_FLAVOR:-}
case $KERNEL_FLAVOR in
"") KERNEL_FRAGMENTS=("$KM_DIR/config/base.config" "$KM_DIR/config/selective-ksm.config") ;;
debug) KERNEL_FRAGMENTS=("$KM_DIR/config/base.config" "$KM_DIR/config/selective-ksm.config"
	"$KM_DIR/config/debug.config") ;;
upstream) KERNEL_FRAGMENTS=("$KM_DIR/config/base.config") ;;
*) printf 'unknown SKSM_KERNEL_FLAVOR %s (known: debug, upstream)\n' "$KERNEL_FLAVOR" >&2; exit 1 ;;
esac
KERNEL_PATCHES=$KM_DIR/patches

km_say() { printf '[%s] %s\n' "$KM_TAG" "$*" >&2; }
km_die() { printf '[%s] error: %s\n' "$KM_TAG" "$*" >&2; exit 1; }

# Version of the Debian source package, e.g. 6.12.117-1~deb12u1.
km_source_version() {
	local v
	[ -r "$KERNEL_SOURCE_TARBALL" ] ||
		km_die "$KERNEL_SOURCE_TARBALL missing: apt-get install $KERNEL_SOURCE_PKG"
	v=$(dpkg-query -W -f='${Version}' "$KERNEL_SOURCE_PKG" 2>/dev/null || true)
	[ -n "$v" ] || v=$(stat -c %s-%Y "$KERNEL_SOURCE_TARBALL")
	printf '%s\n' "$v"
}

# The patches of the series, in order.
km_patch_list() {
	find "$KERNEL_PATCHES" -maxdepth 1 -name '[0-9]*.patch' ! -name '0000-*' | LC_ALL=C sort
}

# Cache key: source version + patches (none for upstream) + fragments.
km_build_key() {
	local p
	{
		printf 'source %s\n' "$(km_source_version)"
		printf 'flavor %s\n' "${KERNEL_FLAVOR:-default}"
		for f in "${KERNEL_FRAGMENTS[@]}"; do
			printf 'fragment %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)"
		done
		[ "$KERNEL_FLAVOR" = upstream ] ||
			while read -r p; do
				[ -n "$p" ] || continue
				printf 'patch %s %s\n' "$(basename "$p")" "$(sha256sum <"$p" | cut -d' ' -f1)"
			done < <(km_patch_list)
	} | sha256sum | cut -c1-16
}

km_tree() { printf '%s/%s/src\n' "$KERNEL_CACHE" "$(km_source_version)"; }

# Where the kernel of the current flavor is built
km_build_dir() {
	if [ -n "$KERNEL_FLAVOR" ]; then
		printf '%s/%s/build-%s\n' "$KERNEL_CACHE" "$(km_source_version)" "$KERNEL_FLAVOR"
	else
		km_tree
	fi
}
