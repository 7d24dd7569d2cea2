// The endpoints registered with an application, a page at a time, searchable on the loaded page
// by access token or key hash (in any of its forms), and opened directly by key hash.
import { useState } from 'react';
import { Badge, Button, Group, Stack, Table, Text, TextInput } from '@mantine/core';
import { enc, type Endpoint, type Group as EpGroup, type PageOf } from '../../api';
import { useApp } from '../../context';
import { groupNames } from '../../endpoints';
import { endpointMatches, shortKeyHash, toKeyHash } from '../../keys';
import { navigate } from '../../router';
import { Empty, ErrorAlert, formatTime, Link, Loading, Pager, useLoad } from '../../ui';
import { CredentialsBadge } from './Credentials';

const PAGE = 25;

export function EndpointsTab({ appId }: { appId: string }) {
  const { client } = useApp();
  const base = `/applications/${enc(appId)}`;
  const [offset, setOffset] = useState(0);
  const [query, setQuery] = useState('');
  const [open, setOpen] = useState('');
  const [openError, setOpenError] = useState<string | undefined>(undefined);
  const page = useLoad(() => client.get<PageOf<Endpoint>>(`${base}/endpoints?offset=${offset}&limit=${PAGE}`), [client, base, offset]);
  const groups = useLoad(() => client.all<EpGroup>(`${base}/groups`), [client, base]);
  const items = page.data?.items ?? [];
  const shown = items.filter((e) => endpointMatches(e, query));

  const openByHash = (e: React.FormEvent) => {
    e.preventDefault();
    const hash = toKeyHash(open);
    if (!hash) {
      setOpenError('Not a key hash: 20 bytes as Base64 (URL-safe or standard) or 40 hex digits');
      return;
    }
    navigate(`${base}/endpoints/${enc(hash)}`);
  };

  return (
    <Stack>
      <Group align="flex-start" justify="space-between" wrap="wrap">
        <TextInput
          label="Search this page"
          description="Access token or key hash (Base64 or hex), on the endpoints loaded below"
          placeholder="kitchen, rqwj3L…, ae0c23…"
          value={query}
          onChange={(e) => setQuery(e.currentTarget.value)}
          w={320}
          maw="100%"
          type="search"
        />
        <form onSubmit={openByHash} aria-label="Open endpoint by key hash">
          <TextInput
            label="Open by key hash"
            description="Any endpoint of the application, on any page"
            placeholder="URL-safe or standard Base64, or hex"
            value={open}
            onChange={(e) => {
              setOpenError(undefined);
              setOpen(e.currentTarget.value);
            }}
            error={openError}
            inputContainer={(input) => (
              <Group gap="xs" wrap="nowrap" align="flex-start">
                <div style={{ flex: 1 }}>{input}</div>
                <Button type="submit" variant="default">
                  Open
                </Button>
              </Group>
            )}
            w={340}
            maw="100%"
          />
        </form>
      </Group>
      <Group justify="space-between" wrap="wrap">
        <Text size="sm" c="dimmed">
          {page.data ? `${shown.length} of ${items.length} endpoints on this page${query.trim() ? ` match “${query.trim()}”` : ''}` : 'Loading endpoints'}
        </Text>
        <Button size="xs" variant="default" onClick={page.reload} loading={page.loading}>
          Refresh
        </Button>
      </Group>
      <ErrorAlert error={page.error ?? groups.error} />
      {page.loading && !page.data ? (
        <Loading />
      ) : items.length === 0 && offset === 0 ? (
        <Empty>
          No endpoint has registered with this application yet. An endpoint appears here after its first sync with an
          Operations node, using the SDK token of one of the application's SDK profiles.
        </Empty>
      ) : shown.length === 0 && items.length > 0 ? (
        <Empty>No endpoint on this page matches “{query.trim()}”.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={860}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Key hash</Table.Th>
                <Table.Th>Access token</Table.Th>
                <Table.Th>Groups</Table.Th>
                <Table.Th>Profile</Table.Th>
                <Table.Th>Credentials</Table.Th>
                <Table.Th>Node</Table.Th>
                <Table.Th>Last seen</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((ep) => (
                <Table.Tr key={ep.endpoint_key_hash} data-testid="endpoint-row">
                  <Table.Td>
                    <Link to={`${base}/endpoints/${enc(ep.endpoint_key_hash)}`}>
                      <Text span ff="monospace" size="sm" title={ep.endpoint_key_hash}>
                        {shortKeyHash(ep.endpoint_key_hash)}
                      </Text>
                    </Link>
                  </Table.Td>
                  <Table.Td>{ep.access_token || <Text c="dimmed">—</Text>}</Table.Td>
                  <Table.Td>
                    <Group gap={4}>
                      {groupNames(ep.groups, groups.data).map((g) => (
                        <Badge key={g.id} variant="outline" size="sm" tt="none">
                          {g.name}
                        </Badge>
                      ))}
                    </Group>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">
                      client v{ep.client_profile_version} · server v{ep.server_profile_version}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <CredentialsBadge status={ep.credentials_status} />
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" ff="monospace">
                      {ep.node_id ?? '—'}
                    </Text>
                  </Table.Td>
                  <Table.Td>{formatTime(ep.last_seen_ms)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {page.data && (
        <Pager offset={offset} shown={items.length} next={page.data.next_offset} pageSize={PAGE} onChange={setOffset} noun="endpoints" />
      )}
    </Stack>
  );
}
