// The audit log: logins, failed logins, logouts and every admin change, newest first. A Kaa admin
// sees every entry (and may narrow them to one tenant); a tenant admin sees its tenant's.
import { useState } from 'react';
import { Badge, Code, Group, Select, Stack, Table, Text, Title } from '@mantine/core';
import type { PageOf, Tenant } from '../api';
import { AUDIT_ACTIONS, auditActionLabel, auditFailed, auditPath, auditWho, type AuditEntry } from '../audit';
import { useApp } from '../context';
import { ROLE_LABELS } from '../roles';
import { Empty, ErrorAlert, formatTime, Loading, Pager, useLoad } from '../ui';

const PAGE = 50;

export function AuditPage() {
  const { client, session } = useApp();
  const isKaaAdmin = session.user.role === 'KAA_ADMIN';
  const [action, setAction] = useState<string | null>(null);
  const [tenantId, setTenantId] = useState<string | null>(null);
  const [offset, setOffset] = useState(0);
  const tenants = useLoad(
    () => (isKaaAdmin ? client.all<Tenant>('/tenants') : Promise.resolve([] as Tenant[])),
    [client, isKaaAdmin],
  );
  const page = useLoad(
    () => client.get<PageOf<AuditEntry>>(auditPath({ action, tenantId }, offset, PAGE)),
    [client, action, tenantId, offset],
  );
  const tenantName = (id?: string | null) =>
    id ? (tenants.data?.find((t) => t.id === id)?.name ?? id) : '—';
  const filter = <T,>(set: (v: T) => void) => (v: T) => {
    set(v);
    setOffset(0);
  };
  const items = page.data?.items ?? [];

  return (
    <Stack>
      <Title order={1} size="h2">
        Audit log
      </Title>
      <Text size="sm" c="dimmed">
        Logins, failed logins, logouts and every change made through the admin API, newest first.
        {isKaaAdmin ? ' Every tenant’s entries and the Kaa admins’.' : ' The entries of your tenant’s users.'}
      </Text>
      <Group align="flex-end" wrap="wrap">
        <Select
          label="Action"
          placeholder="Any action"
          data={AUDIT_ACTIONS}
          value={action}
          onChange={filter(setAction)}
          clearable
          w={200}
        />
        {isKaaAdmin && (
          <Select
            label="Tenant"
            placeholder="Every tenant"
            data={(tenants.data ?? []).map((t) => ({ value: t.id, label: t.name }))}
            value={tenantId}
            onChange={filter(setTenantId)}
            clearable
            searchable
            w={220}
          />
        )}
      </Group>
      <ErrorAlert error={page.error} />
      {page.loading && !page.data ? (
        <Loading />
      ) : items.length === 0 && offset === 0 ? (
        <Empty>No entries.</Empty>
      ) : (
        <>
          <Table.ScrollContainer minWidth={900}>
            <Table striped highlightOnHover aria-label="Audit log entries">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>When</Table.Th>
                  <Table.Th>Who</Table.Th>
                  {isKaaAdmin && <Table.Th>Tenant</Table.Th>}
                  <Table.Th>Action</Table.Th>
                  <Table.Th>Request</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>Record</Table.Th>
                  <Table.Th>From</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((e) => (
                  <Table.Tr key={e.id}>
                    <Table.Td>{formatTime(e.at_ms)}</Table.Td>
                    <Table.Td>
                      <Group gap={6} wrap="nowrap">
                        <Text size="sm">{auditWho(e)}</Text>
                        {e.role && (
                          <Badge variant="light" size="sm">
                            {ROLE_LABELS[e.role] ?? e.role}
                          </Badge>
                        )}
                      </Group>
                    </Table.Td>
                    {isKaaAdmin && <Table.Td>{tenantName(e.tenant_id)}</Table.Td>}
                    <Table.Td>{auditActionLabel(e.action)}</Table.Td>
                    <Table.Td>
                      <Code>
                        {e.method} {e.path}
                      </Code>
                    </Table.Td>
                    <Table.Td>
                      <Badge color={auditFailed(e) ? 'red' : 'green'} variant="light">
                        {e.status}
                      </Badge>
                    </Table.Td>
                    <Table.Td>{e.entity_id ? <Code>{e.entity_id}</Code> : '—'}</Table.Td>
                    <Table.Td>{e.address ?? '—'}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <Pager offset={offset} shown={items.length} next={page.data?.next_offset ?? null} pageSize={PAGE} onChange={setOffset} noun="entries" />
        </>
      )}
    </Stack>
  );
}
