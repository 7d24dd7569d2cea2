import { describe, expect, it } from 'vitest';
import { cacheHit, fallbackFileName, formatBytes, progressPercent, progressText, SDK_TARGETS, sdkPath } from '../../src/sdks';

describe('SDK generation', () => {
  it('offers the three targets the API generates', () => {
    expect(SDK_TARGETS.map((t) => [t.value, t.label])).toEqual([
      ['rust', 'Rust'],
      ['c', 'C'],
      ['python', 'Python'],
    ]);
  });

  it('asks for a profile\'s archive by target, ids escaped', () => {
    expect(sdkPath('app 1', 'p/2', 'c')).toBe('/applications/app%201/sdk-profiles/p%2F2/sdk?target=c');
    expect(fallbackFileName('python', 'T0k-en')).toBe('kaa-python-sdk-T0k-en.tar.gz');
  });

  it('puts each phase in words', () => {
    expect(progressText('c', { phase: 'generating' })).toBe('Generating the C SDK…');
    expect(progressText('rust', { phase: 'downloading', received: 1536, total: 3 * 1024 * 1024 })).toBe(
      'Downloading the Rust SDK: 1.50 KB of 3.00 MB',
    );
    expect(progressText('python', { phase: 'downloading', received: 10, total: null })).toBe('Downloading the Python SDK: 10 B');
    expect(progressText('c', { phase: 'done', fileName: 'kaa-c-sdk-t.tar.gz', size: 123_456, cached: true })).toBe(
      'kaa-c-sdk-t.tar.gz · 121 KB (from the cache)',
    );
    expect(progressText('c', { phase: 'done', fileName: 'f', size: 2048, cached: false })).toBe('f · 2.00 KB');
  });

  it('knows the share received only when the total is known', () => {
    expect(progressPercent({ phase: 'generating' })).toBeNull();
    expect(progressPercent({ phase: 'downloading', received: 5, total: null })).toBeNull();
    expect(progressPercent({ phase: 'downloading', received: 1, total: 3 })).toBe(33);
    expect(progressPercent({ phase: 'downloading', received: 9, total: 3 })).toBe(100);
    expect(progressPercent({ phase: 'done', fileName: 'f', size: 1, cached: null })).toBe(100);
  });

  it('reads the cache header', () => {
    expect(cacheHit('hit')).toBe(true);
    expect(cacheHit('miss')).toBe(false);
    expect(cacheHit(null)).toBeNull();
  });
});

describe('formatBytes', () => {
  it('uses powers of 1024 with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.00 KB');
    expect(formatBytes(15 * 1024 + 300)).toBe('15.3 KB');
    expect(formatBytes(1024 * 1024 * 1.5)).toBe('1.50 MB');
    expect(formatBytes(5 * 1024 ** 4)).toBe('5120 GB');
    expect(formatBytes(-1)).toBe('—');
    expect(formatBytes(NaN)).toBe('—');
  });
});
