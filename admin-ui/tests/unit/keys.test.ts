import { describe, expect, it } from 'vitest';
import {
  base64ToBytes, bytesToBase64, endpointMatches, keyHashForms, keyHashOfPublicKey, publicKeyFingerprint, publicKeyFromFile,
  publicKeyFromText, shortKeyHash, shortPublicKey, toKeyHash,
} from '../../src/keys';

// A real RSA-2048 public key as Kaa's SDKs write key.public (X.509 SubjectPublicKeyInfo DER), and
// its SHA-1 in each form, computed with OpenSSL (Node's crypto) when the vector was made.
const derBase64 =
  'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyZFlG4ZlqHalCaisPGBPN7nAAZiTk5QLyAI2dSXJfcHMzxQYTwsZ6xvWemJvU1ueU/ykW8NopOI3Wjhie/keEfIcydWJ0qEpzeSNtQh63rsyigxj5fuWOJXVNcbjwTBIpBShBUYpB0XbaAPXkDawatBQ4r9V5+NHS9GO5RVD5nZrUk4x7Fd3jbdHiQpN35iqdDkI5XuUrjI242ltCVgZxtA5VMd/iNBykaQdt6/QOtiIEyRx/e0FSvOoVNFJ6E04Oraf/tZa3oN7FkWoHiirabYM8A0yJSEJWraZFezHrVuNwTg+Rqgef8TQs6D3gTZOsBh9U/xcx3FbZEq99qNx5wIDAQAB';
const der = Uint8Array.from(atob(derBase64), (c) => c.charCodeAt(0));
const keyHash = 'ueGbpweV7FNOXD7B84JyLkkMpVs';
const HASH_BASE64 = 'ueGbpweV7FNOXD7B84JyLkkMpVs=';
const HASH_HEX = 'b9e19ba70795ec534e5c3ec1f382722e490ca55b';
const b64url = (b64: string) => b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

describe('Base64', () => {
  it('matches Node for every length remainder, and reads both alphabets back', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 20, 294]) {
      const bytes = new Uint8Array(Array.from({ length: n }, (_, i) => (i * 37 + 251) & 0xff));
      const b64 = bytesToBase64(bytes);
      expect(b64).toBe(btoa(String.fromCharCode(...bytes)));
      expect(Array.from(base64ToBytes(b64)!)).toEqual(Array.from(bytes));
      expect(Array.from(base64ToBytes(b64url(b64))!)).toEqual(Array.from(bytes));
    }
  });
  it('refuses what is not Base64', () => {
    expect(base64ToBytes('not base64!')).toBeNull();
    expect(base64ToBytes('abcde')).toBeNull(); // a length no encoder produces
  });
});

