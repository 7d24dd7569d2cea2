import { describe, expect, it } from 'vitest';
import {
  chartRows, controlRole, hostPort, pushSample, sampleOf, seriesIds, seriesKey, since, totalEndpoints, transportRows, type ClusterView, type Sample,
  type SdkClusterNode,
} from '../../src/cluster';

const view = (ops: [string, number, number][], leader: string | null = 'a'): ClusterView => ({
  node: 'a',
  clustered: true,
  leader,
  this_node_leads: leader === 'a',
  nodes: [
    { id: 'a', services: ['control', 'operations'], admin_url: 'http://a:8080', thrift_host: 'a', thrift_port: 9090, started_ms: 0, version: '0.1.0' },
    { id: 'b', services: ['control'], admin_url: 'http://b:8080', thrift_host: 'b', thrift_port: 9090, started_ms: 0, version: '0.1.0' },
    { id: 'c', services: ['operations', 'bootstrap'], admin_url: 'http://c:8080', thrift_host: 'c', thrift_port: 9090, started_ms: 0, version: '0.1.0' },
  ],
  operations: ops.map(([id, endpoint_count, load_average]) => ({ id, thrift: `${id}:9090`, time_started: 0, transports: [], endpoint_count, load_average })),
  bootstrap: [],
  ring: ops.map(([id]) => id),
});
const s = (t: number, load: Record<string, number>): Sample => ({ t, load, endpoints: {} });

describe('rolling load window', () => {
  it('samples each Operations node', () => {
    expect(sampleOf(view([['a', 3, 0.5], ['c.example', 7, 1.25]]), 1000)).toEqual({
      t: 1000,
      load: { a: 0.5, 'c.example': 1.25 },
      endpoints: { a: 3, 'c.example': 7 },
    });
    expect(totalEndpoints(view([['a', 3, 0], ['c', 7, 0]]))).toBe(10);
  });

  it('keeps at most N samples, dropping the oldest', () => {
    let w: Sample[] = [];
    for (let t = 1; t <= 5; t++) w = pushSample(w, s(t * 1000, { a: t }), 3, 60_000);
    expect(w.map((x) => x.load.a)).toEqual([3, 4, 5]);
  });

  it('drops samples older than the window and restarts when the clock steps back', () => {
    const w = [s(0, { a: 1 }), s(50_000, { a: 2 })];
    expect(pushSample(w, s(70_000, { a: 3 }), 100, 60_000).map((x) => x.t)).toEqual([50_000, 70_000]);
    expect(pushSample(w, s(10_000, { a: 9 }), 100, 60_000).map((x) => x.t)).toEqual([10_000]);
    expect(w).toHaveLength(2); // the window given is not changed
  });

  it('charts every node seen, with gaps where a node was absent', () => {
    const w = [s(0, { a: 1 }), s(3000, { a: 2, 'c.example': 5 }), s(6000, { 'c.example': 6 })];
    const ids = seriesIds(w);
    expect(ids).toEqual(['a', 'c.example']);
    const rows = chartRows(w, 'load', ids);
    expect(rows.map((r) => [r[seriesKey(0)], r[seriesKey(1)]])).toEqual([
      [1, null],
      [2, 5],
      [null, 6],
    ]);
    expect(rows[0].time).toMatch(/^\d\d:\d\d:\d\d$/);
  });
});

describe('controlRole', () => {
  it('tells the leader from standbys and nodes without Control', () => {
    const v = view([]);
    expect(v.nodes.map((n) => controlRole(n, v))).toEqual(['leader', 'standby', 'none']);
    const leaderless = view([], null);
    expect(controlRole(leaderless.nodes[0], leaderless)).toBe('standby');
  });
});

describe('since', () => {
  it('puts an uptime in words', () => {
    expect(since(0, 42_000)).toBe('42 s');
    expect(since(0, 125_000)).toBe('2 min 5 s');
    expect(since(0, 3 * 3600_000 + 60_000)).toBe('3 h 1 min');
    expect(since(0, 2 * 86400_000 + 3600_000)).toBe('2 d 1 h');
    expect(since(10_000, 0)).toBe('0 s');
  });
});

describe('transportRows', () => {
  const node = (id: string, extra: Partial<SdkClusterNode>): SdkClusterNode => ({
    id, services: [], admin_url: '', thrift: '', version: '0.1.0', leader: false, ...extra,
  });
  it('lists every endpoint transport by node, Bootstrap first, with Kaa\'s protocol names', () => {
    const rows = transportRows({
      nodes: [
        node('n2', { operations: { transports: [{ protocol: 'http', host: '::1', port: 9889, public_key: 'K2' }] } }),
        node('n1', {
          operations: { transports: [{ protocol: 'tcp', host: 'ops.example', port: 9997, public_key: 'K1' }] },
          bootstrap: {
            transports: [
              { protocol: 'tcp', host: 'bs.example', port: 9888, public_key: 'K1' },
              { protocol: 'http', host: 'bs.example', port: 9889, public_key: 'K1' },
            ],
          },
        }),
        node('n3', { operations: null, bootstrap: null }),
      ],
    });
    expect(rows).toEqual([
      { node: 'n1', service: 'Bootstrap', protocol: 'Kaatcp', address: 'bs.example:9888', publicKey: 'K1' },
      { node: 'n1', service: 'Bootstrap', protocol: 'HTTP', address: 'bs.example:9889', publicKey: 'K1' },
      { node: 'n1', service: 'Operations', protocol: 'Kaatcp', address: 'ops.example:9997', publicKey: 'K1' },
      { node: 'n2', service: 'Operations', protocol: 'HTTP', address: '[::1]:9889', publicKey: 'K2' },
    ]);
    expect(transportRows({ nodes: [] })).toEqual([]);
  });
  it('brackets IPv6 hosts only', () => {
    expect(hostPort('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(hostPort('fe80::1', 80)).toBe('[fe80::1]:80');
  });
});
