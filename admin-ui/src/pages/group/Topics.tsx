// The topics attached to a group: its endpoints receive their notifications (mandatory topics)
// or may subscribe to them (optional topics).
import { useState } from 'react';
import { Badge, Button, Group, Select, Stack, Table } from '@mantine/core';
import { enc, type Topic } from '../../api';
import { useApp } from '../../context';
import { can } from '../../roles';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Link, Loading, useAction, useLoad } from '../../ui';

export function TopicKind({ kind }: { kind: string }) {
  return (
    <Badge variant="light" color={kind === 'mandatory' ? 'blue' : 'grape'}>
      {kind}
    </Badge>
  );
}

export function GroupTopicsTab({ appId, groupId }: { appId: string; groupId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const base = `/applications/${enc(appId)}`;
  const path = `${base}/groups/${enc(groupId)}/topics`;
  const attached = useLoad(() => client.get<Topic[]>(path), [client, path]);
  const topics = useLoad(() => client.all<Topic>(`${base}/topics`), [client, base]);
  const [choice, setChoice] = useState<string | null>(null);
  const action = useAction();

  const attachedIds = new Set((attached.data ?? []).map((t) => t.id));
  const available = (topics.data ?? []).filter((t) => !attachedIds.has(t.id));

  const attach = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!choice) return;
    if (await action.run(() => client.put(`${path}/${enc(choice)}`))) {
      setChoice(null);
      attached.reload();
    }
  };

  return (
    <Stack>
      <ErrorAlert error={attached.error ?? topics.error} />
      {writable && topics.data && (
        <form onSubmit={attach} aria-label="Attach topic">
          {topics.data.length === 0 ? (
            <Empty>
              The application has no topics yet; create one on its <Link to={`${base}/topics`}>Topics</Link> tab.
            </Empty>
          ) : (
            <Group align="flex-end" wrap="wrap">
              <Select
                label="Topic to attach"
                placeholder={available.length ? 'Choose a topic' : 'Every topic is attached'}
                data={available.map((t) => ({ value: t.id, label: `${t.name} (${t.kind})` }))}
                value={choice}
                onChange={setChoice}
                disabled={available.length === 0}
                w={280}
              />
              <Button type="submit" loading={action.busy} disabled={!choice}>
                Attach topic
              </Button>
            </Group>
          )}
          <ErrorAlert error={action.error} />
        </form>
      )}
      {attached.loading && !attached.data ? (
        <Loading />
      ) : attached.data?.length === 0 ? (
        <Empty>No topics attached to this group.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={480}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Topic</Table.Th>
                <Table.Th>Kind</Table.Th>
                <Table.Th>Created</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {attached.data?.map((t) => (
                <Table.Tr key={t.id} data-testid="group-topic-row">
                  <Table.Td>{t.name}</Table.Td>
                  <Table.Td>
                    <TopicKind kind={t.kind} />
                  </Table.Td>
                  <Table.Td>{formatTime(t.created_ms)}</Table.Td>
                  {writable && (
                    <Table.Td>
                      <ConfirmButton
                        label="Detach"
                        ariaLabel={`Detach topic ${t.name}`}
                        title="Detach topic"
                        message={`Detach topic “${t.name}” from this group? Its endpoints stop receiving its notifications.`}
                        confirmLabel="Detach"
                        onConfirm={() => client.del(`${path}/${enc(t.id)}`)}
                        onDone={attached.reload}
                      />
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
