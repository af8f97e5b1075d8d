#!/usr/bin/env bash
# Builds the Selective KSM test kernel and prints the path of its bzImage.
#
#   kernel-module/scripts/kernel-build.sh          build (or reuse) the kernel
#   kernel-module/scripts/kernel-build.sh --tree   only apply the series to the
#                                                  git tree and print its path
#
# 1. Extracts Debian's linux-source-6.12 into a git tree (one "pristine"
#    commit) under ~/.cache/selective-ksm/kernel/<source version>/src.
# 2. Resets that tree to pristine and applies kernel-module/patches/*.patch
#    with `git am`; stops if a patch does not apply.
# 3. Configures it with `make tinyconfig` plus the fragments of the flavor
#    (config/*.config), and checks that every option is set as written.
# 4. Builds bzImage and the uapi headers, and caches both under a key made
#    of the source version, the patches and the fragment:
#      ~/.cache/selective-ksm/kernel/bzImage-<key>
#      ~/.cache/selective-ksm/kernel/headers-<key>/include
#
# If the bzImage for the current key exists, it only prints its path. The
# build tree is kept, and files whose content a new series leaves unchanged
# keep their timestamps, so a rebuild after a change in mm/ksm.c is
# incremental. Set SKSM_CACHE to move the cache; SKSM_KERNEL_JOBS to change
# the number of make jobs (default: nproc). SKSM_KERNEL_FLAVOR=debug builds
# the series with KASAN, lockdep and DEBUG_VM (config/debug.config), and
# SKSM_KERNEL_FLAVOR=upstream the pristine source with the same base
# configuration; each in a git worktree of the tree, at
# .../<source version>/build-<flavor>.
set -euo pipefail

KM_TAG=kernel-build
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

tree_only=false
case ${1:-} in
"") ;;
--tree) tree_only=true ;;
*) km_die "usage: $0 [--tree]" ;;
esac

for tool in git make gcc bc bison flex xz sha256sum flock; do
	command -v "$tool" >/dev/null || km_die "missing tool: $tool"
done

mkdir -p "$KERNEL_CACHE"
exec 9>"$KERNEL_CACHE/.build.lock"
if ! flock -n 9; then
	km_say "another kernel build is running; waiting for it"
	flock 9
fi

key=$(km_build_key)
image=$KERNEL_CACHE/bzImage-$key
headers=$KERNEL_CACHE/headers-$key
if ! $tree_only && [ -f "$image" ] && [ -d "$headers/include" ]; then
	km_say "cached kernel for key $key"
	printf '%s\n' "$image"
	exit 0
fi

started=$(date +%s)
version=$(km_source_version)
tree=$(km_tree)
km_say "source $KERNEL_SOURCE_PKG $version, flavor ${KERNEL_FLAVOR:-default}, key $key"

# --- 1. pristine git tree --------------------------------------------------
if [ ! -d "$tree/.git" ]; then
	km_say "extracting $KERNEL_SOURCE_TARBALL into $tree (takes a minute)"
	rm -rf "$tree.tmp"
	mkdir -p "$tree.tmp"
	tar -xJf "$KERNEL_SOURCE_TARBALL" -C "$tree.tmp" --strip-components=1
	km_say "creating the pristine git commit"
	(
		cd "$tree.tmp"
		git init -q -b pristine-base .
		git config user.name "Selective KSM developers"
		git config user.email "dev@selectiveksm.io"
		git config core.abbrev 12
		git add -f -A .
		GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
			git commit -q -m "Debian $KERNEL_SOURCE_PKG $version (pristine)"
		git tag pristine
		git checkout -q -b selective-ksm
	)
	rm -rf "$tree"
	mv "$tree.tmp" "$tree"
fi

cd "$tree"
if [ -d .git/rebase-apply ]; then
	km_say "aborting an unfinished git am in $tree"
	git am --abort
fi
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	git status --short --untracked-files=no >&2
	km_die "uncommitted changes in $tree: commit them and run scripts/export-series.sh, or discard them (git -C $tree checkout -- .)"
fi

# --- 2. apply the series -----------------------------------------------------
old_head=$(git rev-parse HEAD)
declare -A mtimes=()
while IFS= read -r f; do
	[ -e "$f" ] && mtimes[$f]=$(stat -c %.9Y -- "$f")
done < <(git diff --name-only pristine "$old_head")

# Commits made by hand in the tree and not exported stay reachable.
if [ "$old_head" != "$(cat "$tree/../built-head" 2>/dev/null || git rev-parse pristine)" ]; then
	git branch -f previous-head "$old_head"
	km_say "HEAD had commits not made by this script: kept as branch previous-head"
