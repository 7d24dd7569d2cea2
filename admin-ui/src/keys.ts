// Endpoint keys and key hashes. The API takes an endpoint's RSA public key as standard Base64 of
// its X.509 (SubjectPublicKeyInfo) DER, which is what Kaa's SDKs keep in `key.public`, and names an
// endpoint by the SHA-1 of that DER in URL-safe Base64 without padding. Operators meet the same
// hash as standard Base64 (Kaa's own tools and logs) or hex, so each of those forms is accepted
// wherever a key hash is typed. Server (node) public keys are shown by their SHA-256 fingerprint.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard Base64 (with padding) of bytes. */
export function bytesToBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63] + '==';
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + '=';
  }
  return out;
}

/** The bytes of standard or URL-safe Base64 (padding optional), or null when it is not Base64. */
export function base64ToBytes(text: string): Uint8Array<ArrayBuffer> | null {
  const s = text.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) return null;
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of s) {
    value = (value << 6) | B64.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return new Uint8Array(out);
}

export const toUrlSafe = (b64: string) => b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/;

/** What a pasted or uploaded public key turned out to be. */
export type KeyInput = { base64: string } | { error: string };

/**
 * A public key as the API wants it (standard Base64 of X.509 DER, no whitespace), from what an
 * operator pastes: Base64 (line breaks and spaces allowed), or a PEM `PUBLIC KEY` block. Only the
 * shape is checked here; the API decides whether it is an RSA key.
 */
export function publicKeyFromText(text: string): KeyInput {
  let body = text.trim();
  if (!body) return { error: 'Paste a public key or upload a key file' };
  const pem = PEM.exec(body);
  if (pem) {
    if (pem[1] === 'RSA PUBLIC KEY')
      return { error: 'This is a PKCS#1 “RSA PUBLIC KEY”; Kaa needs X.509: openssl rsa -RSAPublicKey_in -pubout -outform DER' };
    if (pem[1] !== 'PUBLIC KEY') return { error: `This is a PEM “${pem[1]}”, not a public key` };
    body = pem[2];
  } else if (body.includes('-----BEGIN')) {
    return { error: 'The PEM block is not complete' };
  }
  const compact = body.replace(/\s+/g, '');
  const bytes = base64ToBytes(compact);
  if (!bytes || bytes.length === 0) return { error: 'Not Base64' };
  if (bytes[0] !== 0x30) return { error: 'Not a DER key (an X.509 key starts with a SEQUENCE)' };
  return { base64: bytesToBase64(bytes) };
}

/**
 * A public key from an uploaded file: `key.public` as Kaa's SDKs write it (binary X.509 DER), or a
 * text file with a PEM block or Base64.
 */
export function publicKeyFromFile(bytes: Uint8Array): KeyInput {
  if (bytes.length === 0) return { error: 'The file is empty' };
  if (bytes[0] === 0x30) return { base64: bytesToBase64(bytes) };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { error: 'Neither a DER key nor text' };
  }
  return publicKeyFromText(text);
}

/** The 20-byte key hash named by any of its usual forms, as the API's URL-safe Base64; or null. */
export function toKeyHash(input: string): string | null {
  const s = input.trim();
  if (/^[0-9a-fA-F]{40}$/.test(s)) {
    const bytes = new Uint8Array(20);
    for (let i = 0; i < 20; i++) bytes[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
    return toUrlSafe(bytesToBase64(bytes));
  }
  const bytes = base64ToBytes(s);
  return bytes && bytes.length === 20 ? toUrlSafe(bytesToBase64(bytes)) : null;
}

/** A key hash (URL-safe Base64) in the forms operators meet it in. */
export function keyHashForms(urlSafe: string): { urlSafe: string; base64: string; hex: string } | null {
  const bytes = base64ToBytes(urlSafe);
  if (!bytes || bytes.length !== 20) return null;
  return {
    urlSafe,
    base64: bytesToBase64(bytes),
    hex: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''),
  };
}

/** A key hash shortened for tables: its first 10 characters and an ellipsis. */
export function shortKeyHash(hash: string, length = 10): string {
  return hash.length > length + 1 ? `${hash.slice(0, length)}…` : hash;
}

/**
 * The key hash of a public key (standard Base64 of its DER), computed in the browser; null where
 * Web Crypto is unavailable (pages served over plain HTTP from another host).
 */
export async function keyHashOfPublicKey(base64: string): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  const bytes = base64ToBytes(base64);
  if (!subtle || !bytes) return null;
  const digest = await subtle.digest('SHA-1', bytes);
  return toUrlSafe(bytesToBase64(new Uint8Array(digest)));
}

/**
 * A public key's fingerprint as `openssl dgst -sha256 -c` prints it for the DER (colon-separated
 * hex of its SHA-256), cut to its first `bytes` bytes with an ellipsis; null where Web Crypto is
 * unavailable or the key is not Base64.
 */
export async function publicKeyFingerprint(base64: string, bytes = 8): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  const der = base64ToBytes(base64);
  if (!subtle || !der || der.length === 0) return null;
  const digest = new Uint8Array(await subtle.digest('SHA-256', der));
  const hex = Array.from(digest.slice(0, bytes), (b) => b.toString(16).padStart(2, '0')).join(':');
  return bytes < digest.length ? `${hex}…` : hex;
}

/** A public key (Base64) shortened to its start and end, where no fingerprint can be computed. */
export function shortPublicKey(base64: string, chars = 12): string {
  return base64.length > 2 * chars + 1 ? `${base64.slice(0, chars)}…${base64.slice(-chars)}` : base64;
}

/**
 * Whether an endpoint matches a search typed by an operator: part of its access token, or of its
 * key hash in any form (URL-safe or standard Base64, hex). Case matters for Base64, not for hex
 * or tokens.
 */
export function endpointMatches(endpoint: { endpoint_key_hash: string; access_token?: string | null }, query: string): boolean {
  const q = query.trim();
  if (!q) return true;
  if (endpoint.access_token?.toLowerCase().includes(q.toLowerCase())) return true;
  const forms = keyHashForms(endpoint.endpoint_key_hash);
  if (!forms) return endpoint.endpoint_key_hash.includes(q);
  return (
    forms.urlSafe.includes(toUrlSafe(q)) ||
    forms.base64.includes(q) ||
    (/^[0-9a-fA-F]+$/.test(q) && forms.hex.includes(q.toLowerCase()))
  );
}
