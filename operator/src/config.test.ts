import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';

describe('operator configuration', () => {
  it('uses defaults, then environment, then flags', () => {
    const r = parseConfig(['--lease-duration', '20s'], {
      LEASE_DURATION: '30s',
      POD_NAME: 'op-1',
      WORKERS: '2',
    });
    expect(r).toMatchObject({
      config: { leaseDuration: 20_000, identity: 'op-1', workers: 2, retryPeriod: 2_000 },
    });
  });

  it('reports every problem at once, by flag name', () => {
    const r = parseConfig(['--workers', '0', '--release-timeout', 'soon'], {});
    expect(r).toEqual({
      errors: [
        '--release-timeout: must be a duration such as 15s or 2m',
        '--workers: Too small: expected number to be >=1',
      ],
    });
  });

  it('refuses a renew deadline not shorter than the lease', () => {
    expect(parseConfig(['--renew-deadline', '15s'], {})).toEqual({
      errors: ['--renew-deadline: renew-deadline must be shorter than lease-duration'],
    });
  });

  it('refuses unknown flags', () => {
    expect(parseConfig(['--nope', 'x'], {})).toMatchObject({
      errors: [expect.stringContaining("'--nope'")],
    });
  });
});
