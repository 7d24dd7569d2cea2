// The cluster page's model: the JSON of `GET /cluster` on the admin port (node/src/admin.rs), a
// rolling window of Operations load samples kept in memory while the page is open, and the
// endpoint transports with their public keys from `GET /api/v1/cluster` (what generated SDKs embed).

export interface ClusterNode {
  id: string;
  services: string[];
  admin_url: string;
  thrift_host: string;
  thrift_port: number;
  started_ms: number;
  version: string;
}
export interface Transport {
  id: number;
  version: number;
  host: string;
  port: number;
}
export interface BootstrapRecord {
  id: string;
  thrift: string;
  time_started: number;
  transports: Transport[];
}
export interface OperationsRecord extends BootstrapRecord {
  endpoint_count: number;
  load_average: number;
}
export interface ClusterView {
  /** The node that answered. */
  node: string;
  clustered: boolean;
  leader: string | null;
  this_node_leads: boolean;
  nodes: ClusterNode[];
  operations: OperationsRecord[];
  bootstrap: BootstrapRecord[];
  ring: string[];
}

/** One poll's Operations figures, by node id. */
export interface Sample {
  t: number;
  load: Record<string, number>;
  endpoints: Record<string, number>;
}

export const POLL_MS = 3000;
/** Five minutes of samples at one every three seconds. */
export const WINDOW_SAMPLES = 100;
export const WINDOW_MS = 5 * 60 * 1000;

export function sampleOf(view: ClusterView, t: number): Sample {
  const load: Record<string, number> = {};
  const endpoints: Record<string, number> = {};
  for (const o of view.operations ?? []) {
    load[o.id] = o.load_average;
    endpoints[o.id] = o.endpoint_count;
  }
  return { t, load, endpoints };
}

/**
 * The window with `sample` appended, keeping at most `maxSamples` samples no older than `maxAgeMs`
 * before it. A sample older than the window's last (a clock step back) restarts the window.
 */
export function pushSample(
  window: readonly Sample[],
  sample: Sample,
  maxSamples = WINDOW_SAMPLES,
  maxAgeMs = WINDOW_MS,
): Sample[] {
  const last = window[window.length - 1];
  const kept = last && sample.t < last.t ? [] : window.filter((s) => sample.t - s.t <= maxAgeMs);
  const next = [...kept, sample];
  return next.length > maxSamples ? next.slice(next.length - maxSamples) : next;
}

/** Every Operations node seen in the window, in order of first appearance. */
export function seriesIds(window: readonly Sample[]): string[] {
  const ids: string[] = [];
  for (const s of window) for (const id of Object.keys(s.load)) if (!ids.includes(id)) ids.push(id);
  return ids;
}

/** Chart data keys: node ids may hold dots, which the chart would read as paths. */
export const seriesKey = (index: number) => `n${index}`;

export type ChartRow = { time: string } & Record<string, number | string | null>;

/** Rows for a line chart of `metric`, one per sample; a node absent from a sample gives a gap. */
export function chartRows(window: readonly Sample[], metric: 'load' | 'endpoints', ids: string[]): ChartRow[] {
  return window.map((s) => {
    const row: ChartRow = { time: clock(s.t) };
    ids.forEach((id, i) => {
      const v = s[metric][id];
      row[seriesKey(i)] = v === undefined ? null : v;
    });
    return row;
  });
}

export function clock(t: number): string {
  const d = new Date(t);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export type ControlRole = 'leader' | 'standby' | 'none';

/** A node's Control role: the elected leader, a standby Control, or no Control service. */
export function controlRole(node: ClusterNode, view: Pick<ClusterView, 'leader'>): ControlRole {
  if (!node.services.includes('control')) return 'none';
  return node.id === view.leader ? 'leader' : 'standby';
}

export function totalEndpoints(view: ClusterView): number {
  return (view.operations ?? []).reduce((n, o) => n + (o.endpoint_count ?? 0), 0);
}

/** How long ago `ms` was, in words (uptime of a node). */
export function since(ms: number, now: number): string {
  let s = Math.max(0, Math.floor((now - ms) / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

// ---- endpoint transports (`GET /api/v1/cluster`) ----

/** A transport a node serves endpoints on. */
export interface EndpointTransport {
  /** `tcp` (Kaatcp) or `http`. */
  protocol: string;
  host: string;
  port: number;
  /** The node's RSA public key, standard Base64 of the X.509 DER. */
  public_key: string;
}
export interface EndpointService {
  transports: EndpointTransport[];
}
export interface SdkClusterNode {
  id: string;
  services: string[];
  admin_url: string;
  thrift: string;
  version: string;
  leader: boolean;
  operations?: EndpointService | null;
  bootstrap?: EndpointService | null;
}
export interface SdkClusterView {
  nodes: SdkClusterNode[];
}

/** One row of the transports table. */
export interface TransportRow {
  node: string;
  service: 'Bootstrap' | 'Operations';
  /** Kaatcp, HTTP, or the API's word for another. */
  protocol: string;
  /** host:port ([v6]:port). */
  address: string;
  publicKey: string;
}

export const protocolLabel = (protocol: string) => (protocol === 'tcp' ? 'Kaatcp' : protocol === 'http' ? 'HTTP' : protocol);

/** `host:port`, with brackets around an IPv6 host. */
export const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** Every endpoint transport of the cluster, by node id, Bootstrap (what SDKs embed) before Operations. */
export function transportRows(view: SdkClusterView): TransportRow[] {
  const rows: TransportRow[] = [];
  const nodes = [...(view.nodes ?? [])].sort((a, b) => a.id.localeCompare(b.id));
  for (const node of nodes) {
    for (const [service, info] of [['Bootstrap', node.bootstrap], ['Operations', node.operations]] as const) {
      for (const t of info?.transports ?? [])
        rows.push({ node: node.id, service, protocol: protocolLabel(t.protocol), address: hostPort(t.host, t.port), publicKey: t.public_key });
    }
  }
  return rows;
}
