// Generating an SDK profile's SDK (`GET …/sdk-profiles/{profile}/sdk?target=`): the targets, the
// request path, the progress shown while the archive is generated and downloaded, and the
// archive's size in words.
import { enc } from './api';

export type SdkTarget = 'rust' | 'c' | 'python';

export const SDK_TARGETS: { value: SdkTarget; label: string; hint: string }[] = [
  { value: 'rust', label: 'Rust', hint: 'a cargo workspace for services and gateways' },
  { value: 'c', label: 'C', hint: 'C99 with CMake and mbedTLS, for embedded devices' },
  { value: 'python', label: 'Python', hint: 'a pip-installable package for scripts and gateways' },
];

export const targetLabel = (target: SdkTarget) => SDK_TARGETS.find((t) => t.value === target)?.label ?? target;

/** The API path of a profile's SDK archive for `target`. */
export function sdkPath(appId: string, profileId: string, target: SdkTarget): string {
  return `/applications/${enc(appId)}/sdk-profiles/${enc(profileId)}/sdk?target=${enc(target)}`;
}

/** The archive's name when the server gives none (it always does; the same pattern). */
export const fallbackFileName = (target: SdkTarget, sdkToken: string) => `kaa-${target}-sdk-${sdkToken}.tar.gz`;

/** Where a generation stands: waiting for the server, receiving bytes, or done. */
export type SdkProgress =
  | { phase: 'generating' }
  | { phase: 'downloading'; received: number; total: number | null }
  | { phase: 'done'; fileName: string; size: number; cached: boolean | null };

/** The progress in words, for a status line read out by screen readers. */
export function progressText(target: SdkTarget, p: SdkProgress): string {
  const label = targetLabel(target);
  switch (p.phase) {
    case 'generating':
      return `Generating the ${label} SDK…`;
    case 'downloading':
      return p.total
        ? `Downloading the ${label} SDK: ${formatBytes(p.received)} of ${formatBytes(p.total)}`
        : `Downloading the ${label} SDK: ${formatBytes(p.received)}`;
    case 'done':
      return `${p.fileName} · ${formatBytes(p.size)}${p.cached === true ? ' (from the cache)' : ''}`;
  }
}

/** The share of the download received, 0–100, or null while it is unknown. */
export function progressPercent(p: SdkProgress): number | null {
  if (p.phase === 'done') return 100;
  if (p.phase === 'downloading' && p.total) return Math.min(100, Math.round((100 * p.received) / p.total));
  return null;
}

/** `X-Kaa-Sdk-Cache`: whether the server served a cached archive (null when it does not say). */
export function cacheHit(header: string | null): boolean | null {
  if (header === 'hit') return true;
  if (header === 'miss') return false;
  return null;
}

/** A size in bytes in words: `512 B`, `12.3 KB`, `1.46 MB` (powers of 1024, as file managers show). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value < 10 ? 2 : value < 100 ? 1 : 0;
  return `${value.toFixed(digits)} ${units[unit]}`;
}
