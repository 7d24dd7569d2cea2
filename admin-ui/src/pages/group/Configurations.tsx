// A group's configurations: JSON drafts validated by the API against their configuration schema
// version, edited, activated (replacing the active one for that version) and deactivated.
import { useState } from 'react';
import { Button, Code, Group, Paper, Stack, Table, Title } from '@mantine/core';
import { enc, fieldError, isFieldError, type Doc, type Schema } from '../../api';
import { useApp } from '../../context';
import { formatJson } from '../../forms';
import { can } from '../../roles';
import { CodeArea, Empty, ErrorAlert, formatTime, Link, Loading, SchemaVersionSelect, useAction, useLoad } from '../../ui';
import { DocActions, StatusBadge } from './docs';

export function ConfigurationsTab({ appId, groupId }: { appId: string; groupId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const base = `/applications/${enc(appId)}`;
  const path = `${base}/groups/${enc(groupId)}/configurations`;
  const schemas = useLoad(() => client.all<Schema>(`${base}/schemas/configuration`), [client, appId]);
  const docs = useLoad(() => client.all<Doc>(path), [client, path]);
  const [actionError, setActionError] = useState<unknown>(undefined);
  const [editing, setEditing] = useState<Doc | null>(null);

  const changed = () => {
    setEditing(null);
    docs.reload();
  };

  return (
    <Stack>
      <ErrorAlert error={docs.error ?? schemas.error} />
      <ErrorAlert error={actionError} />
      {docs.loading && !docs.data ? (
        <Loading />
      ) : docs.data?.length === 0 ? (
        <Empty>No configurations in this group.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={720}>
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
                    <StatusBadge status={d.status} />
                  </Table.Td>
                  <Table.Td>v{d.schema_version}</Table.Td>
                  <Table.Td>
                    <Code block maw={360}>
                      {JSON.stringify(d.body, null, 2)}
                    </Code>
                  </Table.Td>
                  <Table.Td>{formatTime(d.created_ms)}</Table.Td>
                  <Table.Td>{formatTime(d.activated_ms)}</Table.Td>
                  {writable && (
                    <Table.Td>
                      <DocActions
                        doc={d}
                        path={`${path}/${enc(d.id)}`}
                        noun="configuration"
                        editing={editing?.id === d.id}
                        onEdit={() => setEditing(d)}
                        onChanged={changed}
                        onError={setActionError}
                        deactivateMessage="Deactivate this configuration? Endpoints in the group stop receiving it."
                      />
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {writable &&
        schemas.data &&
        (schemas.data.length === 0 ? (
          <Empty>
            Upload a configuration schema (<Link to={`${base}/schemas`}>Schemas</Link>) before creating configurations.
          </Empty>
        ) : (
          <ConfigurationEditor
            key={editing?.id ?? 'new'}
            path={path}
            schemas={schemas.data}
            draft={editing}
            onCancel={() => setEditing(null)}
            onDone={changed}
          />
        ))}
    </Stack>
  );
}

function ConfigurationEditor(props: { path: string; schemas: Schema[]; draft: Doc | null; onCancel: () => void; onDone: () => void }) {
  const { client } = useApp();
  const { draft, schemas } = props;
  const latest = schemas.reduce((a, s) => (s.version > a.version ? s : a), schemas[0]);
  const [version, setVersion] = useState<string>(String(draft?.schema_version ?? latest.version));
  const [text, setText] = useState(draft ? JSON.stringify(draft.body, null, 2) : '{\n  \n}');
  const [jsonError, setJsonError] = useState<string | undefined>(undefined);
  const action = useAction();

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setJsonError(undefined);
    action.clear();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      setJsonError(`Not JSON: ${(err as Error).message}`);
      return;
    }
    const ok = await action.run(() =>
      draft
        ? client.patch(`${props.path}/${enc(draft.id)}`, { body })
        : client.post(props.path, { schema_version: Number(version), body }),
    );
    if (ok) props.onDone();
  };

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label={draft ? 'Edit configuration draft' : 'New configuration'}>
        <Stack>
          <Title order={2} size="h4">
            {draft ? 'Edit configuration draft' : 'New configuration draft'}
          </Title>
          <SchemaVersionSelect
            label="Configuration schema"
            schemas={schemas}
            value={version}
            onChange={setVersion}
            error={fieldError(action.error, 'schema_version')}
            disabled={!!draft}
            description={draft ? 'A draft keeps its schema version' : undefined}
          />
          <CodeArea
            label="Configuration (JSON)"
            description="Validated by the server against the schema version when saved"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            error={jsonError ?? fieldError(action.error, 'body')}
            minRows={6}
            required
          />
          <Group>
            <Button type="submit" loading={action.busy}>
              {draft ? 'Save changes' : 'Save draft'}
            </Button>
            <Button variant="default" onClick={() => setText(formatJson(text))}>
              Format JSON
            </Button>
            {draft && (
              <Button variant="subtle" onClick={props.onCancel}>
                Cancel editing
              </Button>
            )}
          </Group>
          {!isFieldError(action.error, ['schema_version', 'body']) && <ErrorAlert error={action.error} />}
        </Stack>
      </form>
    </Paper>
  );
}
