import { describe, expect, it } from 'vitest';
import { Client, type PageOf } from '../../src/api';
import { auditActionLabel, auditFailed, auditPath, auditWho, type AuditEntry } from '../../src/audit';

const entry = (over: Partial<AuditEntry>): AuditEntry => ({
  id: 'e1',
  at_ms: 1,
  action: 'change',
  method: 'POST',
  path: '/api/v1/tenants',
  status: 201,
  ...over,
});

describe('audit log', () => {
  it('asks for one page with only the filters that are set', async () => {
    const urls: string[] = [];
    const client = new Client({
      token: () => 't',
      fetch: async (url: string) => {
        urls.push(url);
        const page: PageOf<AuditEntry> = { items: [entry({})], next_offset: null };
        return new Response(JSON.stringify(page), { status: 200 });
      },
    });
    await client.get(auditPath({ action: 'login_failed', tenantId: 'acme 1', userId: null }, 50, 50));
    await client.get(auditPath({}, 0, 50));
    expect(urls).toEqual([
      '/api/v1/audit?tenant_id=acme+1&action=login_failed&offset=50&limit=50',
      '/api/v1/audit?offset=0&limit=50',
    ]);
  });

  it('names who acted, and a failed login of an unknown name as such', () => {
    expect(auditWho(entry({ username: 'boss', role: 'TENANT_ADMIN' }))).toBe('boss');
    expect(auditWho(entry({ action: 'login_failed', status: 401 }))).toBe('unknown user name');
    expect(auditActionLabel('login_failed')).toBe('Failed login');
    expect(auditActionLabel('something_new')).toBe('something_new');
    expect(auditFailed(entry({ status: 403 }))).toBe(true);
    expect(auditFailed(entry({ status: 204 }))).toBe(false);
  });
});
