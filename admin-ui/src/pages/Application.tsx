import { useState } from 'react';
import {
  Anchor, Breadcrumbs, Button, Code, CopyButton, FileButton, Group, NumberInput, Paper, Select, Stack, Table, Tabs,
  Text, Textarea, TextInput, Title,
} from '@mantine/core';
import { enc, fieldError, isFieldError, type Application, type Group as EpGroup, type Schema } from '../api';
import { useApp } from '../context';
import { can } from '../roles';
import { AppendersTab } from './app/Appenders';
import { ChangesTab } from './app/Changes';
import { CredentialsTab } from './app/Credentials';
import { EndpointsTab } from './app/Endpoints';
import { EventMapsTab } from './app/EventMaps';
import { OwnersTab } from './app/Owners';
import { SdkProfilesTab } from './app/SdkProfiles';
import { TopicsTab } from './app/Topics';
import { VerifiersTab } from './app/Verifiers';
import { navigate } from '../router';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Link, Loading, useLoad } from '../ui';

export const SCHEMA_KINDS = [
  { value: 'configuration', label: 'Configuration' },
  { value: 'client_profile', label: 'Client profile' },
  { value: 'server_profile', label: 'Server profile' },
  { value: 'notification', label: 'Notification' },
  { value: 'log', label: 'Log' },
];

export const APP_TABS = [
  { value: 'groups', label: 'Endpoint groups' },
  { value: 'endpoints', label: 'Endpoints' },
  { value: 'credentials', label: 'Credentials' },
  { value: 'schemas', label: 'Schemas' },
  { value: 'topics', label: 'Topics' },
  { value: 'event-maps', label: 'Event maps' },
  { value: 'log-appenders', label: 'Log appenders' },
  { value: 'user-verifiers', label: 'User verifiers' },
  { value: 'owners', label: 'Owners' },
  { value: 'sdk-profiles', label: 'SDK profiles' },
  { value: 'changes', label: 'Change log' },
] as const;
export type AppTab = (typeof APP_TABS)[number]['value'];

export function isAppTab(tab: string): tab is AppTab {
  return APP_TABS.some((t) => t.value === tab);
}

