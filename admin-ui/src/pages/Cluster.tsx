// The cluster as this node sees it (`GET /cluster` on the admin port), polled every few seconds:
// nodes with their services and Control role, Operations load and endpoint counts over a rolling
// window kept in memory while the page is open, Bootstrap nodes and the hash ring; and every
// node's endpoint transports with its public key's fingerprint (`GET /api/v1/cluster`), which is
// what generated SDKs embed.
import { useEffect, useMemo, useRef, useState } from 'react';
import { LineChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { Badge, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import {
  chartRows, clock, controlRole, POLL_MS, pushSample, sampleOf, seriesIds, seriesKey, since, totalEndpoints, transportRows,
  type ClusterView, type Sample, type SdkClusterView, type Transport,
} from '../cluster';
import { useApp } from '../context';
import { publicKeyFingerprint, shortPublicKey } from '../keys';
import { Empty, ErrorAlert, formatTime, Loading, Token } from '../ui';

const COLORS = ['blue.6', 'teal.6', 'orange.6', 'grape.6', 'red.6', 'cyan.6', 'lime.7', 'pink.6'];

const ROLE_BADGES = {
  leader: { color: 'green', label: 'Control leader' },
  standby: { color: 'yellow', label: 'Control standby' },
  none: { color: 'gray', label: 'no Control' },
} as const;

function useClusterPoll() {
  const { client } = useApp();
  const [view, setView] = useState<ClusterView | null>(null);
  const [endpointView, setEndpointView] = useState<SdkClusterView | null>(null);
  const [endpointError, setEndpointError] = useState<unknown>(undefined);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const [updated, setUpdated] = useState<number | null>(null);
  const live = useRef(true);

  useEffect(() => {
    live.current = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      // The node's live view and the API's transports are read side by side; either may fail alone.
      const [nodeView, endpoints] = await Promise.allSettled([
        client.getUrl<ClusterView>('/cluster'),
        client.get<SdkClusterView>('/cluster'),
      ]);
      if (!live.current) return;
      if (nodeView.status === 'fulfilled') {
        const v = nodeView.value;
        const now = Date.now();
        setView(v);
        setSamples((w) => pushSample(w, sampleOf(v, now)));
        setUpdated(now);
        setError(undefined);
      } else {
        setError(nodeView.reason);
      }
      if (endpoints.status === 'fulfilled') {
        setEndpointView(endpoints.value);
        setEndpointError(undefined);
      } else {
        setEndpointError(endpoints.reason);
      }
      timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => {
      live.current = false;
      clearTimeout(timer);
    };
  }, [client]);
  return { view, samples, error, updated, endpointView, endpointError };
}

export function ClusterPage() {
  const { view, samples, error, updated, endpointView, endpointError } = useClusterPoll();
  const transportList = useMemo(() => (endpointView ? transportRows(endpointView) : []), [endpointView]);
  const ids = useMemo(() => seriesIds(samples), [samples]);
  const series = ids.map((id, i) => ({ name: seriesKey(i), label: id, color: COLORS[i % COLORS.length] }));
  const loadRows = useMemo(() => chartRows(samples, 'load', ids), [samples, ids]);
  const endpointRows = useMemo(() => chartRows(samples, 'endpoints', ids), [samples, ids]);
  const now = updated ?? Date.now();

  return (
    <Stack>
      <Group justify="space-between" align="baseline" wrap="wrap">
        <Title order={1} size="h2">
          Cluster
        </Title>
        <Text size="sm" c="dimmed" aria-live="polite" data-testid="cluster-updated">
          {updated ? `Updated ${clock(updated)} · every ${POLL_MS / 1000} s` : 'Connecting…'}
        </Text>
      </Group>
      {error !== undefined && <ErrorAlert error={error} title="Cannot read the cluster state; retrying" />}
      {!view ? (
        error === undefined && <Loading />
      ) : (
        <>
          <SimpleGrid cols={{ base: 2, sm: 4 }}>
            <Stat label="Nodes" value={view.nodes.length} />
            <Stat label="Control leader" value={view.leader ?? 'none'} />
            <Stat label="Operations nodes" value={view.operations.length} />
            <Stat label="Endpoints" value={totalEndpoints(view)} testId="cluster-endpoints" />
          </SimpleGrid>
          <Text size="sm" c="dimmed">
            Seen from node {view.node}
            {view.clustered ? ' (clustered through ZooKeeper)' : ' (standalone)'}
            {view.this_node_leads ? ', which leads Control.' : '.'}
          </Text>

          <Title order={2} size="h3">
            Nodes
          </Title>
          {view.nodes.length === 0 ? (
            <Empty>No nodes registered.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={760}>
              <Table striped data-testid="cluster-nodes">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Node</Table.Th>
                    <Table.Th>Role</Table.Th>
                    <Table.Th>Services</Table.Th>
                    <Table.Th>Admin URL</Table.Th>
                    <Table.Th>Thrift</Table.Th>
                    <Table.Th>Up</Table.Th>
                    <Table.Th>Version</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {view.nodes.map((n) => {
                    const role = ROLE_BADGES[controlRole(n, view)];
                    return (
                      <Table.Tr key={n.id} data-testid="cluster-node-row">
                        <Table.Td>{n.id}</Table.Td>
                        <Table.Td>
                          <Badge color={role.color} variant="light">
                            {role.label}
                          </Badge>
                        </Table.Td>
                        <Table.Td>
                          <Group gap={4}>
                            {n.services.map((s) => (
                              <Badge key={s} variant="outline" size="sm">
                                {s}
                              </Badge>
                            ))}
                          </Group>
                        </Table.Td>
                        <Table.Td>{n.admin_url}</Table.Td>
                        <Table.Td>
                          {n.thrift_host}:{n.thrift_port}
                        </Table.Td>
                        <Table.Td title={formatTime(n.started_ms)}>{since(n.started_ms, now)}</Table.Td>
                        <Table.Td>{n.version}</Table.Td>
                      </Table.Tr>
                    );
                  })}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}

          <Title order={2} size="h3">
            Operations load
          </Title>
          {view.operations.length === 0 && ids.length === 0 ? (
            <Empty>No Operations node is running.</Empty>
          ) : (
            <SimpleGrid cols={{ base: 1, md: 2 }}>
              <Paper withBorder p="sm">
                <Text size="sm" fw={600} mb="xs" id="load-chart-title">
                  Load average
                </Text>
                <div role="img" aria-labelledby="load-chart-title" data-testid="load-chart">
                  <LineChart
                    h={220}
                    data={loadRows}
                    dataKey="time"
                    series={series}
                    curveType="linear"
                    withDots={false}
                    withLegend
                    connectNulls={false}
                    tickLine="y"
                    xAxisProps={{ minTickGap: 40 }}
                    lineProps={{ isAnimationActive: false }}
                  />
                </div>
              </Paper>
              <Paper withBorder p="sm">
                <Text size="sm" fw={600} mb="xs" id="endpoints-chart-title">
                  Connected endpoints
                </Text>
                <div role="img" aria-labelledby="endpoints-chart-title">
                  <LineChart
                    h={220}
                    data={endpointRows}
                    dataKey="time"
                    series={series}
                    curveType="step"
                    withDots={false}
                    withLegend
                    connectNulls={false}
                    tickLine="y"
                    xAxisProps={{ minTickGap: 40 }}
                    yAxisProps={{ allowDecimals: false }}
                    lineProps={{ isAnimationActive: false }}
                  />
                </div>
              </Paper>
            </SimpleGrid>
          )}
          {view.operations.length > 0 && (
            <Table.ScrollContainer minWidth={640}>
              <Table striped data-testid="cluster-operations">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Operations node</Table.Th>
                    <Table.Th>Endpoints</Table.Th>
                    <Table.Th>Load average</Table.Th>
                    <Table.Th>Thrift</Table.Th>
                    <Table.Th>Transports</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {view.operations.map((o) => (
                    <Table.Tr key={o.id}>
                      <Table.Td>{o.id}</Table.Td>
                      <Table.Td>{o.endpoint_count}</Table.Td>
                      <Table.Td>{o.load_average.toFixed(2)}</Table.Td>
                      <Table.Td>{o.thrift}</Table.Td>
                      <Table.Td>{transports(o.transports)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}

          <Title order={2} size="h3">
            Bootstrap
          </Title>
          {view.bootstrap.length === 0 ? (
            <Empty>No Bootstrap node is running.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={480}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Bootstrap node</Table.Th>
                    <Table.Th>Thrift</Table.Th>
                    <Table.Th>Transports</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {view.bootstrap.map((b) => (
                    <Table.Tr key={b.id}>
                      <Table.Td>{b.id}</Table.Td>
                      <Table.Td>{b.thrift}</Table.Td>
                      <Table.Td>{transports(b.transports)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
          <Text size="sm" c="dimmed">
            Hash ring: {view.ring.length ? view.ring.join(', ') : 'empty'}
          </Text>

          <Title order={2} size="h3">
            Endpoint transports
          </Title>
          <Text size="sm" c="dimmed">
            Where endpoints connect, with each node's public key: generated SDKs carry the Bootstrap rows in their
            bootstrap list. The fingerprint is the SHA-256 of the key's DER (<code>openssl dgst -sha256 -c</code>).
          </Text>
          {endpointError !== undefined && <ErrorAlert error={endpointError} title="Cannot read the endpoint transports; retrying" />}
          {!endpointView ? (
            endpointError === undefined && <Loading />
          ) : transportList.length === 0 ? (
            <Empty>No node serves endpoints right now.</Empty>
          ) : (
            <Table.ScrollContainer minWidth={640}>
              <Table striped data-testid="cluster-transports">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Node</Table.Th>
                    <Table.Th>Service</Table.Th>
                    <Table.Th>Protocol</Table.Th>
                    <Table.Th>Address</Table.Th>
                    <Table.Th>Public key</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {transportList.map((t) => (
                    <Table.Tr key={`${t.node} ${t.service} ${t.protocol} ${t.address}`} data-testid="cluster-transport-row">
                      <Table.Td>{t.node}</Table.Td>
                      <Table.Td>{t.service}</Table.Td>
                      <Table.Td>{t.protocol}</Table.Td>
                      <Table.Td>{t.address}</Table.Td>
                      <Table.Td>
                        <KeyFingerprint node={t.node} publicKey={t.publicKey} />
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
        </>
      )}
    </Stack>
  );
}

function transports(list: Transport[]): string {
  return list.length ? list.map((t) => `${t.host}:${t.port}`).join(', ') : '—';
}

/** A node's public key by its fingerprint (the start and end of the key where the browser cannot
 *  hash), with the whole key on hover and a copy button. */
function KeyFingerprint({ node, publicKey }: { node: string; publicKey: string }) {
  const [fingerprint, setFingerprint] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    publicKeyFingerprint(publicKey).then(
      (f) => live && setFingerprint(f),
      () => live && setFingerprint(null),
    );
    return () => {
      live = false;
    };
  }, [publicKey]);
  return <Token value={publicKey} label={`public key of ${node}`} display={fingerprint ?? shortPublicKey(publicKey)} />;
}

function Stat({ label, value, testId }: { label: string; value: string | number; testId?: string }) {
  return (
    <Paper withBorder p="sm">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="lg" fw={700} data-testid={testId} style={{ overflowWrap: 'anywhere' }}>
        {value}
      </Text>
    </Paper>
  );
}
