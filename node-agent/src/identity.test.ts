import { describe, expect, it } from 'vitest';
import { sameProcess, startTimeOf } from './identity.ts';

describe('process identity', () => {
  it('reads the start time even when the command name has spaces and parentheses', () => {
    const stat =
      '4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 987654 1000 100';
    expect(startTimeOf(stat)).toBe('987654');
  });

  it('is the same process only with the same start time, in the same cgroup', () => {
    const cg = 'kubepods.slice/a.slice/cri-containerd-x.scope';
    const before = { pid: 7, startTime: '100', cgroup: `/${cg}` };
    expect(sameProcess(before, { ...before }, cg)).toBe(true);
    expect(
      sameProcess(before, { ...before, cgroup: '/../../a.slice/cri-containerd-x.scope' }, cg),
    ).toBe(true);
    expect(sameProcess(before, { ...before, startTime: '101' }, cg)).toBe(false);
    expect(sameProcess(before, { ...before, cgroup: '/system.slice/sshd.service' }, cg)).toBe(
      false,
    );
    expect(sameProcess(before, undefined, cg)).toBe(false);
  });
});