export function ApplicationPage({ appId, tab }: { appId: string; tab: AppTab }) {
  const { client, session } = useApp();
  const tabs = APP_TABS.filter((t) => t.value !== 'changes' || can(session.user.role, 'app.changes'));
  // A tab the role may not see (a link from another role) opens the groups instead.
  const current = tabs.some((t) => t.value === tab) ? tab : 'groups';
  const app = useLoad(() => client.get<Application>(`/applications/${enc(appId)}`), [client, appId]);
  if (app.error) return <ErrorAlert error={app.error} />;
  if (!app.data) return <Loading />;
  const a = app.data;
  return (
    <Stack>
      <Breadcrumbs>
        <Link to="/applications">Applications</Link>
        <Text>{a.name}</Text>
      </Breadcrumbs>
      <Title order={1} size="h2">
        {a.name}
      </Title>
      <Paper withBorder p="sm">
        <Stack gap={4}>
          <Group gap="xs" wrap="wrap">
            <Text fw={600}>Application token</Text>
            <Code data-testid="app-token">{a.app_token}</Code>
            <CopyButton value={a.app_token}>
              {({ copied, copy }) => (
                <Button size="compact-xs" variant="subtle" onClick={copy}>
                  {copied ? 'Copied' : 'Copy'}
                </Button>
              )}
            </CopyButton>
          </Group>
          <Text size="sm" c="dimmed">
            Id {a.id} · credentials {a.credentials_service} · change {a.seq} · created {formatTime(a.created_ms)}
          </Text>
        </Stack>
      </Paper>
      <Tabs value={current} onChange={(v) => v && navigate(`/applications/${enc(appId)}/${v}`)} keepMounted={false}>
        <Tabs.List>
          {tabs.map((t) => (
            <Tabs.Tab key={t.value} value={t.value}>
              {t.label}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        <Tabs.Panel value="groups" pt="md">
          <GroupsTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="endpoints" pt="md">
          <EndpointsTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="credentials" pt="md">
          <CredentialsTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="schemas" pt="md">
          <SchemasTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="topics" pt="md">
          <TopicsTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="event-maps" pt="md">
          <EventMapsTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="log-appenders" pt="md">
          <AppendersTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="user-verifiers" pt="md">
          <VerifiersTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="owners" pt="md">
          <OwnersTab appId={appId} />
        </Tabs.Panel>
        <Tabs.Panel value="sdk-profiles" pt="md">
          <SdkProfilesTab appId={appId} />
        </Tabs.Panel>
        {tabs.some((t) => t.value === 'changes') && (
          <Tabs.Panel value="changes" pt="md">
            <ChangesTab appId={appId} />
          </Tabs.Panel>
        )}
      </Tabs>
    </Stack>
  );
}

function GroupsTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const groups = useLoad(() => client.all<EpGroup>(`/applications/${enc(appId)}/groups`), [client, appId]);
  const [name, setName] = useState('');
  const [weight, setWeight] = useState<number | string>(10);
  const [description, setDescription] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await client.post(`/applications/${enc(appId)}/groups`, { name, weight: Number(weight), description });
      setName('');
      setDescription('');
      groups.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack>
      {writable && (
        <form onSubmit={create} aria-label="New endpoint group">
          <Group align="flex-start" wrap="wrap">
            <TextInput label="Group name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(error, 'name')} required w={200} />
            <NumberInput label="Weight" value={weight} onChange={setWeight} min={1} error={fieldError(error, 'weight')} required w={110} />
            <TextInput label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} error={fieldError(error, 'description')} w={240} />
            <Button type="submit" mt={25} loading={busy}>
              Create group
            </Button>
          </Group>
          {!isFieldError(error, ['name', 'weight', 'description']) && <ErrorAlert error={error} />}
        </form>
      )}
      <ErrorAlert error={groups.error} />
      {groups.loading && !groups.data ? (
        <Loading />
      ) : groups.data?.length === 0 ? (
        <Empty>No endpoint groups.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={520}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Weight</Table.Th>
                <Table.Th>Description</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {groups.data?.map((g) => (
                <Table.Tr key={g.id}>
                  <Table.Td>
                    <Link to={`/applications/${enc(appId)}/groups/${enc(g.id)}`}>{g.name}</Link>
                  </Table.Td>
                  <Table.Td>{g.weight}</Table.Td>
                  <Table.Td>{g.description || '—'}</Table.Td>
                  {writable && (
                    <Table.Td>
                      {g.weight !== 0 && (
                        <ConfirmButton
                          label="Delete"
                          ariaLabel={`Delete group ${g.name}`}
                          title="Delete endpoint group"
                          message={`Delete group “${g.name}” with its filters and configurations?`}
                          onConfirm={() => client.del(`/applications/${enc(appId)}/groups/${enc(g.id)}`)}
                          onDone={groups.reload}
                        />
                      )}
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

const EXAMPLE_SCHEMA = `{
  "type": "record",
  "name": "DeviceConfig",
  "namespace": "org.example",
  "fields": [
    { "name": "interval", "type": "int" }
  ]
}`;

function SchemasTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const [kind, setKind] = useState('configuration');
  const schemas = useLoad(() => client.all<Schema>(`/applications/${enc(appId)}/schemas/${kind}`), [client, appId, kind]);
  const [name, setName] = useState('');
  const [text, setText] = useState(EXAMPLE_SCHEMA);
  const [error, setError] = useState<unknown>(undefined);
  const [jsonError, setJsonError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<string | null>(null);

  const upload = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setJsonError(undefined);
    let schema: unknown;
    try {
      schema = JSON.parse(text);
    } catch (err) {
      setJsonError(`Not JSON: ${(err as Error).message}`);
      return;
    }
    setBusy(true);
    try {
      await client.post(`/applications/${enc(appId)}/schemas/${kind}`, { name, schema });
      setName('');
      schemas.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const kindLabel = SCHEMA_KINDS.find((k) => k.value === kind)?.label ?? kind;
  return (
    <Stack>
      <Select label="Schema kind" data={SCHEMA_KINDS} value={kind} onChange={(v) => v && setKind(v)} allowDeselect={false} w={220} />
      <ErrorAlert error={schemas.error} />
      {schemas.loading && !schemas.data ? (
        <Loading />
      ) : schemas.data?.length === 0 ? (
        <Empty>No {kindLabel.toLowerCase()} schemas yet.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={480}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Version</Table.Th>
                <Table.Th>Name</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Schema</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {schemas.data?.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td>{s.version}</Table.Td>
                  <Table.Td>{s.name}</Table.Td>
                  <Table.Td>{formatTime(s.created_ms)}</Table.Td>
                  <Table.Td>
                    <Anchor component="button" type="button" onClick={() => setOpen(open === s.id ? null : s.id)}>
                      {open === s.id ? 'Hide' : 'Show'}
                    </Anchor>
                    {open === s.id && (
                      <Code block mt="xs">
                        {JSON.stringify(s.schema, null, 2)}
                      </Code>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {writable && (
        <Paper withBorder p="md">
          <form onSubmit={upload} aria-label="Upload schema">
            <Stack>
              <Title order={2} size="h4">
                Upload a {kindLabel.toLowerCase()} schema
              </Title>
              <TextInput label="Display name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(error, 'name')} required maw={320} />
              <Textarea
                label="Avro record schema (JSON)"
                value={text}
                onChange={(e) => setText(e.currentTarget.value)}
                error={jsonError ?? fieldError(error, 'schema')}
                autosize
                minRows={8}
                maxRows={24}
                styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
                spellCheck={false}
                required
              />
              <Group>
                <FileButton onChange={(f) => f?.text().then(setText)} accept="application/json,.json,.avsc">
                  {(props) => (
                    <Button variant="default" {...props}>
                      Load from file…
                    </Button>
                  )}
                </FileButton>
                <Button type="submit" loading={busy}>
                  Upload schema
                </Button>
              </Group>
              {!isFieldError(error, ['name', 'schema']) && <ErrorAlert error={error} />}
            </Stack>
          </form>
        </Paper>
      )}
    </Stack>
  );
}
