// The admin REST API client: JSON over fetch with the session's bearer token, and file downloads
// (SDK archives) as Blobs. Every failure becomes an ApiError carrying the API's `error` code,
// `message` and `field`.

export type Role = 'KAA_ADMIN' | 'TENANT_ADMIN' | 'TENANT_DEVELOPER' | 'TENANT_USER';

export interface User {
  id: string;
  username: string;
  role: Role;
  tenant_id?: string | null;
  created_ms: number;
}
export interface Session {
  token: string;
  expires_ms: number;
  user: User;
}
export interface Tenant {
  id: string;
  name: string;
  created_ms: number;
}
export interface Application {
  id: string;
  tenant_id: string;
  name: string;
  app_token: string;
  credentials_service: string;
  seq: number;
  created_ms: number;
}
export interface Group {
  id: string;
  app_id: string;
  name: string;
  weight: number;
  description: string;
  created_ms: number;
}
export interface OwnerConfiguration {
  schema_version: number;
  body: unknown;
  updated_ms: number;
}
export interface Schema {
  id: string;
  kind: string;
  version: number;
  name: string;
  schema: unknown;
  created_ms: number;
}
export interface Doc {
  id: string;
  group_id: string;
  schema_version: number;
  server_schema_version: number;
  body: unknown;
  status: 'draft' | 'active' | 'deprecated' | string;
  created_ms: number;
  activated_ms?: number | null;
}
export interface Topic {
  id: string;
  app_id: string;
  name: string;
  kind: 'mandatory' | 'optional' | string;
  created_ms: number;
}
export interface Appender {
  id: string;
  name: string;
  type: string;
  min_log_version: number;
  max_log_version?: number | null;
  confirm_delivery: boolean;
  header_fields: string[];
  settings: Record<string, unknown>;
  created_ms: number;
}
export interface Verifier {
  id: string;
  name: string;
  type: string;
  verifier_token: string;
  settings: Record<string, unknown>;
  created_ms: number;
}
export interface SdkProfile {
  id: string;
  name: string;
  sdk_token: string;
  client_profile_version?: number | null;
  server_profile_version?: number | null;
  configuration_version?: number | null;
  notification_version?: number | null;
  log_version?: number | null;
  event_map_ids: string[];
  default_verifier_token?: string | null;
  created_ms: number;
}
export interface Family {
  id: string;
  tenant_id: string;
  name: string;
  namespace: string;
  class_name: string;
  created_ms: number;
}
export interface EventClass {
  id: string;
  fqn: string;
  kind: 'event' | 'object' | string;
  schema: unknown;
}
export interface FamilyVersion {
  id: string;
  family_id: string;
  version: number;
  classes: EventClass[];
  created_ms: number;
}
export interface EventMap {
  id: string;
  app_id: string;
  family_id: string;
  family_name: string;
  version: number;
  actions: Record<string, string>;
  created_ms: number;
}
export interface Change {
  seq: number;
  entity: string;
  entity_id: string;
  op: string;
  created_ms: number;
}
/** An endpoint's credentials (`…/credentials`). */
export interface Credentials {
  /** SHA-1 of the public key, URL-safe Base64 without padding: the endpoint's id in URLs. */
  endpoint_key_hash: string;
  status: 'AVAILABLE' | 'IN_USE' | 'REVOKED' | string;
  /** Standard Base64 of the X.509 DER public key. */
  public_key: string;
}
/** A registered endpoint (`…/endpoints`). */
export interface Endpoint {
  endpoint_key_hash: string;
  access_token?: string | null;
  sdk_token: string;
  client_profile_version: number;
  /** Decoded with its schema; null when it cannot be decoded. */
  client_profile?: unknown;
  server_profile_version: number;
  server_profile: unknown;
  /** Group ids. */
  groups: string[];
  /** SHA-1 of its configuration, hex ('' before it has one). */
  configuration_hash: string;
  /** Topic ids. */
  subscriptions: string[];
  node_id?: string | null;
  last_seen_ms: number;
  credentials_status?: string | null;
}
/** A notification stored for delivery. */
export interface SentNotification {
  id: string;
  topic_id: string;
  /** The topic's sequence number (topic notifications; null for unicast). */
  seq?: number | null;
  expires_at_ms: number;
}
export interface PageOf<T> {
  items: T[];
  next_offset: number | null;
}

/** A failed request, in the API's words. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

const STATUS_WORDS: Record<number, string> = {
  400: 'The request was not understood',
  401: 'Your session has ended; log in again',
  403: 'Your role may not do this',
  404: 'Not found',
  409: 'Conflicts with what exists',
  413: 'The request is too large',
  422: 'Not valid',
  503: 'The server is not available right now',
};

/** Turns a non-2xx response (status and parsed body, if any) into an ApiError. */
export function toApiError(status: number, body: unknown): ApiError {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const code = typeof b.error === 'string' ? b.error : `http_${status}`;
    let message = typeof b.message === 'string' && b.message ? b.message : undefined;
    const field = typeof b.field === 'string' && b.field ? b.field : undefined;
    if (code === 'not_leader') {
      const leader = b.leader as { admin_url?: string } | null | undefined;
      message = leader?.admin_url
        ? `This Control node is a standby; open the admin UI on the leader at ${leader.admin_url}`
        : 'This Control node is a standby and no leader is known right now';
    }
    return new ApiError(status, code, message ?? STATUS_WORDS[status] ?? `HTTP ${status}`, field);
  }
  return new ApiError(status, `http_${status}`, STATUS_WORDS[status] ?? `HTTP ${status}`);
}

