import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

// Certificates for a throwaway control plane, made with the openssl CLI
// (Node can parse X.509 but not issue it). EC P-256 keys: fast to generate.

const run = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export interface KeyPair {
  cert: string;
  key: string;
}

/** Creates ca.crt/ca.key in `dir`. */
export async function createCa(dir: string): Promise<KeyPair> {
  await openssl(
    ['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.crt'].concat(
      ['-subj', '/CN=selective-ksm-test-ca', '-days', '7'],
      ['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ),
    dir,
  );
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

/**
 * Issues `<name>.crt`/`<name>.key` signed by the CA in `dir`. For a client
 * certificate the apiserver reads the user from CN and the groups from O.
 */
export async function issueCertificate(
  dir: string,
  name: string,
  opts: { commonName: string; organizations?: string[]; serverNames?: string[] },
): Promise<KeyPair> {
  const organizations = (opts.organizations ?? []).map((o) => `/O=${o}`).join('');
  const subject = `${organizations}/CN=${opts.commonName}`;
  const ext = opts.serverNames
    ? `subjectAltName=${opts.serverNames.join(',')}\nextendedKeyUsage=serverAuth\n`
    : 'extendedKeyUsage=clientAuth\n';
  await writeFile(join(dir, `${name}.ext`), `${ext}keyUsage=critical,digitalSignature\n`);
  await openssl(
    ['req', '-new', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject],
    dir,
  );
  await openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key'].concat([
      '-CAcreateserial',
      '-days',
      '7',
      '-out',
      `${name}.crt`,
      '-extfile',
      `${name}.ext`,
    ]),
    dir,
  );
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** The key pair the apiserver signs and verifies service account tokens with. */
export async function createServiceAccountKey(dir: string): Promise<KeyPair> {
  await openssl(
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'sa.key'],
    dir,
  );
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return { cert: join(dir, 'sa.pub'), key: join(dir, 'sa.key') };
}

/** PEM file contents, base64-encoded as a kubeconfig embeds them. */
export async function base64File(path: string): Promise<string> {
  return (await readFile(path)).toString('base64');
}
