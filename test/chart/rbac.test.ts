import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PolicyRule } from '../../kube/src/rbac.ts';
import { agentClusterRules } from '../../node-agent/src/rbac.ts';
import { operatorClusterRules, operatorLeaseRules } from '../../operator/src/rbac.ts';
import {
  adminConfig,
  type ControlPlaneInfo,
  kubeRequest,
  serviceAccountConfig,
} from '../controlplane/index.ts';
import { find, kubectl, type Manifest, render } from './helm.ts';

// The chart's ServiceAccounts, roles, bindings and admission policy,
// installed for real: each component can do exactly what its rules in
// operator/src/rbac.ts and node-agent/src/rbac.ts say and nothing else, and
// an agent can write only its own node's KsmNode.

const NAMESPACE = 'sksm-chart-rbac';
const RELEASE = 'rbac-test';
const OPERATOR_SA = `${RELEASE}-selective-ksm-operator`;
const AGENT_SA = `${RELEASE}-selective-ksm-agent`;
const LEASE = 'selective-ksm-operator';
const NODE_A = 'chart-rbac-node-a';
const NODE_B = 'chart-rbac-node-b';

let info: ControlPlaneInfo;
let admin: KubeConfig;
let installed: Manifest[] = [];

const ksmnodes = '/apis/selectiveksm.io/v1alpha1/ksmnodes';

async function call(kc: KubeConfig, method: string, path: string, body?: object, type?: string) {
  const r = await kubeRequest(kc, path, {
    method,
    headers: { 'content-type': type ?? 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: JSON.parse(r.body || '{}') as Record<string, unknown> };
}

async function must(kc: KubeConfig, method: string, path: string, body?: object) {
  const r = await call(kc, method, path, body);
  if (r.status >= 300 && r.status !== 409) {
    throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return r;
}

/** Does a SubjectAccessReview, asked as admin, allow the service account this? */
async function allowed(
  sa: string,
  attrs: {
    verb: string;
    group: string;
    resource: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  },
): Promise<boolean> {
  const r = await must(admin, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: `system:serviceaccount:${NAMESPACE}:${sa}`,
      groups: [
        'system:serviceaccounts',
        `system:serviceaccounts:${NAMESPACE}`,
        'system:authenticated',
      ],
      resourceAttributes: attrs,
    },
  });
  return (r.body['status'] as { allowed?: boolean }).allowed === true;
}

/** What the rules grant, computed from the rule lists themselves. */
function grants(
  rules: PolicyRule[],
  a: { verb: string; group: string; resource: string; name?: string },
): boolean {
  return rules.some(
    (r) =>
      r.apiGroups.includes(a.group) &&
      r.resources.includes(a.resource) &&
      r.verbs.includes(a.verb) &&
      (r.resourceNames === undefined || (a.name !== undefined && r.resourceNames.includes(a.name))),
  );
}

const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
/** What either component might touch, and what neither may: group, resource[/subresource]. */
const RESOURCES: [string, string][] = [
  ['selectiveksm.io', 'ksmpartitions'],
  ['selectiveksm.io', 'ksmpartitions/status'],
  ['selectiveksm.io', 'ksmnodes'],
  ['selectiveksm.io', 'ksmnodes/status'],
  ['', 'pods'],
  ['', 'pods/status'],
  ['', 'namespaces'],
  ['', 'nodes'],
  ['', 'events'],
  ['', 'secrets'],
  ['', 'configmaps'],
  ['', 'serviceaccounts/token'],
  ['coordination.k8s.io', 'leases'],
  ['rbac.authorization.k8s.io', 'clusterroles'],
];

/** Every verb on every resource: the SubjectAccessReview answer must equal the rules' answer. */
async function checkMatrix(sa: string, clusterRules: PolicyRule[], namespaceRules: PolicyRule[]) {
  const mismatches: string[] = [];
  for (const [group, full] of RESOURCES) {
    const [resource = '', subresource] = full.split('/');
    for (const verb of VERBS) {
      for (const namespace of [NAMESPACE, 'default']) {
        const rules = namespace === NAMESPACE ? [...clusterRules, ...namespaceRules] : clusterRules;
        for (const name of [undefined, LEASE]) {
          const want = grants(rules, { verb, group, resource: full, ...(name ? { name } : {}) });
          const got = await allowed(sa, {
            verb,
            group,
            resource,
            namespace,
            ...(subresource ? { subresource } : {}),
            ...(name ? { name } : {}),
          });
          if (got !== want) {
            mismatches.push(
              `${verb} ${group}/${full} ns=${namespace} name=${name ?? '*'}: got ${got}`,
            );
          }
        }
      }
    }
  }
  return mismatches;
}

/** A real token of the agent's service account, bound to a pod (so it names the pod's node). */
async function agentToken(pod?: { name: string; uid: string }): Promise<KubeConfig> {
  if (!pod) return serviceAccountConfig(info, NAMESPACE, AGENT_SA);
  const r = await must(
    admin,
    'POST',
    `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${AGENT_SA}/token`,
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: [],
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid },
      },
    },
  );
  const token = (r.body['status'] as { token: string }).token;
  const kc = adminConfig(info);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('admin kubeconfig has no cluster');
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [cluster],
    users: [{ name: AGENT_SA, token }],
    contexts: [{ name: AGENT_SA, cluster: cluster.name, user: AGENT_SA }],
    currentContext: AGENT_SA,
  });
  return out;
}

