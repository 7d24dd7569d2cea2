// The tenant's event class families (list, create) and one family with its versions (list,
// upload the next version as a list of Avro record schemas, events or objects).
import { useState } from 'react';
import {
  ActionIcon, Anchor, Badge, Breadcrumbs, Button, Code, Group, Paper, Select, Stack, Table, Text, TextInput, Title,
} from '@mantine/core';
import { enc, fieldError, isFieldError, type Family, type FamilyVersion } from '../api';
import { useApp } from '../context';
import { familyVersionBody, formatJson, type ClassForm } from '../forms';
import { can } from '../roles';
import { CodeArea, Empty, ErrorAlert, formatTime, Link, Loading, useAction, useLoad } from '../ui';

export function EventFamiliesPage() {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'families.write');
  const families = useLoad(() => client.all<Family>('/event-families'), [client]);
  const [name, setName] = useState('');
  const [namespace, setNamespace] = useState('');
  const [className, setClassName] = useState('');
  const action = useAction();

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    const ok = await action.run(() =>
      client.post('/event-families', { name: name.trim(), namespace: namespace.trim(), class_name: className.trim() }),
    );
    if (ok) {
      setName('');
      setNamespace('');
      setClassName('');
      families.reload();
    }
  };
  const err = (f: string) => fieldError(action.error, f);

  return (
    <Stack>
      <Title order={1} size="h2">
        Event class families
      </Title>
      <Text size="sm" c="dimmed">
        Families group the event classes endpoints exchange. They belong to the tenant; applications map a version of a
        family on their Event maps tab.
      </Text>
      {writable && (
        <form onSubmit={create} aria-label="New event class family">
          <Group align="flex-start" wrap="wrap">
            <TextInput label="Family name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={err('name')} required w={220} />
            <TextInput
              label="Namespace"
              placeholder="org.example.thermostat"
              value={namespace}
              onChange={(e) => setNamespace(e.currentTarget.value)}
              error={err('namespace')}
              required
              w={240}
            />
            <TextInput
              label="Class name"
              placeholder="ThermostatEventFamily"
              value={className}
              onChange={(e) => setClassName(e.currentTarget.value)}
              error={err('class_name')}
              required
              w={220}
            />
            <Button type="submit" mt={25} loading={action.busy}>
              Create family
            </Button>
          </Group>
          {!isFieldError(action.error, ['name', 'namespace', 'class_name']) && <ErrorAlert error={action.error} />}
        </form>
      )}
      <ErrorAlert error={families.error} />
      {families.loading && !families.data ? (
        <Loading />
      ) : families.data?.length === 0 ? (
        <Empty>No event class families yet.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={560}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Namespace</Table.Th>
                <Table.Th>Class name</Table.Th>
                <Table.Th>Created</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {families.data?.map((f) => (
                <Table.Tr key={f.id}>
                  <Table.Td>
                    <Link to={`/event-families/${enc(f.id)}`}>{f.name}</Link>
                  </Table.Td>
                  <Table.Td>{f.namespace}</Table.Td>
                  <Table.Td>{f.class_name}</Table.Td>
                  <Table.Td>{formatTime(f.created_ms)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}

export function EventFamilyPage({ familyId }: { familyId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'families.write');
  const path = `/event-families/${enc(familyId)}`;
  const family = useLoad(() => client.get<Family>(path), [client, path]);
  const versions = useLoad(() => client.all<FamilyVersion>(`${path}/versions`), [client, path]);
  const [open, setOpen] = useState<string | null>(null);

  if (family.error) return <ErrorAlert error={family.error} />;
  if (!family.data) return <Loading />;
  const f = family.data;
  return (
    <Stack>
      <Breadcrumbs>
        <Link to="/event-families">Event families</Link>
        <Text>{f.name}</Text>
      </Breadcrumbs>
      <Title order={1} size="h2">
        {f.name}
      </Title>
      <Text size="sm" c="dimmed">
        Class {f.namespace}.{f.class_name} · created {formatTime(f.created_ms)}
      </Text>
      <Title order={2} size="h3">
        Versions
      </Title>
      <ErrorAlert error={versions.error} />
      {versions.loading && !versions.data ? (
        <Loading />
      ) : versions.data?.length === 0 ? (
        <Empty>No versions yet: upload the family's event classes below.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={560}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Version</Table.Th>
                <Table.Th>Classes</Table.Th>
                <Table.Th>Created</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {versions.data?.map((v) => (
                <Table.Tr key={v.id} data-testid="family-version-row">
                  <Table.Td>v{v.version}</Table.Td>
                  <Table.Td>
                    <Stack gap={4}>
                      {v.classes.map((c) => (
                        <div key={c.id}>
                          <Group gap={6} wrap="nowrap">
                            <Badge size="xs" variant="light" color={c.kind === 'event' ? 'blue' : 'gray'}>
                              {c.kind}
                            </Badge>
                            <Anchor component="button" type="button" size="sm" ff="monospace" onClick={() => setOpen(open === c.id ? null : c.id)}>
                              {c.fqn}
                            </Anchor>
                          </Group>
                          {open === c.id && (
                            <Code block mt={4}>
                              {JSON.stringify(c.schema, null, 2)}
                            </Code>
                          )}
                        </div>
                      ))}
                    </Stack>
                  </Table.Td>
                  <Table.Td>{formatTime(v.created_ms)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {writable && <NewVersion path={`${path}/versions`} namespace={f.namespace} onDone={versions.reload} />}
    </Stack>
  );
}

const exampleClass = (namespace: string, name: string): ClassForm => ({
  kind: 'event',
  schema: JSON.stringify(
    { type: 'record', name, namespace, fields: [{ name: 'value', type: 'int' }] },
    null,
    2,
  ),
});

function NewVersion({ path, namespace, onDone }: { path: string; namespace: string; onDone: () => void }) {
  const { client } = useApp();
  const [classes, setClasses] = useState<ClassForm[]>(() => [exampleClass(namespace, 'SomethingHappened')]);
  const [jsonError, setJsonError] = useState<{ index: number; message: string } | null>(null);
  const action = useAction();
  const setClass = (i: number, patch: Partial<ClassForm>) =>
    setClasses((cs) => cs.map((c, j) => (j === i ? { ...c, ...patch } : c)));

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    action.clear();
    const built = familyVersionBody(classes);
    if ('index' in built) {
      setJsonError(built);
      return;
    }
    setJsonError(null);
    if (await action.run(() => client.post(path, built.body))) onDone();
  };
  const names = classes.flatMap((_, i) => [`classes[${i}].schema`, `classes[${i}].kind`]);

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="New family version">
        <Stack>
          <Title order={2} size="h4">
            Upload the next version
          </Title>
          <Text size="sm" c="dimmed">
            Each class is an Avro record schema; its full name names the class and must be unique across the tenant's
            families. Events are sent between endpoints, objects are types events carry.
          </Text>
          {classes.map((c, i) => (
            <Paper key={i} withBorder p="sm" role="group" aria-label={`Class ${i + 1}`}>
              <Stack gap="xs">
                <Group justify="space-between" wrap="nowrap">
                  <Select
                    label={`Class ${i + 1} kind`}
                    data={[
                      { value: 'event', label: 'Event' },
                      { value: 'object', label: 'Object' },
                    ]}
                    value={c.kind}
                    onChange={(v) => v && setClass(i, { kind: v as ClassForm['kind'] })}
                    error={fieldError(action.error, `classes[${i}].kind`)}
                    allowDeselect={false}
                    w={160}
                  />
                  {classes.length > 1 && (
                    <ActionIcon
                      variant="subtle"
                      color="red"
                      size="lg"
                      aria-label={`Remove class ${i + 1}`}
                      onClick={() => setClasses((cs) => cs.filter((_, j) => j !== i))}
                    >
                      ×
                    </ActionIcon>
                  )}
                </Group>
                <CodeArea
                  label={`Class ${i + 1} schema (JSON)`}
                  value={c.schema}
                  onChange={(e) => setClass(i, { schema: e.currentTarget.value })}
                  onBlur={() => setClass(i, { schema: formatJson(c.schema) })}
                  error={jsonError?.index === i ? jsonError.message : fieldError(action.error, `classes[${i}].schema`)}
                  minRows={6}
                  required
                />
              </Stack>
            </Paper>
          ))}
          <Group>
            <Button variant="default" onClick={() => setClasses((cs) => [...cs, exampleClass(namespace, `Class${cs.length + 1}`)])}>
              Add class
            </Button>
            <Button type="submit" loading={action.busy}>
              Upload version
            </Button>
          </Group>
          {!isFieldError(action.error, names) && <ErrorAlert error={action.error} />}
        </Stack>
      </form>
    </Paper>
  );
}
