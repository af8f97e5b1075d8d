import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { kubeRequest } from './http.ts';
import { waitFor } from './process.ts';

/** The generated CRD files, as they ship. */
export const CRD_DIR = join(import.meta.dirname, '..', '..', 'crds', 'manifests');

export async function readCrds(dir = CRD_DIR): Promise<V1CustomResourceDefinition[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(
      async (f) => parse(await readFile(join(dir, f), 'utf8')) as V1CustomResourceDefinition,
    ),
  );
}

/**
 * Server-side applies every CRD, as `kubectl apply --server-side` would, and
 * waits until the apiserver serves each. Raw JSON on purpose: the typed
 * client re-serializes schemas and drops keys such as `default`.
 */
export async function installCrds(kc: KubeConfig, dir = CRD_DIR): Promise<string[]> {
  const names: string[] = [];
  for (const crd of await readCrds(dir)) {
    const name = crd.metadata?.name ?? '';
    const res = await kubeRequest(
      kc,
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=selective-ksm&force=true`,
      {
        method: 'PATCH',
        headers: { 'content-type': 'application/apply-patch+yaml' },
        body: JSON.stringify(crd),
      },
    );
    if (res.status >= 300) throw new Error(`applying CRD ${name}: ${res.status} ${res.body}`);
    names.push(name);
  }
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of names) {
    await waitFor(
      `CRD ${name} to be established`,
      async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        return (crd.status?.conditions ?? []).some(
          (c) => c.type === 'Established' && c.status === 'True',
        );
      },
      30_000,
    );
  }
  return names;
}
