// A group's profile filters, per client- and server-profile schema version: drafts compiled by
// the API on every write (a compile error is shown at the editor, at its line and column), then
// activated (replacing the active filter for the same versions) and deactivated.
import { useEffect, useRef, useState } from 'react';
import { Accordion, Alert, Box, Button, Code, Group, Paper, Select, Stack, Table, Text, Title } from '@mantine/core';
import { ApiError, enc, fieldError, isFieldError, type Doc, type Group as EpGroup, type Schema } from '../../api';
import { useApp } from '../../context';
import { errorExcerpt, FILTER_EXAMPLE, FILTER_HELP, offsetAt, parseFilterError } from '../../filter';
import { can } from '../../roles';
import { CodeArea, Empty, ErrorAlert, formatTime, Loading, useAction, useLoad, versionText } from '../../ui';
import { DocActions, StatusBadge } from './docs';

export function FiltersTab({ appId, group }: { appId: string; group: EpGroup }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const base = `/applications/${enc(appId)}`;
  const path = `${base}/groups/${enc(group.id)}/profile-filters`;
  const isAll = group.weight === 0;
  const docs = useLoad(() => (isAll ? Promise.resolve([] as Doc[]) : client.all<Doc>(path)), [client, path, isAll]);
  const schemas = useLoad(
    () => Promise.all([client.all<Schema>(`${base}/schemas/client_profile`), client.all<Schema>(`${base}/schemas/server_profile`)]),
    [client, base],
  );
  const [actionError, setActionError] = useState<unknown>(undefined);
  const [editing, setEditing] = useState<Doc | null>(null);
  const [compiled, setCompiled] = useState(false);

  if (isAll) return <Empty>The group “all” contains every endpoint, so it takes no profile filter.</Empty>;

  const changed = () => {
    setEditing(null);
    docs.reload();
  };
  const edit = (d: Doc | null) => {
    setCompiled(false);
    setEditing(d);
  };

  return (
    <Stack>
      <ErrorAlert error={docs.error ?? schemas.error} />
      <ErrorAlert error={actionError} />
      {docs.loading && !docs.data ? (
        <Loading />
      ) : docs.data?.length === 0 ? (
        <Empty>No profile filters in this group: no endpoint joins it until a filter is active.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={760}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Status</Table.Th>
                <Table.Th>Client profile</Table.Th>
                <Table.Th>Server profile</Table.Th>
                <Table.Th>Expression</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Activated</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {docs.data?.map((d) => (
                <Table.Tr key={d.id} data-testid="filter-row">
                  <Table.Td>
                    <StatusBadge status={d.status} />
                  </Table.Td>
                  <Table.Td>{versionText(d.schema_version, 'any')}</Table.Td>
                  <Table.Td>{versionText(d.server_schema_version, 'any')}</Table.Td>
                  <Table.Td>
                    <Code block maw={360} style={{ whiteSpace: 'pre-wrap' }}>
                      {String(d.body)}
                    </Code>
                  </Table.Td>
                  <Table.Td>{formatTime(d.created_ms)}</Table.Td>
                  <Table.Td>{formatTime(d.activated_ms)}</Table.Td>
                  {writable && (
                    <Table.Td>
                      <DocActions
                        doc={d}
                        path={`${path}/${enc(d.id)}`}
                        noun="filter"
                        editing={editing?.id === d.id}
                        onEdit={() => edit(d)}
                        onChanged={() => {
                          setCompiled(false);
                          changed();
                        }}
                        onError={setActionError}
                        deactivateMessage="Deactivate this filter? Endpoints it matched leave the group."
                      />
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {writable && schemas.data && (
        <FilterEditor
          key={editing?.id ?? 'new'}
          path={path}
          clientSchemas={schemas.data[0]}
          serverSchemas={schemas.data[1]}
          draft={editing}
          onCancel={() => edit(null)}
          onResult={(ok) => {
            setCompiled(ok);
            if (ok) changed();
          }}
        />
      )}
      {compiled && (
        <Alert color="green" role="status" data-testid="filter-compiled">
          The filter compiles and was saved as a draft. Activate it to put it into effect.
        </Alert>
      )}
      <FilterHelp />
    </Stack>
  );
}

function versionOptions(schemas: Schema[]) {
  return [
    { value: '', label: 'Any version' },
    ...schemas.map((s) => ({ value: String(s.version), label: `v${s.version} — ${s.name}` })),
  ];
}

/** The API's compile error in words, with the offending line and a caret under its column. */
function CompileError({ source, message }: { source: string; message: string }) {
  const at = parseFilterError(message);
  if (!at) return <>{message}</>;
  const excerpt = errorExcerpt(source, at);
  return (
    <span data-testid="filter-error">
      Line {at.line}, column {at.column}: {at.text}
      {excerpt && (
        <Box
          component="span"
          display="block"
          mt={4}
          ff="monospace"
          style={{ whiteSpace: 'pre', overflowX: 'auto' }}
          data-testid="filter-error-excerpt"
        >
          {`${excerpt.lineText}\n${excerpt.caret}`}
        </Box>
      )}
    </span>
  );
}

function FilterEditor(props: {
  path: string;
  clientSchemas: Schema[];
  serverSchemas: Schema[];
  draft: Doc | null;
  onCancel: () => void;
  /** After each save: whether the filter compiled and was stored. */
  onResult: (ok: boolean) => void;
}) {
  const { client } = useApp();
  const { draft } = props;
  const [clientVersion, setClientVersion] = useState(draft?.schema_version ? String(draft.schema_version) : '');
  const [serverVersion, setServerVersion] = useState(draft?.server_schema_version ? String(draft.server_schema_version) : '');
  const [text, setText] = useState(draft ? String(draft.body) : FILTER_EXAMPLE);
  // The source the last error refers to: the excerpt shows what was compiled, not later edits.
  const [submitted, setSubmitted] = useState('');
  const action = useAction();
  const area = useRef<HTMLTextAreaElement>(null);

  // Put the cursor where the compiler stopped.
  useEffect(() => {
    const e = action.error;
    if (!(e instanceof ApiError) || e.field !== 'body') return;
    const at = parseFilterError(e.message);
    const el = area.current;
    if (!at || !el) return;
    const offset = offsetAt(submitted, at.line, at.column);
    el.focus();
    el.setSelectionRange(offset, Math.min(offset + 1, submitted.length));
  }, [action.error, submitted]);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitted(text);
    props.onResult(false);
    const ok = await action.run(() => {
      if (draft) return client.patch<Doc>(`${props.path}/${enc(draft.id)}`, { body: text });
      const body: Record<string, unknown> = { body: text };
      if (clientVersion) body.client_profile_version = Number(clientVersion);
      if (serverVersion) body.server_profile_version = Number(serverVersion);
      return client.post<Doc>(props.path, body);
    });
    props.onResult(ok);
  };

  const bodyError =
    action.error instanceof ApiError && action.error.field === 'body' ? (
      <CompileError source={submitted} message={action.error.message} />
    ) : (
      fieldError(action.error, 'body')
    );

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label={draft ? 'Edit profile filter draft' : 'New profile filter'}>
        <Stack>
          <Title order={2} size="h4">
            {draft ? 'Edit profile filter draft' : 'New profile filter draft'}
          </Title>
          <Group align="flex-start" wrap="wrap">
            <Select
              label="Client profile schema"
              data={versionOptions(props.clientSchemas)}
              value={clientVersion}
              onChange={(v) => setClientVersion(v ?? '')}
              error={fieldError(action.error, 'client_profile_version')}
              allowDeselect={false}
              disabled={!!draft}
              w={260}
            />
            <Select
              label="Server profile schema"
              data={versionOptions(props.serverSchemas)}
              value={serverVersion}
              onChange={(v) => setServerVersion(v ?? '')}
              error={fieldError(action.error, 'server_profile_version')}
              allowDeselect={false}
              disabled={!!draft}
              w={260}
            />
          </Group>
          <CodeArea
            ref={area}
            label="Filter expression"
            description="True for the endpoints that belong to the group; cp is the client profile, sp the server profile. The server compiles it when you save."
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            error={bodyError}
            minRows={3}
            required
          />
          <Group>
            <Button type="submit" loading={action.busy}>
              {draft ? 'Compile and save changes' : 'Compile and save draft'}
            </Button>
            {draft && (
              <Button variant="subtle" onClick={props.onCancel}>
                Cancel editing
              </Button>
            )}
          </Group>
          {!isFieldError(action.error, ['body', 'client_profile_version', 'server_profile_version']) && (
            <ErrorAlert error={action.error} />
          )}
        </Stack>
      </form>
    </Paper>
  );
}

function FilterHelp() {
  return (
    <Accordion variant="contained">
      <Accordion.Item value="help">
        <Accordion.Control>Filter language</Accordion.Control>
        <Accordion.Panel>
          <Stack gap="xs">
            {FILTER_HELP.map((h) => (
              <Text size="sm" key={h.title}>
                <Text span fw={600}>
                  {h.title}:
                </Text>{' '}
                {h.text}
              </Text>
            ))}
          </Stack>
        </Accordion.Panel>
      </Accordion.Item>
    </Accordion>
  );
}
