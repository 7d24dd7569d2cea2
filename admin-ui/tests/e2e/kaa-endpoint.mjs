// A minimal Kaa 0.10 endpoint over HTTP, for the browser test: it registers a real endpoint with
// the node's Operations service the way the Java SDK's first sync does, so the admin UI has a
// registered endpoint to show. Only what that needs: an Avro writer for SyncRequest, a reader for
// the head of SyncResponse and its notification section, and Kaa's session crypto (a fresh
// AES-128 key wrapped with RSA PKCS#1 v1.5 under the node's key, SHA1withRSA signature of the
// wrapped key by the endpoint, AES/ECB/PKCS#7 payloads), as in idl/src/endpoint and sdk/src/http.rs.
import { createCipheriv, createDecipheriv, createHash, publicEncrypt, randomBytes, sign, constants } from 'node:crypto';

// ---- Avro binary encoding (zig-zag varints, length-prefixed bytes and strings) ----

class Writer {
  constructor() {
    this.chunks = [];
  }
  long(n) {
    let z = (BigInt(n) << 1n) ^ (BigInt(n) >> 63n);
    z = BigInt.asUintN(64, z);
    const out = [];
    do {
      let b = Number(z & 0x7fn);
      z >>= 7n;
      if (z) b |= 0x80;
      out.push(b);
    } while (z);
    this.chunks.push(Buffer.from(out));
    return this;
  }
  int(n) {
    return this.long(n);
  }
  bool(b) {
    this.chunks.push(Buffer.from([b ? 1 : 0]));
    return this;
  }
  bytes(buf) {
    this.long(buf.length);
    this.chunks.push(Buffer.from(buf));
    return this;
  }
  string(s) {
    return this.bytes(Buffer.from(s, 'utf8'));
  }
  /** A `["T", "null"]` union: branch 0 then the value, or branch 1. */
  optional(value, write) {
    if (value === undefined || value === null) return this.long(1);
    this.long(0);
    write(value);
    return this;
  }
  /** An array of items, then the end marker. */
  array(items, write) {
    if (items.length) {
      this.long(items.length);
      for (const item of items) write(item);
    }
    return this.long(0);
  }
  buffer() {
    return Buffer.concat(this.chunks);
  }
}

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
  }
  long() {
    let z = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('Avro: truncated varint');
      const b = this.buf[this.pos++];
      z |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7n;
    }
    return Number((z >> 1n) ^ -(z & 1n));
  }
  bool() {
    return this.buf[this.pos++] !== 0;
  }
  bytes() {
    const n = this.long();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  string() {
    return this.bytes().toString('utf8');
  }
  optional(read) {
    return this.long() === 0 ? read() : null;
  }
  array(read) {
    const items = [];
    for (let n = this.long(); n !== 0; n = this.long()) {
      if (n < 0) {
        n = -n;
        this.long(); // block size in bytes
      }
      for (let i = 0; i < n; i++) items.push(read());
    }
    return items;
  }
}

/** Writes the fields of a record given as [value, writer] pairs (helper for readability). */
export function avroRecord(fields) {
  const w = new Writer();
  for (const [kind, value] of fields) {
    if (kind === 'string') w.string(value);
    else if (kind === 'int' || kind === 'long') w.long(value);
    else if (kind === 'boolean') w.bool(value);
    else if (kind === 'bytes') w.bytes(value);
    else throw new Error(`avroRecord: ${kind}`);
  }
  return w.buffer();
}

const sha1 = (buf) => createHash('sha1').update(buf).digest();

/** The endpoint's key hash as the admin API names it: URL-safe Base64 of SHA-1, no padding. */
export const keyHashOf = (publicDer) => sha1(publicDer).toString('base64url');

// Kaa 0.10 protocol ids (idl/src/endpoint/crypto.rs).
const PROTOCOL_AVRO_V2 = 0xe0c0c178;

/**
 * The first request of a session, every section as the SDK sends it (sdk/src/client.rs
 * full_request): meta, profile with the public key (registration), configuration, notifications
 * and an event sequence number request.
 */
