// `make build`: the production layout in dist/. tsc compiles every
// package's src/ to JavaScript; each package gets its package.json with
// exports and bins pointing at the .js files, and dist/node_modules links
// the packages to each other, as an installed application has them.
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const packages = ['crds', 'kube', 'operator', 'node-agent'];

const toJs = (value: unknown): unknown =>
  typeof value === 'string'
    ? value.replace(/\.ts$/, '.js')
    : value && typeof value === 'object'
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJs(v)]))
      : value;

await rm(dist, { recursive: true, force: true });
execFileSync('npx', ['tsc', '-p', join(root, 'tsconfig.build.json')], {
  cwd: root,
  stdio: 'inherit',
});
await mkdir(join(dist, 'node_modules', '@selective-ksm'), { recursive: true });
for (const name of packages) {
  const pkg = JSON.parse(await readFile(join(root, name, 'package.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  pkg['exports'] = toJs(pkg['exports']);
  if (pkg['bin']) pkg['bin'] = toJs(pkg['bin']);
  await writeFile(join(dist, name, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  await symlink(join('..', '..', name), join(dist, 'node_modules', '@selective-ksm', name));
}
console.log(`built ${packages.join(', ')} into ${dist}`);
