import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConnection } from './kubeconfig.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const kubeconfig = (user: string) => `apiVersion: v1
kind: Config
current-context: b
contexts:
  - { name: a, context: { cluster: other, user: other } }
  - { name: b, context: { cluster: main, user: me } }
clusters:
  - { name: other, cluster: { server: "https://wrong:1" } }
  - name: main
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority: ca.crt
users:
  - { name: other, user: { token: wrong } }
  - name: me
    user: ${user}
`;

describe('loadConnection', () => {
  it('follows the current context, reading files relative to the kubeconfig', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sksm-kubeconfig-'));
    await writeFile(join(dir, 'ca.crt'), 'CA');
    const file = join(dir, 'config');
    await writeFile(
      file,
      kubeconfig(
        `{ client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key: key.pem }`,
      ),
    );
    await writeFile(join(dir, 'key.pem'), 'KEY');
    const c = loadConnection(file);
    expect(c.server).toBe('https://127.0.0.1:6443');
    expect(c.ca?.toString()).toBe('CA');
    expect(c.cert?.toString()).toBe('CERT');
    expect(c.key?.toString()).toBe('KEY');
    expect(c.token).toBeUndefined();
  });

  it('reads a token file anew for each request', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sksm-kubeconfig-'));
    await writeFile(join(dir, 'ca.crt'), 'CA');
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'one\n');
    const file = join(dir, 'config');
    await writeFile(file, kubeconfig(`{ tokenFile: ${tokenFile} }`));
    const c = loadConnection(file);
    expect(c.token?.()).toBe('one');
    await writeFile(tokenFile, 'two');
    expect(c.token?.()).toBe('two');
  });

  it('says which entry is missing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sksm-kubeconfig-'));
    const file = join(dir, 'config');
    await writeFile(file, kubeconfig('{}').replace('current-context: b', 'current-context: c'));
    expect(() => loadConnection(file)).toThrow(/no context named "c"/);
  });
});
