import { useState } from 'react';
import { Badge, Breadcrumbs, Button, Code, Group, Paper, Select, Stack, Table, Text, Textarea, Title } from '@mantine/core';
import { enc, fieldError, isFieldError, type Application, type Doc, type Group as EpGroup, type Schema } from '../api';
import { useApp } from '../context';
import { can } from '../roles';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Link, Loading, useLoad } from '../ui';

const STATUS_COLORS: Record<string, string> = { draft: 'yellow', active: 'green', deprecated: 'gray' };

export function GroupPage({ appId, groupId }: { appId: string; groupId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const base = `/applications/${enc(appId)}`;
  const head = useLoad(
    () =>
      Promise.all([
        client.get<Application>(base),
        client.get<EpGroup>(`${base}/groups/${enc(groupId)}`),
        client.all<Schema>(`${base}/schemas/configuration`),
      ]),
    [client, appId, groupId],
  );
  const docs = useLoad(() => client.all<Doc>(`${base}/groups/${enc(groupId)}/configurations`), [client, appId, groupId]);
  const [actionError, setActionError] = useState<unknown>(undefined);

  if (head.error) return <ErrorAlert error={head.error} />;
  if (!head.data) return <Loading />;
  const [app, group, schemas] = head.data;
  const docPath = (d: Doc) => `${base}/groups/${enc(groupId)}/configurations/${enc(d.id)}`;
  const act = async (d: Doc, action: 'activate' | 'deactivate') => {
    setActionError(undefined);
    try {
      await client.post(`${docPath(d)}/${action}`);
      docs.reload();
    } catch (err) {
      setActionError(err);
    }
  };

  return (
    <Stack>
      <Breadcrumbs>
        <Link to="/applications">Applications</Link>
        <Link to={`${base}/groups`}>{app.name}</Link>
        <Text>{group.name}</Text>
      </Breadcrumbs>
      <Title order={1} size="h2">
        Group {group.name}
      </Title>
      <Text c="dimmed" size="sm">
        Weight {group.weight}
        {group.description ? ` · ${group.description}` : ''}
      </Text>
      <Title order={2} size="h3">
        Configurations
      </Title>
      <ErrorAlert error={docs.error} />
      <ErrorAlert error={actionError} />
      {docs.loading && !docs.data ? (
        <Loading />
      ) : docs.data?.length === 0 ? (
        <Empty>No configurations in this group.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={640}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Status</Table.Th>
                <Table.Th>Schema version</Table.Th>
                <Table.Th>Body</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Activated</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {docs.data?.map((d) => (
                <Table.Tr key={d.id} data-testid="configuration-row">
                  <Table.Td>
                    <Badge color={STATUS_COLORS[d.status] ?? 'gray'} variant="light">
                      {d.status}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{d.schema_version}</Table.Td>
                  <Table.Td>
                    <Code block maw={360}>
                      {JSON.stringify(d.body, null, 2)}
                    </Code>
                  </Table.Td>
                  <Table.Td>{formatTime(d.created_ms)}</Table.Td>
                  <Table.Td>{formatTime(d.activated_ms)}</Table.Td>
                  {writable && (
                    <Table.Td>
                      <Group gap="xs" wrap="nowrap">
                        {d.status === 'draft' && (
                          <>
                            <Button size="xs" onClick={() => act(d, 'activate')}>
                              Activate
                            </Button>
                            <ConfirmButton
                              label="Delete"
                              ariaLabel="Delete draft"
                              title="Delete draft"
                              message="Delete this configuration draft?"
                              onConfirm={() => client.del(docPath(d))}
                              onDone={docs.reload}
                            />
                          </>
                        )}
                        {d.status === 'active' && (
                          <ConfirmButton
                            label="Deactivate"
                            title="Deactivate configuration"
                            message="Deactivate this configuration? Endpoints in the group stop receiving it."
                            confirmLabel="Deactivate"
                            onConfirm={() => client.post(`${docPath(d)}/deactivate`)}
                            onDone={docs.reload}
                          />
                        )}
                      </Group>
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {writable &&
        (schemas.length === 0 ? (
          <Empty>
            Upload a configuration schema (<Link to={`${base}/schemas`}>Schemas</Link>) before creating configurations.
          </Empty>
        ) : (
          <NewConfiguration path={`${base}/groups/${enc(groupId)}/configurations`} schemas={schemas} onDone={docs.reload} />
        ))}
    </Stack>
  );
}

function NewConfiguration({ path, schemas, onDone }: { path: string; schemas: Schema[]; onDone: () => void }) {
  const { client } = useApp();
  const latest = schemas.reduce((a, s) => (s.version > a.version ? s : a), schemas[0]);
  const [version, setVersion] = useState<string>(String(latest.version));
  const [text, setText] = useState('{\n  \n}');
  const [error, setError] = useState<unknown>(undefined);
  const [jsonError, setJsonError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setJsonError(undefined);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      setJsonError(`Not JSON: ${(err as Error).message}`);
      return;
    }
    setBusy(true);
    try {
      await client.post(path, { schema_version: Number(version), body });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="New configuration">
        <Stack>
          <Title order={2} size="h4">
            New configuration draft
          </Title>
          <Select
            label="Configuration schema"
            data={schemas.map((s) => ({ value: String(s.version), label: `v${s.version} — ${s.name}` }))}
            value={version}
            onChange={(v) => v && setVersion(v)}
            error={fieldError(error, 'schema_version')}
            allowDeselect={false}
            maw={320}
          />
          <Textarea
            label="Configuration (JSON)"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            error={jsonError ?? fieldError(error, 'body')}
            autosize
            minRows={6}
            maxRows={24}
            styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
            spellCheck={false}
            required
          />
          <Group>
            <Button type="submit" loading={busy}>
              Save draft
            </Button>
          </Group>
          {!isFieldError(error, ['schema_version', 'body']) && <ErrorAlert error={error} />}
        </Stack>
      </form>
    </Paper>
  );
}