describe('publicKeyFromFile', () => {
  it('turns an uploaded binary key.public (DER) into the Base64 the API takes', () => {
    expect(publicKeyFromFile(der)).toEqual({ base64: derBase64 });
  });
  it('reads a PEM or Base64 text file too', () => {
    const pem = `-----BEGIN PUBLIC KEY-----\n${derBase64.match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----\n`;
    expect(publicKeyFromFile(new TextEncoder().encode(pem))).toEqual({ base64: derBase64 });
    expect(publicKeyFromFile(new TextEncoder().encode(`${derBase64}\n`))).toEqual({ base64: derBase64 });
  });
  it('says why a file is not a key', () => {
    expect(publicKeyFromFile(new Uint8Array())).toEqual({ error: 'The file is empty' });
    expect(publicKeyFromFile(new Uint8Array([0xff, 0xfe, 0x00]))).toHaveProperty('error');
    const pkcs1 = '-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEA\n-----END RSA PUBLIC KEY-----';
    expect(publicKeyFromFile(new TextEncoder().encode(pkcs1))).toEqual({ error: expect.stringMatching(/PKCS#1/) });
  });
});

describe('publicKeyFromText', () => {
  it('drops line breaks and spaces of pasted Base64', () => {
    expect(publicKeyFromText(`  ${derBase64.slice(0, 40)}\n ${derBase64.slice(40)}  `)).toEqual({ base64: derBase64 });
  });
  it('refuses empty input, non-Base64, non-DER and other PEM blocks', () => {
    expect(publicKeyFromText('  ')).toHaveProperty('error');
    expect(publicKeyFromText('hello world!')).toEqual({ error: 'Not Base64' });
    expect(publicKeyFromText('aGVsbG8=')).toEqual({ error: expect.stringMatching(/DER/) });
    expect(publicKeyFromText('-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----')).toEqual({ error: expect.stringMatching(/PRIVATE KEY/) });
    expect(publicKeyFromText('-----BEGIN PUBLIC KEY-----\nMIIB')).toEqual({ error: 'The PEM block is not complete' });
  });
});

describe('key hashes', () => {
  it('computes the key hash the API names the endpoint by (SHA-1 of the DER, URL-safe, no padding)', async () => {
    expect(await keyHashOfPublicKey(derBase64)).toBe(keyHash);
  });
  it('shows a hash in URL-safe and standard Base64 and hex', () => {
    expect(keyHashForms(keyHash)).toEqual({ urlSafe: keyHash, base64: HASH_BASE64, hex: HASH_HEX });
    expect(keyHashForms('short')).toBeNull();
  });
  it('reads a typed hash in any of those forms', () => {
    expect(toKeyHash(keyHash)).toBe(keyHash);
    expect(toKeyHash(` ${HASH_BASE64} `)).toBe(keyHash);
    expect(toKeyHash(HASH_HEX.toUpperCase())).toBe(keyHash);
    expect(toKeyHash('abc')).toBeNull();
    expect(toKeyHash(derBase64)).toBeNull(); // a whole key is not a hash
  });
  it('shortens hashes for tables', () => {
    expect(shortKeyHash('rqwj3Lro6F0zotMBErTMdEY7sN8')).toBe('rqwj3Lro6F…');
    expect(shortKeyHash('abc')).toBe('abc');
  });
});

describe('endpointMatches', () => {
  const ep = { endpoint_key_hash: 'rqwj3Lro6F0zotMBErTMdEY7sN8', access_token: 'Kitchen-Thermostat' };
  const forms = keyHashForms(ep.endpoint_key_hash)!;
  it('finds an endpoint by part of its access token, ignoring case', () => {
    expect(endpointMatches(ep, 'kitchen')).toBe(true);
    expect(endpointMatches(ep, 'garage')).toBe(false);
    expect(endpointMatches({ ...ep, access_token: null }, 'kitchen')).toBe(false);
  });
  it('finds it by part of its key hash in any form', () => {
    expect(endpointMatches(ep, 'rqwj3L')).toBe(true);
    expect(endpointMatches(ep, forms.base64.slice(0, 12))).toBe(true);
    expect(endpointMatches(ep, forms.hex.slice(4, 14).toUpperCase())).toBe(true);
    expect(endpointMatches(ep, 'RQWJ3L')).toBe(false); // Base64 is case-sensitive
  });
  it('matches everything on an empty search', () => {
    expect(endpointMatches(ep, '  ')).toBe(true);
  });
});

describe('node public keys', () => {
  // `base64 -d | openssl dgst -sha256 -c` of the key above.
  const sha256 = '2c:92:e2:8e:dc:84:c9:6e:73:da:ed:1c:ca:2f:5b:e5:aa:1a:29:19:6d:df:c1:5f:e5:ba:aa:8c:08:d1:c5:6b';

  it('shows the SHA-256 fingerprint of the DER as OpenSSL prints it, cut short', async () => {
    await expect(publicKeyFingerprint(derBase64)).resolves.toBe(`${sha256.slice(0, 23)}…`);
    await expect(publicKeyFingerprint(derBase64, 32)).resolves.toBe(sha256);
    await expect(publicKeyFingerprint('not base64!')).resolves.toBeNull();
    await expect(publicKeyFingerprint('')).resolves.toBeNull();
  });

  it('falls back to the start and end of the key', () => {
    expect(shortPublicKey(derBase64)).toBe('MIIBIjANBgkq…9qNx5wIDAQAB');
    expect(shortPublicKey('short')).toBe('short');
  });
});
