// One registered endpoint: its decoded client profile, server profile (edited here, validated by
// the API against the server-profile schema; groups and configuration are then recomputed and
// pushed), groups by name, configuration hash, topic subscriptions, node, last sync and
// credentials status; and a unicast notification to it.
import { useState } from 'react';
import {
  Alert, Badge, Breadcrumbs, Button, Code, Group, Paper, Select, SimpleGrid, Stack, Text, Title,
} from '@mantine/core';
import {
  ApiError, enc, fieldError, isFieldError, type Application, type Endpoint, type Group as EpGroup, type Schema, type Topic,
} from '../api';
import { useApp } from '../context';
import { groupNames, subscriptionChoices } from '../endpoints';
import { formatJson, serverProfileBody } from '../forms';
import { keyHashForms, shortKeyHash } from '../keys';
import { can } from '../roles';
import { CodeArea, ErrorAlert, formatTime, Link, Loading, Token, useAction, useLoad } from '../ui';
import { CredentialsBadge, RevokeButton } from './app/Credentials';
import { NotificationSender } from './app/Notify';

export function EndpointPage({ appId, keyHash }: { appId: string; keyHash: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const base = `/applications/${enc(appId)}`;
  const path = `${base}/endpoints/${enc(keyHash)}`;
  const head = useLoad(() => client.get<Application>(base), [client, base]);
  const endpoint = useLoad(() => client.get<Endpoint>(path), [client, path]);
  const groups = useLoad(() => client.all<EpGroup>(`${base}/groups`), [client, base]);
  const topics = useLoad(() => client.all<Topic>(`${base}/topics`), [client, base]);

  const crumbs = (
    <Breadcrumbs>
      <Link to="/applications">Applications</Link>
      <Link to={`${base}/groups`}>{head.data?.name ?? 'Application'}</Link>
      <Link to={`${base}/endpoints`}>Endpoints</Link>
      <Text ff="monospace">{shortKeyHash(keyHash)}</Text>
    </Breadcrumbs>
  );
  if (endpoint.error)
    return (
      <Stack>
        {crumbs}
        <ErrorAlert
          error={endpoint.error instanceof ApiError && endpoint.error.status === 404 ? new Error(`No endpoint with key hash ${keyHash} is registered with this application.`) : endpoint.error}
        />
      </Stack>
    );
  if (!endpoint.data) return <Loading />;
  const ep = endpoint.data;
  const forms = keyHashForms(ep.endpoint_key_hash);
  const topicById = new Map((topics.data ?? []).map((t) => [t.id, t]));
  const topicChoices = subscriptionChoices(topics.data ?? [], ep.subscriptions);

  return (
    <Stack>
      {crumbs}
      <Group justify="space-between" wrap="wrap">
        <Title order={1} size="h2">
          Endpoint{' '}
          <Text span inherit ff="monospace">
            {shortKeyHash(ep.endpoint_key_hash)}
          </Text>
        </Title>
        <Group gap="xs">
          <Button size="xs" variant="default" onClick={endpoint.reload} loading={endpoint.loading}>
            Refresh
          </Button>
          {writable && ep.credentials_status && ep.credentials_status !== 'REVOKED' && (
            <RevokeButton appId={appId} keyHash={ep.endpoint_key_hash} onDone={endpoint.reload} />
          )}
        </Group>
      </Group>
      <Paper withBorder p="md">
        <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="sm" verticalSpacing="sm">
          <Field label="Key hash">
            <Token value={ep.endpoint_key_hash} label="key hash" />
            {forms && (
              <Text size="xs" c="dimmed" ff="monospace" style={{ wordBreak: 'break-all' }}>
                hex {forms.hex}
              </Text>
            )}
          </Field>
          <Field label="Credentials">
            <CredentialsBadge status={ep.credentials_status} />
          </Field>
          <Field label="Access token">
            <Text data-testid="endpoint-access-token">{ep.access_token || '—'}</Text>
          </Field>
          <Field label="SDK token">
            <Text ff="monospace" size="sm" style={{ wordBreak: 'break-all' }}>
              {ep.sdk_token}
            </Text>
          </Field>
          <Field label="Node">
            <Text ff="monospace" size="sm">
              {ep.node_id ?? '—'}
            </Text>
          </Field>
          <Field label="Last seen">
            <Text data-testid="endpoint-last-seen">{formatTime(ep.last_seen_ms)}</Text>
          </Field>
          <Field label="Groups">
            <Group gap={0} data-testid="endpoint-groups">
              {ep.groups.length === 0 && <Text c="dimmed">none</Text>}
              {groupNames(ep.groups, groups.data).map((g, i) => (
                <Text span key={g.id}>
                  {i > 0 && ', '}
                  <Link to={`${base}/groups/${enc(g.id)}`}>{g.name}</Link>
                </Text>
              ))}
            </Group>
          </Field>
          <Field label="Configuration hash">
            <Text ff="monospace" size="sm" style={{ wordBreak: 'break-all' }} data-testid="endpoint-configuration-hash">
              {ep.configuration_hash || 'none: no configuration applies'}
            </Text>
          </Field>
          <Field label="Topic subscriptions">
            <Group gap={6} data-testid="endpoint-subscriptions">
              {ep.subscriptions.length === 0 && <Text c="dimmed">none</Text>}
              {ep.subscriptions.map((id) => (
                <Badge key={id} variant="light" tt="none">
                  {topicById.get(id)?.name ?? id}
                </Badge>
              ))}
            </Group>
          </Field>
        </SimpleGrid>
      </Paper>
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Paper withBorder p="md">
          <Stack gap="xs">
            <Title order={2} size="h4">
              Client profile
            </Title>
            <Text size="sm" c="dimmed">
              Sent by the endpoint; schema v{ep.client_profile_version}.
            </Text>
            {ep.client_profile === null || ep.client_profile === undefined ? (
              <Text c="orange">Cannot be decoded with client-profile schema v{ep.client_profile_version}.</Text>
            ) : (
              <Code block data-testid="endpoint-client-profile">
                {JSON.stringify(ep.client_profile, null, 2)}
              </Code>
            )}
          </Stack>
        </Paper>
        <ServerProfile appId={appId} endpoint={ep} path={path} writable={writable} onSaved={endpoint.reload} />
      </SimpleGrid>
      {writable && (
        <Paper withBorder p="md">
          <Stack>
            <Title order={2} size="h4">
              Send a unicast notification
            </Title>
            <Text size="sm" c="dimmed">
              To this endpoint only, on one of the application's topics: pushed at once if it is connected, else at its next sync.
            </Text>
            {topics.data && topics.data.length === 0 ? (
              <Text size="sm" c="dimmed">
                The application has no topics yet; create one on the <Link to={`${base}/topics`}>Topics</Link> tab.
              </Text>
            ) : (
              <NotificationSender appId={appId} path={`${path}/notifications`} topics={topicChoices} label="Unicast notification" />
            )}
          </Stack>
        </Paper>
      )}
    </Stack>
  );
}

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <Stack gap={2}>
      <Text size="xs" fw={700} c="dimmed" tt="uppercase">
        {label}
      </Text>
      {children}
    </Stack>
  );
}

