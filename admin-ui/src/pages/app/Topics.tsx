// The application's notification topics, and sending a notification to one (it gets the topic's
// next sequence number). Attaching topics to groups happens on a group's page.
import { useState } from 'react';
import { Button, Group, Modal, SegmentedControl, Stack, Table, Text, TextInput } from '@mantine/core';
import { enc, fieldError, isFieldError, type Topic } from '../../api';
import { useApp } from '../../context';
import { can } from '../../roles';
import { Empty, ErrorAlert, formatTime, Loading, useAction, useLoad } from '../../ui';
import { TopicKind } from '../group/Topics';
import { NotificationSender } from './Notify';

export function TopicsTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const path = `/applications/${enc(appId)}/topics`;
  const topics = useLoad(() => client.all<Topic>(path), [client, path]);
  const [name, setName] = useState('');
  const [kind, setKind] = useState('mandatory');
  const [sending, setSending] = useState<Topic | null>(null);
  const action = useAction();

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    if (await action.run(() => client.post(path, { name: name.trim(), kind }))) {
      setName('');
      topics.reload();
    }
  };

  return (
    <Stack>
      {writable && (
        <form onSubmit={create} aria-label="New topic">
          <Group align="flex-end" wrap="wrap">
            <TextInput label="Topic name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(action.error, 'name')} required w={240} />
            <Stack gap={4}>
              <Text size="sm" fw={500} id="topic-kind-label">
                Kind
              </Text>
              <SegmentedControl
                aria-labelledby="topic-kind-label"
                value={kind}
                onChange={setKind}
                data={[
                  { value: 'mandatory', label: 'Mandatory' },
                  { value: 'optional', label: 'Optional' },
                ]}
              />
            </Stack>
            <Button type="submit" loading={action.busy}>
              Create topic
            </Button>
          </Group>
          {!isFieldError(action.error, ['name']) && <ErrorAlert error={action.error} />}
        </form>
      )}
      <Text size="sm" c="dimmed">
        Mandatory topics reach every endpoint of the groups they are attached to; endpoints subscribe to optional ones.
        Attach topics to groups on a group's Topics tab.
      </Text>
      <ErrorAlert error={topics.error} />
      {topics.loading && !topics.data ? (
        <Loading />
      ) : topics.data?.length === 0 ? (
        <Empty>No topics yet.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={480}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Kind</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Id</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {topics.data?.map((t) => (
                <Table.Tr key={t.id} data-testid="topic-row">
                  <Table.Td>{t.name}</Table.Td>
                  <Table.Td>
                    <TopicKind kind={t.kind} />
                  </Table.Td>
                  <Table.Td>{formatTime(t.created_ms)}</Table.Td>
                  <Table.Td>
                    <Text size="xs" c="dimmed" ff="monospace">
                      {t.id}
                    </Text>
                  </Table.Td>
                  {writable && (
                    <Table.Td>
                      <Button size="xs" variant="light" onClick={() => setSending(t)} aria-label={`Send notification to ${t.name}`}>
                        Send notification
                      </Button>
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <Modal opened={!!sending} onClose={() => setSending(null)} title={`Send a notification to topic “${sending?.name ?? ''}”`} size="lg">
        {sending && (
          <Stack>
            <Text size="sm" c="dimmed">
              Every endpoint receiving the topic gets it: pushed to connected ones, at the next sync to the others, until it
              expires.
            </Text>
            <NotificationSender appId={appId} path={`${path}/${enc(sending.id)}/notifications`} topicName={sending.name} label="Topic notification" />
          </Stack>
        )}
      </Modal>
    </Stack>
  );
}
