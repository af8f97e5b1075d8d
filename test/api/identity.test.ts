import { CustomObjectsApi, type KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { adminConfig, serviceAccountConfig, userConfig } from '../controlplane/index.ts';

// Tests act as other identities with real credentials, and RBAC decides.

const list = { group: 'selectiveksm.io', version: 'v1alpha1', plural: 'ksmpartitions' };

async function status(kc: KubeConfig): Promise<number> {
  try {
    await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject(list);
    return 200;
  } catch (err) {
    return (err as { code?: number }).code ?? 0;
  }
}

describe('identities for tests', () => {
  let rbac: RbacAuthorizationV1Api;

  beforeAll(async () => {
    rbac = adminConfig(inject('controlPlane')).makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: {
        metadata: { name: 'identity-test-reader' },
        rules: [{ apiGroups: [list.group], resources: [list.plural], verbs: ['list'] }],
      },
    });
  });

  async function bind(name: string, subject: { kind: string; name: string; namespace?: string }) {
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'identity-test-reader',
        },
        subjects: [
          subject.kind === 'ServiceAccount'
            ? subject
            : { ...subject, apiGroup: 'rbac.authorization.k8s.io' },
        ],
      },
    });
  }

  it('a certificate user is denied until RBAC allows it', async () => {
    const kc = await userConfig(inject('controlPlane'), 'alice');
    expect(await status(kc)).toBe(403);
    await bind('alice-reads', { kind: 'User', name: 'alice' });
    await expect.poll(() => status(kc), { timeout: 10_000 }).toBe(200);
  });

  it('a user gets the groups in its certificate', async () => {
    const kc = await userConfig(inject('controlPlane'), 'bob', ['readers']);
    expect(await status(kc)).toBe(403);
    await bind('readers-read', { kind: 'Group', name: 'readers' });
    await expect.poll(() => status(kc), { timeout: 10_000 }).toBe(200);
  });

  it('a service account authenticates with a bound token', async () => {
    const info = inject('controlPlane');
    const kc = await serviceAccountConfig(info, 'default', 'reader');
    expect(await status(kc)).toBe(403);
    await bind('sa-reads', { kind: 'ServiceAccount', name: 'reader', namespace: 'default' });
    await expect.poll(() => status(kc), { timeout: 10_000 }).toBe(200);
  });
});
