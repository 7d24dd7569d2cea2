import { describe, expect, it } from 'vitest';
import { Client } from '../../src/api';
import { CHANGES_PAGE, loadChanges } from '../../src/changes';

const change = (seq: number) => ({ seq, entity: 'endpoint_group', entity_id: `g${seq}`, op: 'insert', created_ms: seq });

describe('loadChanges', () => {
  it('reads the change log in pages after the last sequence number seen', async () => {
    const urls: string[] = [];
    const total = CHANGES_PAGE + 5;
    const client = new Client({
      token: () => 't',
      fetch: async (url: string) => {
        urls.push(url);
        const since = Number(new URL(url, 'http://x').searchParams.get('since'));
        const items = [];
        for (let s = since + 1; s <= Math.min(total, since + CHANGES_PAGE); s++) items.push(change(s));
        return new Response(JSON.stringify(items), { status: 200 });
      },
    });
    const all = await loadChanges(client, 'app 1');
    expect(all).toHaveLength(total);
    expect(all[total - 1].seq).toBe(total);
    expect(urls).toEqual([
      `/api/v1/applications/app%201/changes?since=0&limit=${CHANGES_PAGE}`,
      `/api/v1/applications/app%201/changes?since=${CHANGES_PAGE}&limit=${CHANGES_PAGE}`,
    ]);
  });
});
