// The application's log appenders: where endpoint logs go (file, REST, MongoDB, Cassandra), with
// each type's settings, the log schema versions taken, delivery confirmation and header fields.
import { useState } from 'react';
import {
  ActionIcon, Autocomplete, Badge, Button, Checkbox, Group, Paper, Select, Stack, Table, Text, TextInput, Title,
} from '@mantine/core';
import { ApiError, enc, fieldError, isFieldError, type Appender } from '../../api';
import { useApp } from '../../context';
import {
  APPENDER_TYPES, appenderBody, appenderFieldNames, emptyAppenderForm, HEADER_FIELDS, settingsSummary,
  type AppenderForm, type AppenderType,
} from '../../forms';
import { can } from '../../roles';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Loading, useAction, useLoad } from '../../ui';

const COLUMN_SOURCES = ['record', ...HEADER_FIELDS.map((h) => `header.${h}`), 'record.'];

export function AppendersTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const path = `/applications/${enc(appId)}/log-appenders`;
  const appenders = useLoad(() => client.all<Appender>(path), [client, path]);

  return (
    <Stack>
      <ErrorAlert error={appenders.error} />
      {appenders.loading && !appenders.data ? (
        <Loading />
      ) : appenders.data?.length === 0 ? (
        <Empty>No log appenders: endpoint logs are not stored anywhere yet.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={860}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Log schemas</Table.Th>
                <Table.Th>Confirms delivery</Table.Th>
                <Table.Th>Header fields</Table.Th>
                <Table.Th>Settings</Table.Th>
                <Table.Th>Created</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {appenders.data?.map((a) => (
                <Table.Tr key={a.id} data-testid="appender-row">
                  <Table.Td>{a.name}</Table.Td>
                  <Table.Td>
                    <Badge variant="light">{APPENDER_TYPES[a.type as AppenderType]?.label ?? a.type}</Badge>
                  </Table.Td>
                  <Table.Td>
                    v{a.min_log_version}
                    {a.max_log_version ? `–v${a.max_log_version}` : ' and later'}
                  </Table.Td>
                  <Table.Td>{a.confirm_delivery ? 'yes' : 'no'}</Table.Td>
                  <Table.Td>
                    <Text size="xs">{a.header_fields.join(', ') || '—'}</Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" ff="monospace" style={{ wordBreak: 'break-all' }}>
                      {settingsSummary(a.settings)}
                    </Text>
                  </Table.Td>
                  <Table.Td>{formatTime(a.created_ms)}</Table.Td>
                  {writable && (
                    <Table.Td>
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete appender ${a.name}`}
                        title="Delete log appender"
                        message={`Delete log appender “${a.name}”? Logs stop going there.`}
                        onConfirm={() => client.del(`${path}/${enc(a.id)}`)}
                        onDone={appenders.reload}
                      />
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {writable && <NewAppender path={path} onDone={appenders.reload} />}
    </Stack>
  );
}

/** An error about the columns as a whole or one column, not one of its two inputs. */
function columnsError(error: unknown): string | undefined {
  const text = fieldError(error, 'settings.columns');
  if (!text || !(error instanceof ApiError)) return undefined;
  return /^settings\.columns\[\d+\]\.(name|source)$/.test(error.field ?? '') ? undefined : text;
}

function NewAppender({ path, onDone }: { path: string; onDone: () => void }) {
  const { client } = useApp();
  const [form, setForm] = useState<AppenderForm>(() => emptyAppenderForm());
  const action = useAction();
  const spec = APPENDER_TYPES[form.type];
  const set = (patch: Partial<AppenderForm>) => setForm((f) => ({ ...f, ...patch }));
  const setSetting = (key: string, value: string) => setForm((f) => ({ ...f, settings: { ...f.settings, [key]: value } }));
  const setColumn = (i: number, patch: Partial<AppenderForm['columns'][number]>) =>
    setForm((f) => ({ ...f, columns: f.columns.map((c, j) => (j === i ? { ...c, ...patch } : c)) }));

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (await action.run(() => client.post(path, appenderBody(form)))) {
      setForm(emptyAppenderForm(form.type));
      onDone();
    }
  };
  const err = (name: string) => fieldError(action.error, name);

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="New log appender">
        <Stack>
          <Title order={2} size="h4">
            New log appender
          </Title>
          <Group align="flex-start" wrap="wrap">
            <TextInput label="Appender name" value={form.name} onChange={(e) => set({ name: e.currentTarget.value })} error={err('name')} required w={240} />
            <Select
              label="Type"
              data={Object.entries(APPENDER_TYPES).map(([value, t]) => ({ value, label: t.label }))}
              value={form.type}
              onChange={(v) => v && set({ type: v as AppenderType })}
              error={err('type')}
              allowDeselect={false}
              w={180}
            />
          </Group>
          <Group align="flex-start" wrap="wrap">
            {spec.fields.map((f) => (
              <TextInput
                key={`${form.type}.${f.key}`}
                label={f.label}
                description={f.description}
                placeholder={f.placeholder}
                value={form.settings[f.key] ?? ''}
                onChange={(e) => setSetting(f.key, e.currentTarget.value)}
                error={err(`settings.${f.key}`)}
                required={f.required}
                inputMode={f.kind === 'int' ? 'numeric' : undefined}
                w={f.kind === 'int' ? 180 : 320}
              />
            ))}
          </Group>
          {spec.columns && (
            <Stack gap="xs" role="group" aria-label="Columns">
              <Text size="sm" fw={500}>
                Columns
              </Text>
              {form.columns.map((c, i) => (
                <Group key={i} align="flex-start" wrap="wrap" gap="xs">
                  <TextInput
                    aria-label={`Column ${i + 1} name`}
                    placeholder="column name"
                    value={c.name}
                    onChange={(e) => setColumn(i, { name: e.currentTarget.value })}
                    error={err(`settings.columns[${i}].name`)}
                    w={180}
                  />
                  <Autocomplete
                    aria-label={`Column ${i + 1} source`}
                    placeholder="header.KEYHASH or record.field"
                    data={COLUMN_SOURCES}
                    value={c.source}
                    onChange={(v) => setColumn(i, { source: v })}
                    error={err(`settings.columns[${i}].source`)}
                    w={240}
                  />
                  <ActionIcon
                    variant="subtle"
                    color="red"
                    size="lg"
                    aria-label={`Remove column ${i + 1}`}
                    onClick={() => set({ columns: form.columns.filter((_, j) => j !== i) })}
                  >
                    ×
                  </ActionIcon>
                </Group>
              ))}
              {columnsError(action.error) && (
                <Text size="sm" c="red" role="alert">
                  {columnsError(action.error)}
                </Text>
              )}
              <Group>
                <Button size="xs" variant="default" onClick={() => set({ columns: [...form.columns, { name: '', source: '' }] })}>
                  Add column
                </Button>
              </Group>
            </Stack>
          )}
          <Group align="flex-start" wrap="wrap">
            <TextInput
              label="Lowest log schema version"
              value={form.minLogVersion}
              onChange={(e) => set({ minLogVersion: e.currentTarget.value })}
              error={err('min_log_version')}
              inputMode="numeric"
              w={200}
            />
            <TextInput
              label="Highest log schema version"
              description="Blank: no upper bound"
              value={form.maxLogVersion}
              onChange={(e) => set({ maxLogVersion: e.currentTarget.value })}
              error={err('max_log_version')}
              inputMode="numeric"
              w={200}
            />
          </Group>
          <Checkbox.Group
            label="Header fields written with each record"
            value={form.headerFields}
            onChange={(v) => set({ headerFields: v })}
            error={err('header_fields')}
          >
            <Group mt={4} gap="md">
              {HEADER_FIELDS.map((h) => (
                <Checkbox key={h} value={h} label={h} />
              ))}
            </Group>
          </Checkbox.Group>
          <Checkbox
            label="Confirm delivery: endpoints get success only once this appender stored their logs"
            checked={form.confirmDelivery}
            onChange={(e) => set({ confirmDelivery: e.currentTarget.checked })}
          />
          <Group>
            <Button type="submit" loading={action.busy}>
              Add appender
            </Button>
          </Group>
          {!isFieldError(action.error, appenderFieldNames(form)) && <ErrorAlert error={action.error} />}
        </Stack>
      </form>
    </Paper>
  );
}