function ServerProfile(props: { appId: string; endpoint: Endpoint; path: string; writable: boolean; onSaved: () => void }) {
  const { client } = useApp();
  const ep = props.endpoint;
  const schemas = useLoad(() => client.all<Schema>(`/applications/${enc(props.appId)}/schemas/server_profile`), [client, props.appId]);
  const [editing, setEditing] = useState(false);
  const [version, setVersion] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const versions = [...(schemas.data ?? [])].sort((a, b) => b.version - a.version);

  const edit = () => {
    setSaved(false);
    action.clear();
    setVersion(ep.server_profile_version ? String(ep.server_profile_version) : versions[0] ? String(versions[0].version) : null);
    setText(formatJson(JSON.stringify(ep.server_profile ?? {})));
    setEditing(true);
  };
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const checked = serverProfileBody(version, text);
    if ('field' in checked) {
      action.setError(new ApiError(0, 'invalid', checked.message, checked.field));
      return;
    }
    if (await action.run(() => client.put<Endpoint>(`${props.path}/server-profile`, checked.body))) {
      setEditing(false);
      setSaved(true);
      props.onSaved();
    }
  };

  return (
    <Paper withBorder p="md">
      <Stack gap="xs">
        <Group justify="space-between" wrap="wrap">
          <Title order={2} size="h4">
            Server profile
          </Title>
          {props.writable && !editing && versions.length > 0 && (
            <Button size="xs" variant="default" onClick={edit}>
              Edit server profile
            </Button>
          )}
        </Group>
        <Text size="sm" c="dimmed">
          Set by the server; schema {ep.server_profile_version ? `v${ep.server_profile_version}` : 'none'}. Profile filters read it as sp.
        </Text>
        <ErrorAlert error={schemas.error} />
        {saved && (
          <Alert color="green" role="status" data-testid="server-profile-saved">
            Saved. The endpoint's groups and configuration were recomputed and pushed to it.
          </Alert>
        )}
        {props.writable && schemas.data && versions.length === 0 && (
          <Text size="sm" c="dimmed">
            To set it, upload a server-profile schema on the <Link to={`/applications/${enc(props.appId)}/schemas`}>Schemas</Link> tab.
          </Text>
        )}
        {!editing ? (
          <Code block data-testid="endpoint-server-profile">
            {JSON.stringify(ep.server_profile, null, 2)}
          </Code>
        ) : (
          <form onSubmit={submit} aria-label="Edit server profile">
            <Stack gap="sm">
              <Select
                label="Server-profile schema"
                data={versions.map((s) => ({ value: String(s.version), label: `v${s.version} — ${s.name}` }))}
                value={version}
                onChange={setVersion}
                error={fieldError(action.error, 'version')}
                allowDeselect={false}
                w={260}
              />
              <CodeArea
                label="Server profile (JSON)"
                value={text}
                onChange={(e) => setText(e.currentTarget.value)}
                error={fieldError(action.error, 'body')}
                required
              />
              <Group>
                <Button type="submit" loading={action.busy}>
                  Save server profile
                </Button>
                <Button variant="subtle" onClick={() => setEditing(false)}>
                  Cancel
                </Button>
              </Group>
              {!isFieldError(action.error, ['version', 'body']) && <ErrorAlert error={action.error} />}
            </Stack>
          </form>
        )}
      </Stack>
    </Paper>
  );
}
