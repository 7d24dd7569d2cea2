import { describe, expect, it, vi } from 'vitest';
import { ApiError, Client, dispositionFileName, errorText, fieldError, isFieldError, toApiError } from '../../src/api';

const json = (status: number, body: unknown) =>
  new Response(body === undefined ? '' : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('toApiError', () => {
  it('keeps the API error code, message and field', () => {
    const e = toApiError(422, { error: 'invalid', message: 'unknown type name `integer`', field: 'schema.fields[0].type' });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(422);
    expect(e.code).toBe('invalid');
    expect(e.message).toBe('unknown type name `integer`');
    expect(e.field).toBe('schema.fields[0].type');
  });

  it('puts a status in words when the body has no message', () => {
    expect(toApiError(403, { error: 'forbidden' }).message).toBe('Your role may not do this');
    expect(toApiError(502, undefined).message).toBe('HTTP 502');
    expect(toApiError(409, 'not json').code).toBe('http_409');
  });

  it('names the leader for a standby Control', () => {
    const e = toApiError(503, { error: 'not_leader', message: 'standby', leader: { id: 'n1', admin_url: 'http://10.0.0.1:8080' } });
    expect(e.message).toContain('http://10.0.0.1:8080');
    expect(toApiError(503, { error: 'not_leader', leader: null }).message).toContain('no leader');
  });
});

describe('fieldError', () => {
  const e = new ApiError(422, 'invalid', 'unknown type', 'schema.fields[0].type');
  it('attaches an error to the form field that contains its path', () => {
    expect(fieldError(e, 'schema')).toBe('schema.fields[0].type: unknown type');
    expect(fieldError(new ApiError(422, 'invalid', 'too short', 'name'), 'name')).toBe('too short');
    expect(fieldError(new ApiError(400, 'invalid_body', 'bad', 'body[2]'), 'body')).toBe('body[2]: bad');
  });
  it('ignores other fields, prefixes that are not paths, and errors without a field', () => {
    expect(fieldError(e, 'name')).toBeUndefined();
    expect(fieldError(new ApiError(422, 'invalid', 'x', 'schema_version'), 'schema')).toBeUndefined();
    expect(fieldError(new ApiError(409, 'conflict', 'taken'), 'name')).toBeUndefined();
    expect(fieldError(new Error('x'), 'name')).toBeUndefined();
    expect(isFieldError(e, ['name', 'schema'])).toBe(true);
    expect(isFieldError(e, ['name'])).toBe(false);
  });
  it('errorText names the field for errors shown above a form', () => {
    expect(errorText(e)).toBe('unknown type (schema.fields[0].type)');
    expect(errorText(new Error('boom'))).toBe('boom');
  });
});

describe('Client', () => {
  it('sends the bearer token and JSON, and parses the answer', async () => {
    const fetch = vi.fn(async () => json(201, { id: 't1', name: 'Acme' }));
    const client = new Client({ token: () => 'tok', fetch });
    await expect(client.post('/tenants', { name: 'Acme' })).resolves.toEqual({ id: 't1', name: 'Acme' });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/tenants');
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok');
    expect(init.body).toBe('{"name":"Acme"}');
  });

  it('ends the session on a 401 only when a token was sent', async () => {
    const onUnauthorized = vi.fn();
    const body = { error: 'unauthenticated', message: 'log in' };
    const withToken = new Client({ token: () => 'old', onUnauthorized, fetch: async () => json(401, body) });
    await expect(withToken.get('/me')).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    const login = new Client({ token: () => null, onUnauthorized, fetch: async () => json(401, { error: 'wrong_credentials', message: 'wrong' }) });
    await expect(login.post('/auth/login', {})).rejects.toMatchObject({ code: 'wrong_credentials', message: 'wrong' });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('turns a network failure into words', async () => {
    const client = new Client({ token: () => null, fetch: async () => Promise.reject(new TypeError('Failed to fetch')) });
    await expect(client.get('/me')).rejects.toMatchObject({ code: 'network', status: 0 });
  });

  it('answers 204 with nothing', async () => {
    const client = new Client({ token: () => 't', fetch: async () => new Response(null, { status: 204 }) });
    await expect(client.del('/tenants/1')).resolves.toBeUndefined();
  });

  it('reads the node\'s own endpoints outside the API prefix', async () => {
    const fetch = vi.fn(async () => json(200, { node: 'n1' }));
    const client = new Client({ token: () => 't', fetch });
    await expect(client.getUrl('/cluster')).resolves.toEqual({ node: 'n1' });
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe('/cluster');
  });

  it('reads every page of a list', async () => {
    const pages: Record<string, unknown> = {
      '/api/v1/users?tenant_id=x&offset=0&limit=500': { items: [1, 2], next_offset: 2 },
      '/api/v1/users?tenant_id=x&offset=2&limit=500': { items: [3], next_offset: null },
    };
    const client = new Client({ token: () => 't', fetch: async (url: string) => json(200, pages[url]) });
    await expect(client.all('/users?tenant_id=x')).resolves.toEqual([1, 2, 3]);
  });
});

describe('dispositionFileName', () => {
  it('reads the quoted name the API sends, and the other forms of the header', () => {
    expect(dispositionFileName('attachment; filename="kaa-c-sdk-tok_1.tar.gz"')).toBe('kaa-c-sdk-tok_1.tar.gz');
    expect(dispositionFileName('attachment; filename=plain.tgz')).toBe('plain.tgz');
    expect(dispositionFileName('Attachment; FileName="Upper.tgz"')).toBe('Upper.tgz');
    expect(dispositionFileName('attachment; filename="a \\"b\\".txt"')).toBe('a "b".txt');
    expect(dispositionFileName(`attachment; filename="fallback.txt"; filename*=UTF-8''%C3%A9t%C3%A9.txt`)).toBe('été.txt');
  });
  it('keeps only the last path segment, and gives nothing without a name', () => {
    expect(dispositionFileName('attachment; filename="../../etc/passwd"')).toBe('passwd');
    expect(dispositionFileName('attachment; filename=C:\\x\\evil.exe')).toBe('evil.exe');
    expect(dispositionFileName('attachment')).toBeUndefined();
    expect(dispositionFileName('attachment; filename=""')).toBeUndefined();
    expect(dispositionFileName(null)).toBeUndefined();
  });
});

describe('Client.download', () => {
  const bytes = new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6]);
  /** A body that arrives in two chunks, as a stream. */
  const streamed = () =>
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 4));
        c.enqueue(bytes.slice(4));
        c.close();
      },
    });

  it('returns the bytes, the server\'s file name and headers, reporting progress', async () => {
    const fetch = vi.fn(
      async () =>
        new Response(streamed(), {
          status: 200,
          headers: {
            'Content-Type': 'application/gzip',
            'Content-Length': String(bytes.length),
            'Content-Disposition': 'attachment; filename="kaa-rust-sdk-T0k.tar.gz"',
            'X-Kaa-Sdk-Cache': 'miss',
          },
        }),
    );
    const client = new Client({ token: () => 'tok', fetch });
    const progress: [number, number | null][] = [];
    const file = await client.download('/applications/a/sdk-profiles/p/sdk?target=rust', 'fallback.tar.gz', (r, t) => progress.push([r, t]));
    expect(file.fileName).toBe('kaa-rust-sdk-T0k.tar.gz');
    expect(file.size).toBe(bytes.length);
    expect(file.blob.type).toBe('application/gzip');
    expect(new Uint8Array(await file.blob.arrayBuffer())).toEqual(bytes);
    expect(file.headers.get('X-Kaa-Sdk-Cache')).toBe('miss');
    expect(progress).toEqual([[0, 10], [4, 10], [10, 10]]);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/applications/a/sdk-profiles/p/sdk?target=rust');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok');
  });

  it('falls back to the given name and an unknown total', async () => {
    const client = new Client({ token: () => 't', fetch: async () => new Response(streamed(), { status: 200 }) });
    const totals: (number | null)[] = [];
    const file = await client.download('/x', 'kaa-c-sdk-t.tar.gz', (_, t) => totals.push(t));
    expect(file.fileName).toBe('kaa-c-sdk-t.tar.gz');
    expect(totals.every((t) => t === null)).toBe(true);
  });

  it('turns a JSON error into an ApiError naming its field, and ends the session on a 401', async () => {
    const onUnauthorized = vi.fn();
    const answers = [
      json(422, { error: 'invalid', message: 'must be rust, c or python', field: 'target' }),
      json(503, { error: 'no_bootstrap', message: 'no Bootstrap node is live' }),
      json(401, { error: 'unauthenticated', message: 'log in' }),
    ];
    const client = new Client({ token: () => 't', onUnauthorized, fetch: async () => answers.shift()! });
    await expect(client.download('/x', 'f')).rejects.toMatchObject({ status: 422, field: 'target', message: 'must be rust, c or python' });
    await expect(client.download('/x', 'f')).rejects.toMatchObject({ status: 503, code: 'no_bootstrap' });
    await expect(client.download('/x', 'f')).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('reports a body cut off midway as a network error', async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 3));
        c.error(new TypeError('network error'));
      },
    });
    const client = new Client({ token: () => 't', fetch: async () => new Response(broken, { status: 200 }) });
    await expect(client.download('/x', 'f')).rejects.toMatchObject({ code: 'network', status: 0 });
  });
});
