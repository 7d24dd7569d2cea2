// The application's change log (`GET …/changes?since=`): every change Operations nodes must know
// about, with the application's sequence number, newest first.
import { Badge, Button, Group, Stack, Table, Text } from '@mantine/core';
import { loadChanges } from '../../changes';
import { useApp } from '../../context';
import { Empty, ErrorAlert, formatTime, Loading, useLoad } from '../../ui';

const OP_COLORS: Record<string, string> = { insert: 'green', update: 'blue', delete: 'red', activate: 'teal', deactivate: 'orange' };

export function ChangesTab({ appId }: { appId: string }) {
  const { client } = useApp();
  const changes = useLoad(() => loadChanges(client, appId), [client, appId]);
  const rows = [...(changes.data ?? [])].reverse();

  return (
    <Stack>
      <Group justify="space-between" wrap="wrap">
        <Text size="sm" c="dimmed">
          {changes.data ? `${changes.data.length} changes, newest first` : 'Loading the change log'}
        </Text>
        <Button size="xs" variant="default" onClick={changes.reload} loading={changes.loading}>
          Refresh
        </Button>
      </Group>
      <ErrorAlert error={changes.error} />
      {changes.loading && !changes.data ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>No changes recorded.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={640}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Seq</Table.Th>
                <Table.Th>When</Table.Th>
                <Table.Th>What</Table.Th>
                <Table.Th>Operation</Table.Th>
                <Table.Th>Id</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((c) => (
                <Table.Tr key={c.seq} data-testid="change-row">
                  <Table.Td>{c.seq}</Table.Td>
                  <Table.Td>{formatTime(c.created_ms)}</Table.Td>
                  <Table.Td>{c.entity.replace(/_/g, ' ')}</Table.Td>
                  <Table.Td>
                    <Badge variant="light" color={OP_COLORS[c.op] ?? 'gray'}>
                      {c.op}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" c="dimmed" ff="monospace">
                      {c.entity_id}
                    </Text>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
