#!/usr/bin/env bash
# Regenerates kernel-module/patches/ from the cached kernel git tree.
#
#   kernel-module/scripts/export-series.sh
#
# The tree is ~/.cache/selective-ksm/kernel/<source version>/src (made by
# scripts/kernel-build.sh). Edit it there, commit (git commit --amend,
# git rebase -i pristine, ...; new files need `git add -f`, because Debian's
# top-level .gitignore ignores everything), then run this script. It
# replaces patches/*.patch with `git format-patch --cover-letter` output of
# pristine..HEAD; the cover letter's subject and text come from
# kernel-module/series-cover.txt (first paragraph = subject). It then runs
# the tree's scripts/checkpatch.pl --strict on the series and fails if
# checkpatch reports anything.
set -euo pipefail

KM_TAG=export-series
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

tree=$(km_tree)
[ -d "$tree/.git" ] || km_die "no kernel tree at $tree: run scripts/kernel-build.sh first"
cd "$tree"
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
	km_die "uncommitted changes in $tree: commit them first"
count=$(git rev-list --count pristine..HEAD)
[ "$count" -gt 0 ] || km_die "no commits on top of pristine in $tree"

branch=$(git symbolic-ref --short HEAD)
git config "branch.$branch.description" "$(cat "$KM_DIR/series-cover.txt")"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
git format-patch -q --cover-letter --cover-from-description=subject \
	--zero-commit --no-signature --base=pristine -o "$out" pristine..HEAD

rm -f "$KERNEL_PATCHES"/*.patch
cp "$out"/*.patch "$KERNEL_PATCHES"/
km_say "wrote $((count + 1)) files to $KERNEL_PATCHES:"
ls "$KERNEL_PATCHES" >&2

# Debian's python3 has ply for spdxcheck.py; prefer it over other pythons.
km_say "checkpatch --strict"
if ! PATH=/usr/bin:$PATH ./scripts/checkpatch.pl --strict --quiet \
	"$KERNEL_PATCHES"/0*.patch >&2; then
	km_die "checkpatch found problems (above)"
fi
km_say "checkpatch: clean"
