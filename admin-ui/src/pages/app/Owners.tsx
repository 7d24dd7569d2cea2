// Owners' configurations: per owner (the user external id endpoints attached with) and
// configuration schema version, a JSON document that overrides the groups' merged configuration
// for that owner's endpoints of the application, which get it pushed.
import { useState } from 'react';
import { Button, Code, Group, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { enc, fieldError, isFieldError, type OwnerConfiguration, type Schema } from '../../api';
import { useApp } from '../../context';
import { formatJson, parseJsonField } from '../../forms';
import { can } from '../../roles';
import { CodeArea, ConfirmButton, Empty, ErrorAlert, formatTime, Link, Loading, SchemaVersionSelect, useAction, useLoad } from '../../ui';

export function OwnersTab({ appId }: { appId: string }) {
  const [typed, setTyped] = useState('');
  const [owner, setOwner] = useState<string | null>(null);
  const open = (e: React.FormEvent) => {
    e.preventDefault();
    const user = typed.trim();
    if (user) setOwner(user);
  };
  return (
    <Stack>
      <Paper withBorder p="md">
        <form onSubmit={open} aria-label="Open owner">
          <Group align="flex-end" wrap="wrap">
            <TextInput
              label="User external id"
              description="The id endpoints attached with through a user verifier"
              value={typed}
              onChange={(e) => setTyped(e.currentTarget.value)}
              required
              w={320}
            />
            <Button type="submit" variant="default">
              Open owner
            </Button>
          </Group>
        </form>
      </Paper>
      {owner && <OwnerConfigurations key={owner} appId={appId} owner={owner} />}
    </Stack>
  );
}

function OwnerConfigurations({ appId, owner }: { appId: string; owner: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const base = `/applications/${enc(appId)}`;
  const path = `${base}/owners/${enc(owner)}/configurations`;
  const configurations = useLoad(() => client.get<OwnerConfiguration[]>(path), [client, path]);
  const schemas = useLoad(() => client.all<Schema>(`${base}/schemas/configuration`), [client, base]);

  return (
    <Stack>
      <Title order={2} size="h4">
        Configurations of {owner}
      </Title>
      <ErrorAlert error={configurations.error ?? schemas.error} />
      {configurations.loading && !configurations.data ? (
        <Loading />
      ) : configurations.data?.length === 0 ? (
        <Empty>No configuration for {owner}: its endpoints get their groups' configuration.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={640}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Schema version</Table.Th>
                <Table.Th>Body</Table.Th>
                <Table.Th>Updated</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {configurations.data?.map((c) => (
                <Table.Tr key={c.schema_version} data-testid="owner-configuration-row">
                  <Table.Td>v{c.schema_version}</Table.Td>
                  <Table.Td>
                    <Code block maw={360}>
                      {JSON.stringify(c.body, null, 2)}
                    </Code>
                  </Table.Td>
                  <Table.Td>{formatTime(c.updated_ms)}</Table.Td>
                  {writable && (
                    <Table.Td>
                      <ConfirmButton
                        label="Remove"
                        ariaLabel={`Remove configuration v${c.schema_version} of ${owner}`}
                        title="Remove owner configuration"
                        confirmLabel="Remove"
                        message={`Remove the v${c.schema_version} configuration of “${owner}”? Its endpoints go back to their groups' configuration.`}
                        onConfirm={() => client.del(`${path}/${c.schema_version}`)}
                        onDone={configurations.reload}
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
            Upload a configuration schema (<Link to={`${base}/schemas`}>Schemas</Link>) before setting owners' configurations.
          </Empty>
        ) : (
          <OwnerConfigurationEditor path={path} schemas={schemas.data} onDone={configurations.reload} />
        ))}
    </Stack>
  );
}

function OwnerConfigurationEditor(props: { path: string; schemas: Schema[]; onDone: () => void }) {
  const { client } = useApp();
  const latest = props.schemas.reduce((a, s) => (s.version > a.version ? s : a), props.schemas[0]);
  const [version, setVersion] = useState(String(latest.version));
  const [text, setText] = useState('{\n  \n}');
  const [jsonError, setJsonError] = useState<string | undefined>(undefined);
  const action = useAction();

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    action.clear();
    const parsed = parseJsonField(text);
    if ('error' in parsed) {
      setJsonError(parsed.error);
      return;
    }
    setJsonError(undefined);
    if (await action.run(() => client.put(`${props.path}/${enc(version)}`, { body: parsed.value }))) props.onDone();
  };

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="Set owner configuration">
        <Stack>
          <Title order={3} size="h5">
            Set a configuration
          </Title>
          <Text size="sm" c="dimmed">
            Replaces this owner's configuration for the schema version; connected endpoints get it at once.
          </Text>
          <SchemaVersionSelect
            label="Configuration schema"
            schemas={props.schemas}
            value={version}
            onChange={setVersion}
            error={fieldError(action.error, 'version')}
          />
          <CodeArea
            label="Owner configuration (JSON)"
            description="Validated by the server against the schema version"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            error={jsonError ?? fieldError(action.error, 'body')}
            minRows={5}
            required
          />
          <Group>
            <Button type="submit" loading={action.busy}>
              Save configuration
            </Button>
            <Button variant="default" onClick={() => setText(formatJson(text))}>
              Format JSON
            </Button>
          </Group>
          {!isFieldError(action.error, ['version', 'body']) && <ErrorAlert error={action.error} />}
        </Stack>
      </form>
    </Paper>
  );
}