fi
# Files that are the same in $old_head and in commit $1 get their old
# timestamp back, so that make rebuilds only what really changed.
restore_mtimes() {
	local f n=0
	for f in "${!mtimes[@]}"; do
		if [ -e "$f" ] && git diff --quiet "$old_head" "$1" -- "$f"; then
			touch -d "@${mtimes[$f]}" -- "$f"
			n=$((n + 1))
		fi
	done
	[ "$n" -eq 0 ] || km_say "kept timestamps of $n unchanged file(s)"
}

git checkout -q -B selective-ksm "$old_head"
git reset -q --hard pristine
mapfile -t patches < <(km_patch_list)
km_say "applying ${#patches[@]} patch(es) from $KERNEL_PATCHES"
for p in "${patches[@]}"; do
	if ! git am -q "$p" >"$KERNEL_CACHE/git-am.log" 2>&1; then
		cat "$KERNEL_CACHE/git-am.log" >&2
		git am --abort || true
		git reset -q --hard "$old_head"
		restore_mtimes "$old_head"
		km_die "patch $(basename "$p") does not apply to $KERNEL_SOURCE_PKG $version; series aborted, tree left as it was"
	fi
	km_say "  applied $(basename "$p")"
done
new_head=$(git rev-parse HEAD)
printf '%s\n' "$new_head" >"$tree/../built-head"

restore_mtimes "$new_head"
if $tree_only; then
	km_say "the tree has the series applied; edit and commit there, then run scripts/export-series.sh"
	printf '%s\n' "$tree"
	exit 0
fi

# A flavor builds in a worktree of its own, at the series' commit (the
# pristine one for upstream); git checkout only rewrites the files that
# differ, so the build stays incremental.
if [ -n "$KERNEL_FLAVOR" ]; then
	build=$(km_build_dir)
	commit=$new_head
	[ "$KERNEL_FLAVOR" != upstream ] || commit=$(git rev-parse pristine)
	if [ ! -e "$build/.git" ]; then
		km_say "creating the $KERNEL_FLAVOR worktree $build"
		git worktree prune
		git worktree add -q --detach "$build" "$commit"
	fi
	git -C "$build" checkout -q --detach "$commit"
	cd "$build"
fi

# --- 3. configure --------------------------------------------------------------
jobs=${SKSM_KERNEL_JOBS:-$(nproc)}
mk() { make -s ARCH=x86_64 "$@"; }

km_say "configuring: tinyconfig + ${KERNEL_FRAGMENTS[*]##*/}"
mk tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m -O . .config "${KERNEL_FRAGMENTS[@]}" >"$KERNEL_CACHE/merge_config.log" 2>&1 ||
	{ cat "$KERNEL_CACHE/merge_config.log" >&2; km_die "merge_config.sh failed"; }
mk olddefconfig >/dev/null

missing=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		if ! grep -qxF -- "$line" .config; then
			km_say "config option not set as requested: $line (got: $(grep -E "^(# )?${line%%=*}[= ]" .config || echo 'absent'))"
			missing=$((missing + 1))
		fi
		;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }
		sym=${sym%% *}
		if grep -q "^$sym=" .config; then
			km_say "config option should be off: $sym"
			missing=$((missing + 1))
		fi
		;;
	esac
done < <(cat "${KERNEL_FRAGMENTS[@]}")
[ "$missing" -eq 0 ] || km_die "$missing option(s) of the fragments did not end up in .config"
km_say "all options of the fragments are set"

# --- 4. build --------------------------------------------------------------------
km_say "make -j$jobs bzImage (cold: about 5 minutes on 2 idle cores)"
if ! mk -j"$jobs" bzImage >"$KERNEL_CACHE/build.log" 2>&1; then
	grep -E 'error|Error' "$KERNEL_CACHE/build.log" | head -40 >&2 || true
	km_die "kernel build failed; full log: $KERNEL_CACHE/build.log"
fi
if grep -E ': warning:' "$KERNEL_CACHE/build.log" >&2; then
	km_say "the build printed compiler warnings (above)"
fi

km_say "installing uapi headers"
rm -rf "$headers.tmp"
mk headers_install INSTALL_HDR_PATH="$headers.tmp" >/dev/null
rm -rf "$headers"
mv "$headers.tmp" "$headers"

cp arch/x86/boot/bzImage "$image.tmp"
mv "$image.tmp" "$image"
ln -sfn "$(basename "$image")" "$KERNEL_CACHE/bzImage${KERNEL_FLAVOR:+-$KERNEL_FLAVOR}"
km_say "built in $(($(date +%s) - started)) s: $image"
printf '%s\n' "$image"
