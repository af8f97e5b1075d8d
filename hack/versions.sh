# Versions and cache locations shared by the Makefile and hack/*.sh.
# shellcheck shell=bash
# shellcheck disable=SC2034

NODE_VERSION=24.21.0
NODE_MIN_MAJOR=24
KUBE_VERSION=1.37.2
ETCD_VERSION=3.7.3
HELM_VERSION=3.22.0

SKSM_CACHE=${SKSM_CACHE:-$HOME/.cache/selective-ksm}
SKSM_TOOLS=$SKSM_CACHE/tools/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION

# What the tests, the VM and the kernel build need from Debian.
APT_PACKAGES=(
	ca-certificates openssl make gcc git python3
	qemu-system-x86 busybox-static cpio
	linux-source-6.12 bc bison flex libelf-dev libssl-dev xz-utils rsync kmod
	libnuma-dev python3-ply python3-git
	prometheus shellcheck
)
