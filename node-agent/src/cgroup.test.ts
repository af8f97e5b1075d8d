import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FixtureHost, sampleMaps, writeHost } from '../../test/fixtures/host.ts';
import {
  type CgroupDriver,
  CgroupLocator,
  kubeletCgroupPath,
  normalizeCgroupPath,
  parseContainerId,
  type QosClass,
  type Runtime,
  sameCgroup,
  unifiedCgroup,
} from './cgroup.ts';

const id = 'a'.repeat(64);
const uid = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';

describe('parseContainerId', () => {
  it('reads containerd and CRI-O IDs', () => {
    expect(parseContainerId(`containerd://${id}`)).toEqual({ runtime: 'containerd', id });
    expect(parseContainerId(`cri-o://${id}`)).toEqual({ runtime: 'cri-o', id });
  });

  it('refuses other runtimes and malformed IDs', () => {
    expect(parseContainerId(`docker://${id}`)).toBeUndefined();
    expect(parseContainerId('containerd://abc')).toBeUndefined();
    expect(parseContainerId(undefined)).toBeUndefined();
  });
});

describe('kubeletCgroupPath', () => {
  const c = { runtime: 'containerd' as const, id };
  it('systemd driver, burstable, containerd', () => {
    expect(
      kubeletCgroupPath({ driver: 'systemd', qos: 'Burstable', podUid: uid, container: c }),
    ).toBe(
      `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice/cri-containerd-${id}.scope`,
    );
  });

  it('systemd driver, guaranteed, CRI-O', () => {
    expect(
      kubeletCgroupPath({
        driver: 'systemd',
        qos: 'Guaranteed',
        podUid: uid,
        container: { runtime: 'cri-o', id },
      }),
    ).toBe(
      `kubepods.slice/kubepods-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice/crio-${id}.scope`,
    );
  });

  it('cgroupfs driver, best effort, containerd', () => {
    expect(
      kubeletCgroupPath({ driver: 'cgroupfs', qos: 'BestEffort', podUid: uid, container: c }),
    ).toBe(`kubepods/besteffort/pod${uid}/${id}`);
  });

  it('a custom root, as kind sets it', () => {
    expect(
      kubeletCgroupPath({
        driver: 'systemd',
        qos: 'BestEffort',
        podUid: uid,
        container: c,
        parent: 'kubelet.slice/kubelet-kubepods.slice',
      }),
    ).toBe(
      `kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice/cri-containerd-${id}.scope`,
    );
  });
});

describe('cgroup paths seen from a private cgroup namespace', () => {
  const abs = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice/cri-containerd-${id}.scope`;
  it('drops the leading /.. steps', () => {
    expect(normalizeCgroupPath(`/../../../kubepods-burstable.slice/x`)).toBe(
      'kubepods-burstable.slice/x',
    );
    expect(normalizeCgroupPath(`/${abs}`)).toBe(abs);
  });

  it('matches the absolute path either way, and nothing else', () => {
    expect(sameCgroup(abs, `/${abs}`)).toBe(true);
    expect(
      sameCgroup(
        abs,
        `/../../../kubepods-burstable.slice/kubepods-burstable-podx.slice/cri-containerd-${id}.scope`,
      ),
    ).toBe(true);
    expect(
      sameCgroup(
        abs,
        '/../../../kubepods-burstable.slice/kubepods-burstable-podx.slice/other.scope',
      ),
    ).toBe(false);
    expect(sameCgroup(abs, '/')).toBe(false);
  });

  it('reads the unified line of /proc/PID/cgroup', () => {
    expect(unifiedCgroup('12:memory:/x\n0::/kubepods.slice/a\n')).toBe('/kubepods.slice/a');
    expect(unifiedCgroup('12:memory:/x\n')).toBeUndefined();
  });
});

describe('CgroupLocator on kubelet layouts', () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  const layouts: [CgroupDriver, Runtime, QosClass, string | undefined][] = [];
  for (const driver of ['systemd', 'cgroupfs'] as const) {
    for (const runtime of ['containerd', 'cri-o'] as const) {
      for (const qos of ['Guaranteed', 'Burstable', 'BestEffort'] as const) {
        layouts.push([driver, runtime, qos, undefined]);
      }
    }
  }
  layouts.push(['systemd', 'containerd', 'Burstable', 'kubelet.slice/kubelet-kubepods.slice']);

  for (const [driver, runtime, qos, parent] of layouts) {
    it(`finds a ${runtime} container of a ${qos} pod with the ${driver} driver${parent ? ` under ${parent}` : ''}`, async () => {
      root = await mkdtemp(join(tmpdir(), 'sksm-cgroup-'));
      const other = {
        ref: { runtime, id: 'b'.repeat(64) },
        processes: [{ pid: 300, maps: sampleMaps() }],
      };
      const host: FixtureHost = {
        driver,
        ...(parent ? { parent } : {}),
        pods: [
          {
            uid,
            qos,
            containers: [
              {
                ref: { runtime, id },
                processes: [
                  { pid: 100, maps: '' },
                  { pid: 101, maps: '' },
                ],
              },
            ],
          },
          { uid: 'ffffffff-0000-0000-0000-000000000000', qos, containers: [other] },
        ],
      };
      const cgroups = await writeHost(root, host);
      const locator = new CgroupLocator(join(root, 'sys/fs/cgroup'));
      expect(await locator.isUnified()).toBe(true);
      const found = await locator.find(uid, { runtime, id });
      expect(found).toBe(cgroups.get(id));
      expect(await locator.processes(found as string)).toEqual([100, 101]);
      expect(await locator.find(uid, { runtime, id: 'c'.repeat(64) })).toBeUndefined();
    });
  }

  it('says a cgroup v1 mount is not unified', async () => {
    root = await mkdtemp(join(tmpdir(), 'sksm-cgroup-'));
    expect(await new CgroupLocator(join(root, 'sys/fs/cgroup')).isUnified()).toBe(false);
  });
});