function fullRequest({ requestId, sdkToken, publicDer, profileBody, accessToken, timeoutMs, topicListHash = 0, acceptedUnicasts = [] }) {
  const w = new Writer();
  w.int(requestId);
  // syncRequestMetaData
  w.optional(true, () => {
    w.string(sdkToken);
    w.optional(sha1(publicDer), (h) => w.bytes(h));
    w.optional(sha1(profileBody), (h) => w.bytes(h));
    w.optional(timeoutMs, (t) => w.long(t));
  });
  w.optional(null); // bootstrapSyncRequest
  // profileSyncRequest
  w.optional(true, () => {
    w.optional(publicDer, (k) => w.bytes(k));
    w.bytes(profileBody);
    w.optional(accessToken, (t) => w.string(t));
  });
  // configurationSyncRequest
  w.optional(true, () => {
    w.bytes(Buffer.alloc(0));
    w.optional(true, (b) => w.bool(b));
  });
  // notificationSyncRequest
  w.optional(true, () => {
    w.int(topicListHash);
    w.optional([], (states) => w.array(states, () => {}));
    w.optional(acceptedUnicasts, (ids) => w.array(ids, (id) => w.string(id)));
    w.optional([], (cmds) => w.array(cmds, () => {}));
  });
  w.optional(null); // userSyncRequest
  // eventSyncRequest: an (empty) event sequence number request
  w.optional(true, () => {
    w.optional(true, () => {});
    w.optional(null);
    w.optional(null);
  });
  w.optional(null); // logSyncRequest
  w.optional(null); // extensionSyncRequests
  return w.buffer();
}

const RESULT_TYPES = ['SUCCESS', 'FAILURE', 'PROFILE_RESYNC', 'REDIRECT'];
const STATUSES = ['NO_DELTA', 'DELTA', 'RESYNC'];

/**
 * The head of a SyncResponse: request id, result, profile and configuration status, and the
 * notification section (notifications with their topic id, sequence number, uid and body).
 */
function readResponse(buf) {
  const r = new Reader(buf);
  const out = { requestId: r.long() };
  out.status = RESULT_TYPES[r.long()];
  // bootstrapSyncResponse: requestId + array of ProtocolMetaData { accessPointId, protocolVersionInfo{id,version}, connectionInfo }
  r.optional(() => {
    r.long();
    r.array(() => {
      r.long();
      r.long();
      r.long();
      r.bytes();
    });
  });
  out.profile = r.optional(() => STATUSES[r.long()]);
  out.configuration = r.optional(() => {
    const status = STATUSES[r.long()];
    r.optional(() => r.bytes());
    const body = r.optional(() => r.bytes());
    return { status, body };
  });
  out.notifications = r.optional(() => {
    const status = STATUSES[r.long()];
    const notifications = r.optional(() =>
      r.array(() => ({
        topicId: r.long(),
        type: r.long(),
        uid: r.optional(() => r.string()),
        seqNumber: r.optional(() => r.long()),
        body: r.bytes(),
      })),
    );
    const topics = r.optional(() => r.array(() => ({ id: r.long(), name: r.string(), subscriptionType: r.long() })));
    return { status, notifications: notifications ?? [], topics: topics ?? [] };
  });
  return out;
}

function multipart(boundary, parts) {
  const chunks = [];
  for (const [name, content] of parts) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n` +
          'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n',
      ),
      content,
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/**
 * One HTTP sync (`POST /EP/Sync`) of an endpoint with the key pair `keys` ({publicDer, privateKey})
 * against the Operations HTTP listener at `address` (host:port) whose RSA public key (X.509 DER)
 * is `serverKeyDer`. Registers the endpoint on its first call. Returns the decoded answer head.
 */
export async function syncEndpoint({ address, serverKeyDer, keys, sdkToken, profileBody, accessToken, requestId = 1, acceptedUnicasts }) {
  const sessionKey = randomBytes(16);
  const server = { key: serverKeyDer, format: 'der', type: 'spki', padding: constants.RSA_PKCS1_PADDING };
  const requestKey = publicEncrypt(server, sessionKey);
  const signature = sign('sha1', requestKey, keys.privateKey);
  const plain = fullRequest({ requestId, sdkToken, publicDer: keys.publicDer, profileBody, accessToken, timeoutMs: 10_000, acceptedUnicasts });
  const cipher = createCipheriv('aes-128-ecb', sessionKey, null);
  const requestData = Buffer.concat([cipher.update(plain), cipher.final()]);
  const next = Buffer.alloc(4);
  next.writeUInt32BE(PROTOCOL_AVRO_V2);
  const boundary = `kaa-ui-e2e-${randomBytes(6).toString('hex')}`;
  const body = multipart(boundary, [
    ['signature', signature],
    ['requestKey', requestKey],
    ['requestData', requestData],
    ['nextProtocol', next],
  ]);
  const response = await fetch(`http://${address}/EP/Sync`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    body,
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  if (!response.ok) throw new Error(`/EP/Sync answered HTTP ${response.status}: ${bytes.toString('utf8')}`);
  const decipher = createDecipheriv('aes-128-ecb', sessionKey, null);
  return readResponse(Buffer.concat([decipher.update(bytes), decipher.final()]));
}
