// A group's profile filters, per client- and server-profile schema version: drafts compiled by
// the API on every write (a compile error is shown at the editor, at its line and column), then
// activated (replacing the active filter for the same versions) and deactivated. Any expression
// can be tried first on sample client and server profiles (`POST …/profile-filters/test`), which
// saves nothing; the test is open to every role that reads the application.
import { useEffect, useRef, useState } from 'react';
import { Accordion, Alert, Box, Button, Code, Group, Paper, Select, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { ApiError, enc, fieldError, isFieldError, type Doc, type Group as EpGroup, type Schema } from '../../api';
import { useApp } from '../../context';
import { errorExcerpt, FILTER_EXAMPLE, FILTER_HELP, offsetAt, parseFilterError, SAMPLE_CLIENT_PROFILE } from '../../filter';
import { filterTestBody, sampleFromSchema } from '../../forms';
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
          appId={appId}
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
      {!writable && schemas.data && docs.data && (
        <ReadOnlyTester
          appId={appId}
          initial={String((docs.data?.find((d) => d.status === 'active') ?? docs.data?.[0])?.body ?? FILTER_EXAMPLE)}
          clientSchemas={schemas.data[0]}
          serverSchemas={schemas.data[1]}
        />
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
  appId: string;
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
  // An error the last test found in the expression (the editor shows it as it shows compile errors).
  const [testError, setTestError] = useState<BodyError | null>(null);
  const action = useAction();
  const area = useRef<HTMLTextAreaElement>(null);
  const saveError =
    action.error instanceof ApiError && action.error.field === 'body'
      ? { source: submitted, message: action.error.message, token: action.error }
      : null;
  const shown = testError ?? saveError;

  // Put the cursor where the compiler stopped.
  useCaretAt(area, shown);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSubmitted(text);
    setTestError(null);
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

  const bodyError = shown ? <CompileError source={shown.source} message={shown.message} /> : fieldError(action.error, 'body');
  const pinned = (schemas: Schema[], version: string) => (version ? schemas.find((s) => String(s.version) === version) : undefined);

  return (
    <Paper withBorder p="md">
      <Stack>
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
              onChange={(e) => {
                setTestError(null);
                setText(e.currentTarget.value);
              }}
              error={bodyError}
              minRows={3}
              required
            />
            <Group>
              <Button type="submit" loading={action.busy}>
                {draft ? 'Save changes' : 'Save draft'}
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
        <FilterTester
          appId={props.appId}
          expression={text}
          onExpressionError={(e) => {
            if (e) action.clear();
            setTestError(e);
          }}
          clientSchema={pinned(props.clientSchemas, clientVersion) ?? newestOf(props.clientSchemas)}
          serverSchema={pinned(props.serverSchemas, serverVersion) ?? newestOf(props.serverSchemas)}
        />
      </Stack>
    </Paper>
  );
}

/** A filter error at a place in the source the editor showed when it was found. */
interface BodyError {
  source: string;
  message: string;
  /** Identifies one occurrence, so the same error found again moves the cursor again. */
  token?: unknown;
}

/** Focuses the text area with the cursor on the position `error` names, whenever it changes. */
function useCaretAt(area: React.RefObject<HTMLTextAreaElement | null>, error: BodyError | null) {
  const source = error?.source;
  const message = error?.message;
  const token = error?.token ?? error;
  useEffect(() => {
    if (source === undefined || message === undefined) return;
    const at = parseFilterError(message);
    const el = area.current;
    if (!at || !el) return;
    const offset = offsetAt(source, at.line, at.column);
    el.focus();
    el.setSelectionRange(offset, Math.min(offset + 1, source.length));
  }, [area, source, message, token]);
}

function newestOf(schemas: Schema[]): Schema | undefined {
  return schemas.reduce<Schema | undefined>((a, s) => (!a || s.version > a.version ? s : a), undefined);
}

/**
 * Tries `expression` on sample profiles typed as JSON. An error in the expression (compile or
 * evaluation) goes to `onExpressionError`, for the editor that holds it to show at the caret.
 */
function FilterTester(props: {
  appId: string;
  expression: string;
  onExpressionError: (error: BodyError | null) => void;
  clientSchema?: Schema;
  serverSchema?: Schema;
}) {
  const { client } = useApp();
  const { clientSchema, serverSchema } = props;
  const [cp, setCp] = useState(() => JSON.stringify(clientSchema ? sampleFromSchema(clientSchema.schema) : SAMPLE_CLIENT_PROFILE, null, 2));
  const [sp, setSp] = useState('{}');
  const [result, setResult] = useState<{ matches: boolean; expression: string } | null>(null);
  const action = useAction();
  const { onExpressionError } = props;

  // A result belongs to the inputs it was computed for.
  useEffect(() => setResult(null), [props.expression, cp, sp]);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setResult(null);
    onExpressionError(null);
    const checked = filterTestBody(props.expression, cp, sp);
    if ('field' in checked) {
      action.setError(new ApiError(0, 'invalid', checked.message, checked.field));
      return;
    }
    const expression = props.expression;
    let answer: { matches: boolean } | undefined;
    const ok = await action.run(async () => {
      answer = await client.post<{ matches: boolean }>(`/applications/${enc(props.appId)}/profile-filters/test`, checked.body);
    });
    if (ok && answer) setResult({ matches: answer.matches, expression });
  };

  // The expression's errors are shown at the expression, not here.
  useEffect(() => {
    const e = action.error;
    if (e instanceof ApiError && e.field === 'body') {
      onExpressionError({ source: props.expression, message: e.message });
      action.clear();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [action.error]);

  return (
    <form onSubmit={submit} aria-label="Test profile filter">
      <Stack gap="sm">
        <Title order={3} size="h5">
          Test against a sample profile
        </Title>
        <Text size="sm" c="dimmed">
          Runs the expression above on these profiles without saving anything: would an endpoint with them join the group?
        </Text>
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          <CodeArea
            label="Sample client profile (cp, JSON)"
            value={cp}
            onChange={(e) => setCp(e.currentTarget.value)}
            error={fieldError(action.error, 'client_profile')}
            minRows={3}
            maxRows={14}
          />
          <CodeArea
            label="Sample server profile (sp, JSON)"
            value={sp}
            onChange={(e) => setSp(e.currentTarget.value)}
            error={fieldError(action.error, 'server_profile')}
            minRows={3}
            maxRows={14}
          />
        </SimpleGrid>
        <Group>
          <Button type="submit" variant="light" loading={action.busy}>
            Test filter
          </Button>
          {clientSchema && (
            <Button variant="subtle" onClick={() => setCp(JSON.stringify(sampleFromSchema(clientSchema.schema), null, 2))}>
              cp from client-profile schema v{clientSchema.version}
            </Button>
          )}
          {serverSchema && (
            <Button variant="subtle" onClick={() => setSp(JSON.stringify(sampleFromSchema(serverSchema.schema), null, 2))}>
              sp from server-profile schema v{serverSchema.version}
            </Button>
          )}
        </Group>
        {!isFieldError(action.error, ['client_profile', 'server_profile', 'body']) && <ErrorAlert error={action.error} />}
        {result && (
          <Alert
            color={result.matches ? 'green' : 'gray'}
            role="status"
            data-testid="filter-test-result"
            data-matches={String(result.matches)}
            title={result.matches ? 'Matches' : 'Does not match'}
          >
            {result.matches
              ? 'An endpoint with these profiles would join the group.'
              : 'An endpoint with these profiles would not join the group (a filter that reads an absent field does not match).'}
          </Alert>
        )}
      </Stack>
    </form>
  );
}

/** The tester for roles that cannot write filters: an expression of its own, prefilled. */
function ReadOnlyTester(props: { appId: string; initial: string; clientSchemas: Schema[]; serverSchemas: Schema[] }) {
  const [text, setText] = useState(props.initial);
  const [error, setError] = useState<BodyError | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  useCaretAt(area, error);
  return (
    <Paper withBorder p="md">
      <Stack>
        <Title order={2} size="h4">
          Try a filter
        </Title>
        <CodeArea
          ref={area}
          label="Filter expression"
          value={text}
          onChange={(e) => {
            setError(null);
            setText(e.currentTarget.value);
          }}
          error={error ? <CompileError source={error.source} message={error.message} /> : undefined}
          minRows={2}
        />
        <FilterTester
          appId={props.appId}
          expression={text}
          onExpressionError={setError}
          clientSchema={newestOf(props.clientSchemas)}
          serverSchema={newestOf(props.serverSchemas)}
        />
      </Stack>
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