beforeAll(async () => {
  info = inject('controlPlane');
  admin = adminConfig(info);
  await must(admin, 'POST', '/api/v1/namespaces', { metadata: { name: NAMESPACE } });
  const { docs } = await render({ release: RELEASE, namespace: NAMESPACE });
  const kinds = [
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
  ];
  installed = docs.filter((d) => kinds.includes(d.kind));
  const r = await kubectl(
    info.kubeconfig,
    ['apply', '--server-side', '--field-manager=chart-test', '-f', '-'],
    installed,
  );
  if (r.code !== 0) throw new Error(`installing the chart's RBAC: ${r.stderr}`);
  for (const node of [NODE_A, NODE_B]) {
    await must(admin, 'POST', '/api/v1/nodes', { metadata: { name: node } });
  }
});

afterAll(async () => {
  await kubectl(
    info.kubeconfig,
    ['delete', '--ignore-not-found', '--wait=false', '-f', '-'],
    installed,
  );
  for (const node of [NODE_A, NODE_B]) {
    await call(admin, 'DELETE', `${ksmnodes}/${node}`);
    await call(admin, 'DELETE', `/api/v1/nodes/${node}`);
  }
  await call(admin, 'DELETE', `/api/v1/namespaces/${NAMESPACE}`);
});

describe('chart RBAC, installed', () => {
  it('ships exactly the rules of operator/src/rbac.ts and node-agent/src/rbac.ts', () => {
    const rules = (kind: string, name: string) =>
      (find(installed, kind, name) as Manifest & { rules: PolicyRule[] }).rules;
    expect(rules('ClusterRole', OPERATOR_SA)).toEqual(operatorClusterRules);
    expect(rules('Role', `${OPERATOR_SA}-leader-election`)).toEqual(operatorLeaseRules(LEASE));
    expect(rules('ClusterRole', AGENT_SA)).toEqual(agentClusterRules);
  });

  it('the operator can do exactly what its rules say, and read no Secret', async () => {
    expect(await checkMatrix(OPERATOR_SA, operatorClusterRules, operatorLeaseRules(LEASE))).toEqual(
      [],
    );
    expect(
      await allowed(OPERATOR_SA, {
        verb: 'get',
        group: '',
        resource: 'secrets',
        namespace: NAMESPACE,
      }),
    ).toBe(false);
    // The Lease: its own, in its own namespace only.
    const lease = { verb: 'update', group: 'coordination.k8s.io', resource: 'leases' };
    expect(await allowed(OPERATOR_SA, { ...lease, namespace: NAMESPACE, name: LEASE })).toBe(true);
    expect(await allowed(OPERATOR_SA, { ...lease, namespace: NAMESPACE, name: 'other' })).toBe(
      false,
    );
    expect(await allowed(OPERATOR_SA, { ...lease, namespace: 'kube-system', name: LEASE })).toBe(
      false,
    );
  });

  it('the agent can do exactly what its rules say, and read no Secret', async () => {
    expect(await checkMatrix(AGENT_SA, agentClusterRules, [])).toEqual([]);
    for (const verb of ['get', 'list', 'watch']) {
      expect(await allowed(AGENT_SA, { verb, group: '', resource: 'secrets' })).toBe(false);
    }
  });
});

