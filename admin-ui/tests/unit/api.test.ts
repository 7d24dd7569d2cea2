import { describe, expect, it, vi } from 'vitest';
import { ApiError, Client, errorText, fieldError, isFieldError, toApiError } from '../../src/api';

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