/** The error text to show at the form field `name`, if the error names it or a path inside it. */
export function fieldError(error: unknown, name: string): string | undefined {
  if (!(error instanceof ApiError) || !error.field) return undefined;
  const f = error.field;
  if (f === name) return error.message;
  if (f.startsWith(name + '.') || f.startsWith(name + '[')) return `${f}: ${error.message}`;
  return undefined;
}

/** Whether the error belongs to one of the form's fields (else it is shown above the form). */
export function isFieldError(error: unknown, names: string[]): boolean {
  return names.some((n) => fieldError(error, n) !== undefined);
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.field ? `${error.message} (${error.field})` : error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  base?: string;
  token: () => string | null;
  /** Called on a 401 for a request that carried a token: the session is gone. */
  onUnauthorized?: () => void;
  fetch?: Fetch;
}

export class Client {
  private readonly base: string;
  private readonly opts: ClientOptions;

  constructor(opts: ClientOptions) {
    this.base = opts.base ?? '/api/v1';
    this.opts = opts;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.send<T>(method, this.base + path, body);
  }

  /** A GET outside the API prefix, e.g. the node's own `/cluster`. */
  getUrl<T>(url: string): Promise<T> {
    return this.send<T>('GET', url);
  }

  private async send<T>(method: string, url: string, body?: unknown): Promise<T> {
    const text = await (await this.call(method, url, 'application/json', body)).text();
    return parseJson(text) as T;
  }

  /**
   * A file from the API (GET `path`, e.g. an SDK archive): its bytes as a Blob with the file name
   * the server gives in `Content-Disposition` (else `fallbackName`). `onProgress` hears the bytes
   * received so far and the total when the server sends a length. Errors as for JSON requests.
   */
  async download(path: string, fallbackName: string, onProgress?: (received: number, total: number | null) => void): Promise<Download> {
    const response = await this.call('GET', this.base + path, '*/*');
    const length = Number(response.headers.get('Content-Length'));
    const total = Number.isFinite(length) && length > 0 ? length : null;
    const type = response.headers.get('Content-Type') ?? 'application/octet-stream';
    let blob: Blob;
    try {
      blob = await readBlob(response, type, total, onProgress);
    } catch {
      throw new ApiError(0, 'network', 'The download was cut off; try again');
    }
    return {
      blob,
      fileName: dispositionFileName(response.headers.get('Content-Disposition')) ?? fallbackName,
      size: blob.size,
      headers: response.headers,
    };
  }

  /** The response of a request that succeeded; a failure becomes an ApiError. */
  private async call(method: string, url: string, accept: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept };
    const token = this.opts.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const doFetch: Fetch = this.opts.fetch ?? ((i, r) => fetch(i, r));
    let response: Response;
    try {
      response = await doFetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 'network', 'Cannot reach the server; check that the node is running');
    }
    if (!response.ok) {
      const error = toApiError(response.status, parseJson(await response.text().catch(() => '')));
      if (response.status === 401 && token) this.opts.onUnauthorized?.();
      throw error;
    }
    return response;
  }

  get<T>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body);
  }
  put<T>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body);
  }
  patch<T>(path: string, body: unknown) {
    return this.request<T>('PATCH', path, body);
  }
  del(path: string) {
    return this.request<void>('DELETE', path);
  }
  /** Every item of a paged list (pages of 500). */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let offset: number | null = 0;
    const sep = path.includes('?') ? '&' : '?';
    while (offset !== null && items.length < 10_000) {
      const page: PageOf<T> = await this.get<PageOf<T>>(`${path}${sep}offset=${offset}&limit=500`);
      items.push(...page.items);
      offset = page.next_offset;
    }
    return items;
  }
}

export const enc = encodeURIComponent;

/** A file fetched with {@link Client.download}. */
export interface Download {
  blob: Blob;
  /** The server's file name for it. */
  fileName: string;
  /** Bytes. */
  size: number;
  /** The response's headers (e.g. `X-Kaa-Sdk-Cache`). */
  headers: Headers;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The body as a Blob, read chunk by chunk (reporting progress) where the body is a stream. */
async function readBlob(
  response: Response,
  type: string,
  total: number | null,
  onProgress?: (received: number, total: number | null) => void,
): Promise<Blob> {
  const reader = response.body?.getReader();
  if (!reader) {
    const blob = await response.blob();
    onProgress?.(blob.size, total);
    return new Blob([blob], { type });
  }
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let received = 0;
  onProgress?.(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value as Uint8Array<ArrayBuffer>);
    received += value.length;
    onProgress?.(received, total);
  }
  return new Blob(chunks, { type });
}

/**
 * The file name in a `Content-Disposition` header: RFC 6266's `filename*=UTF-8''…` (percent-encoded)
 * before `filename="…"` or a bare `filename=…`; any path is cut off. Undefined when there is none.
 */
export function dispositionFileName(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  let name: string | undefined;
  const extended = /filename\*\s*=\s*utf-8'[^']*'([^;]+)/i.exec(header);
  if (extended) {
    try {
      name = decodeURIComponent(extended[1].trim());
    } catch {
      name = undefined;
    }
  }
  if (name === undefined) {
    const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
    const bare = /filename\s*=\s*([^";\s]+)/i.exec(header);
    name = quoted ? quoted[1].replace(/\\(.)/g, '$1') : bare?.[1];
  }
  const base = name?.split(/[/\\]/).pop()?.trim();
  return base ? base : undefined;
}
