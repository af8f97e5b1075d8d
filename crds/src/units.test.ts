import { describe, expect, it } from 'vitest';
import { formatBytes, parseByteSize, parseDuration } from './units.ts';

describe('parseDuration', () => {
  it('adds up Go-style units', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
  });

  it('rejects what the schema rejects', () => {
    for (const bad of ['', '10', '1.5h', '-1s', '1d', 's']) {
      expect(() => parseDuration(bad)).toThrow(/invalid duration/);
    }
  });
});

describe('parseByteSize', () => {
  it('reads binary and decimal suffixes', () => {
    expect(parseByteSize('4096')).toBe(4096);
    expect(parseByteSize('64Ki')).toBe(65_536);
    expect(parseByteSize('2Mi')).toBe(2_097_152);
    expect(parseByteSize('1G')).toBe(1e9);
  });

  it('rejects what the schema rejects', () => {
    for (const bad of ['', 'Ki', '1.5Mi', '1KB', '-1', '1e3']) {
      expect(() => parseByteSize(bad)).toThrow(/invalid size/);
    }
  });
});

describe('formatBytes', () => {
  it('gives three significant digits with binary suffixes', () => {
    expect(formatBytes(0)).toBe('0');
    expect(formatBytes(1023)).toBe('1023');
    expect(formatBytes(1536)).toBe('1.5Ki');
    expect(formatBytes(150 * 2 ** 20)).toBe('150Mi');
    expect(formatBytes(12.34 * 2 ** 30)).toBe('12.3Gi');
  });
});
