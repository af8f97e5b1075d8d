#!/usr/bin/env bash
# End-to-end check on a kind cluster, for machines with Docker (not run in CI
# here, which has no container engine). See README.md.
#
#   test/e2e/kind/run.sh            create, install, check, delete the cluster
#   KEEP=1 test/e2e/kind/run.sh     keep the cluster afterwards
#
# Needs docker, kind, kubectl and helm on PATH.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cluster=${CLUSTER:-selective-ksm-e2e}
image=${IMAGE:-selective-ksm:e2e}
namespace=selective-ksm
kubeconfig=$(mktemp)
export KUBECONFIG=$kubeconfig

say() { printf '[e2e] %s\n' "$*"; }
die() { printf '[e2e] FAILED: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl helm; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done

cleanup() {
	rc=$?
	if [ "$rc" -ne 0 ]; then
		say "diagnostics"
		kubectl -n "$namespace" get pods -o wide || true
		kubectl -n "$namespace" logs -l app.kubernetes.io/component=agent --tail=50 || true
		kubectl -n "$namespace" logs -l app.kubernetes.io/component=operator --tail=50 || true
		kubectl get ksmpartitions,ksmnodes -o yaml || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		say "keeping cluster $cluster (kind delete cluster --name $cluster)"
		kind export kubeconfig --name "$cluster" >/dev/null 2>&1 || true
	else
		kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
	fi
	rm -f "$kubeconfig"
	exit "$rc"
}
trap cleanup EXIT

# ValidatingAdmissionPolicy v1 and node names in service account tokens:
# Kubernetes 1.32 or later. KIND_NODE_IMAGE picks another node image.
say "creating kind cluster $cluster"
kind create cluster --name "$cluster" --config "$here/kind-config.yaml" \
	${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 180s

say "building $image"
docker build -t "$image" "$repo"
kind load docker-image "$image" --name "$cluster"

worker=$(kubectl get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{.items[0].metadata.name}')
[ -n "$worker" ] || die "no worker node"
kubectl label node "$worker" selectiveksm.io/kernel=true --overwrite

say "helm install"
helm install selective-ksm "$repo/charts/selective-ksm" \
	--namespace "$namespace" --create-namespace \
	--set image.repository="${image%:*}" --set image.tag="${image##*:}" \
	--set image.pullPolicy=Never \
	--wait --timeout 5m
kubectl -n "$namespace" rollout status deployment/selective-ksm-operator --timeout=120s
kubectl -n "$namespace" rollout status daemonset/selective-ksm-agent --timeout=120s

say "applying the sample"
kubectl apply -f "$here/sample.yaml"
kubectl apply -f "$repo/crds/samples/tenant-a.yaml"
kubectl -n tenant-a rollout status deployment/web --timeout=180s
kubectl wait --for=condition=Ready ksmpartition/tenant-a-web --timeout=120s

say "waiting for the KsmNode of $worker"
for _ in $(seq 60); do
	kubectl get ksmnode "$worker" >/dev/null 2>&1 && break
	sleep 2
done
kubectl get ksmnode "$worker" >/dev/null || die "the agent on $worker published no KsmNode"

# kind nodes run the host's kernel: its /sys/kernel/mm/ksm/control exists
# only with CONFIG_SELECTIVE_KSM.
reason() {
	kubectl get ksmnode "$worker" -o jsonpath='{.status.conditions[?(@.type=="Merging")].reason}'
}
if docker exec "$worker" test -d /sys/kernel/mm/ksm/control; then
	say "the host kernel has Selective KSM: expecting merges"
	for _ in $(seq 60); do
		[ "$(reason)" = Merging ] && break
		sleep 2
	done
	[ "$(reason)" = Merging ] || die "Merging condition reason is '$(reason)', not Merging"
	pods=$(kubectl get ksmnode "$worker" -o jsonpath='{.status.partitions[?(@.name=="tenant-a-web")].pods}')
	[ "$pods" = 2 ] || die "the KsmNode lists $pods pods of tenant-a-web, not 2"
else
	say "the host kernel has no Selective KSM: expecting the agent to say so"
	for _ in $(seq 60); do
		[ "$(reason)" = KernelUnsupported ] && break
		sleep 2
	done
	[ "$(reason)" = KernelUnsupported ] || die "Merging condition reason is '$(reason)', not KernelUnsupported"
	supported=$(kubectl get ksmnode "$worker" -o jsonpath='{.status.kernel.selectiveKsm}')
	[ "$supported" = false ] || die "status.kernel.selectiveKsm is '$supported'"
fi

kubectl get ksmpartitions
kubectl get ksmnodes
say "passed"