describe('the admission policy: an agent writes only its own KsmNode', () => {
  let agentA: KubeConfig;

  beforeAll(async () => {
    // The agent's pod on node A, as the DaemonSet would have it: the token
    // the kubelet gives it is bound to the pod, and so names node A.
    const pod = await must(admin, 'POST', `/api/v1/namespaces/${NAMESPACE}/pods`, {
      metadata: { name: 'agent-on-a' },
      spec: {
        nodeName: NODE_A,
        serviceAccountName: AGENT_SA,
        containers: [{ name: 'agent', image: 'registry.invalid/sksm' }],
      },
    });
    const meta = pod.body['metadata'] as { name: string; uid: string };
    agentA = await agentToken(meta);
    // The policy is checked by the apiserver's admission once it has loaded
    // it; wait until it refuses what it must.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await call(agentA, 'POST', ksmnodes, ksmNode(NODE_B));
      if (r.status === 403) break;
      if (r.status < 300) await call(admin, 'DELETE', `${ksmnodes}/${NODE_B}`);
      if (Date.now() > deadline) throw new Error(`the policy never refused: ${r.status}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  });

  const ksmNode = (name: string) => ({
    apiVersion: 'selectiveksm.io/v1alpha1',
    kind: 'KsmNode',
    metadata: { name },
  });
  const status = {
    status: {
      kernel: { selectiveKsm: false, release: '6.12.0' },
      heartbeatTime: '2026-01-01T00:00:00Z',
    },
  };
  const statusPatch = (kc: KubeConfig, node: string) =>
    call(kc, 'PATCH', `${ksmnodes}/${node}/status`, status, 'application/merge-patch+json');

  it("the token carries its pod's node name", async () => {
    const r = await must(agentA, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    const user = (
      r.body['status'] as { userInfo: { username: string; extra?: Record<string, string[]> } }
    ).userInfo;
    expect(user.username).toBe(`system:serviceaccount:${NAMESPACE}:${AGENT_SA}`);
    expect(user.extra?.['authentication.kubernetes.io/node-name']).toEqual([NODE_A]);
  });

  it('creates and patches the KsmNode of its own node', async () => {
    const created = await call(agentA, 'POST', ksmnodes, ksmNode(NODE_A));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const patched = await statusPatch(agentA, NODE_A);
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
  });

  it("is refused another node's KsmNode, with the reason", async () => {
    const created = await call(agentA, 'POST', ksmnodes, ksmNode(NODE_B));
    expect(created.status).toBe(403);
    expect(created.body['message']).toContain(
      `the node agent of node ${NODE_A} may only write the KsmNode ${NODE_A}, not ${NODE_B}`,
    );
    await must(admin, 'POST', ksmnodes, ksmNode(NODE_B));
    const patched = await statusPatch(agentA, NODE_B);
    expect(patched.status).toBe(403);
    expect(patched.body['message']).toContain(`may only write the KsmNode ${NODE_A}`);
    // RBAC, not the policy, refuses what the agent never does.
    const deleted = await call(agentA, 'DELETE', `${ksmnodes}/${NODE_A}`);
    expect(deleted.status).toBe(403);
  });

  it('refuses every KsmNode write with a token bound to no pod (no node name)', async () => {
    const unbound = await agentToken();
    const patched = await statusPatch(unbound, NODE_A);
    expect(patched.status).toBe(403);
    expect(patched.body['message']).toContain("the node agent's token names no node");
  });

  it('leaves other users alone', async () => {
    expect((await statusPatch(admin, NODE_B)).status).toBe(200);
  });
});
