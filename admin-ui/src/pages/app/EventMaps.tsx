// The application's event maps: one version of a tenant's event class family each, with what the
// application's endpoints do with every event class (send it, receive it, or both).
import { useState } from 'react';
import { Badge, Button, Group, Paper, SegmentedControl, Select, Stack, Table, Text, Title } from '@mantine/core';
import { enc, fieldError, isFieldError, type EventMap, type Family, type FamilyVersion } from '../../api';
import { useApp } from '../../context';
import { eventMapBody } from '../../forms';
import { can } from '../../roles';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Link, Loading, useAction, useLoad } from '../../ui';

const ACTIONS = [
  { value: '', label: 'None' },
  { value: 'source', label: 'Source' },
  { value: 'sink', label: 'Sink' },
  { value: 'both', label: 'Both' },
];

export function EventMapsTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const path = `/applications/${enc(appId)}/event-maps`;
  const maps = useLoad(() => client.all<EventMap>(path), [client, path]);

  return (
    <Stack>
      <Text size="sm" c="dimmed">
        Source: endpoints send the event; sink: they receive it. Event class families are defined tenant-wide on the{' '}
        <Link to="/event-families">Event families</Link> page.
      </Text>
      <ErrorAlert error={maps.error} />
      {maps.loading && !maps.data ? (
        <Loading />
      ) : maps.data?.length === 0 ? (
        <Empty>No event maps: the application's endpoints exchange no events.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={640}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Family</Table.Th>
                <Table.Th>Version</Table.Th>
                <Table.Th>Event classes</Table.Th>
                <Table.Th>Created</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {maps.data?.map((m) => (
                <Table.Tr key={m.id} data-testid="event-map-row">
                  <Table.Td>
                    <Link to={`/event-families/${enc(m.family_id)}`}>{m.family_name}</Link>
                  </Table.Td>
                  <Table.Td>v{m.version}</Table.Td>
                  <Table.Td>
                    <Stack gap={2}>
                      {Object.entries(m.actions).map(([fqn, action]) => (
                        <Group key={fqn} gap={6} wrap="nowrap">
                          <Text size="xs" ff="monospace">
                            {fqn}
                          </Text>
                          <Badge size="xs" variant="light">
                            {action}
                          </Badge>
                        </Group>
                      ))}
                      {Object.keys(m.actions).length === 0 && '—'}
                    </Stack>
                  </Table.Td>
                  <Table.Td>{formatTime(m.created_ms)}</Table.Td>
                  {writable && (
                    <Table.Td>
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete event map ${m.family_name} v${m.version}`}
                        title="Delete event map"
                        message={`Remove the map of “${m.family_name}” v${m.version} from this application?`}
                        onConfirm={() => client.del(`${path}/${enc(m.id)}`)}
                        onDone={maps.reload}
                      />
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {writable && <NewEventMap path={path} onDone={maps.reload} />}
    </Stack>
  );
}

function NewEventMap({ path, onDone }: { path: string; onDone: () => void }) {
  const { client } = useApp();
  const families = useLoad(() => client.all<Family>('/event-families'), [client]);
  const [familyId, setFamilyId] = useState<string | null>(null);
  const versions = useLoad(
    () => (familyId ? client.all<FamilyVersion>(`/event-families/${enc(familyId)}/versions`) : Promise.resolve([] as FamilyVersion[])),
    [client, familyId],
  );
  const [version, setVersion] = useState<string | null>(null);
  const [actions, setActions] = useState<Record<string, string>>({});
  const action = useAction();
  const chosen = versions.data?.find((v) => String(v.version) === version);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!familyId || !chosen) return;
    if (await action.run(() => client.post(path, eventMapBody(familyId, chosen.version, actions)))) {
      setActions({});
      setVersion(null);
      onDone();
    }
  };

  if (families.error) return <ErrorAlert error={families.error} />;
  if (!families.data) return <Loading />;
  if (families.data.length === 0)
    return (
      <Empty>
        No event class families in this tenant yet: create one on the <Link to="/event-families">Event families</Link> page first.
      </Empty>
    );
  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="New event map">
        <Stack>
          <Title order={2} size="h4">
            Map an event class family
          </Title>
          <Group align="flex-start" wrap="wrap">
            <Select
              label="Event class family"
              placeholder="Choose a family"
              data={families.data.map((f) => ({ value: f.id, label: f.name }))}
              value={familyId}
              onChange={(v) => {
                setFamilyId(v);
                setVersion(null);
                setActions({});
              }}
              error={fieldError(action.error, 'family_id')}
              w={260}
            />
            <Select
              label="Family version"
              placeholder={familyId && versions.data?.length === 0 ? 'The family has no versions' : 'Choose a version'}
              data={(versions.data ?? []).map((v) => ({ value: String(v.version), label: `v${v.version} (${v.classes.length} ${v.classes.length === 1 ? 'class' : 'classes'})` }))}
              value={version}
              onChange={(v) => {
                setVersion(v);
                setActions({});
              }}
              error={fieldError(action.error, 'version')}
              disabled={!familyId || !versions.data?.length}
              w={220}
            />
          </Group>
          <ErrorAlert error={versions.error} />
          {chosen && (
            <Table.ScrollContainer minWidth={520}>
              <Table>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Class</Table.Th>
                    <Table.Th>Kind</Table.Th>
                    <Table.Th>Action</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {chosen.classes.map((c) => (
                    <Table.Tr key={c.fqn}>
                      <Table.Td>
                        <Text size="sm" ff="monospace">
                          {c.fqn}
                        </Text>
                      </Table.Td>
                      <Table.Td>{c.kind}</Table.Td>
                      <Table.Td>
                        {c.kind === 'event' ? (
                          <Stack gap={2}>
                            <SegmentedControl
                              size="xs"
                              aria-label={`Action for ${c.fqn}`}
                              data={ACTIONS}
                              value={actions[c.fqn] ?? ''}
                              onChange={(v) => setActions((a) => ({ ...a, [c.fqn]: v }))}
                            />
                            {fieldError(action.error, `actions.${c.fqn}`) && (
                              <Text size="xs" c="red">
                                {fieldError(action.error, `actions.${c.fqn}`)}
                              </Text>
                            )}
                          </Stack>
                        ) : (
                          <Text size="xs" c="dimmed">
                            carried by events
                          </Text>
                        )}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
          <Group>
            <Button type="submit" loading={action.busy} disabled={!chosen}>
              Add event map
            </Button>
          </Group>
          {!isFieldError(action.error, [
            'family_id',
            'version',
            ...(chosen?.classes.filter((c) => c.kind === 'event').map((c) => `actions.${c.fqn}`) ?? []),
          ]) && <ErrorAlert error={action.error} />}
        </Stack>
      </form>
    </Paper>
  );
}
