// The application's SDK profiles: the schema versions an SDK is built against, the event maps it
// speaks and its default user verifier, under a generated SDK token or one kept from a Kaa 0.10
// SDK; and "Generate SDK", which downloads a profile's SDK archive for Rust, C or Python.
import { useEffect, useState } from 'react';
import {
  Alert, Anchor, Button, Code, Group, Modal, MultiSelect, Paper, Progress, Radio, Select, Stack, Table, Text, TextInput, Title,
} from '@mantine/core';
import { enc, fieldError, isFieldError, type EventMap, type Schema, type SdkProfile, type Verifier } from '../../api';
import { useApp } from '../../context';
import { SDK_PINS, sdkProfileBody, type SdkProfileForm } from '../../forms';
import { can } from '../../roles';
import {
  cacheHit, fallbackFileName, progressPercent, progressText, SDK_TARGETS, sdkPath, type SdkProgress, type SdkTarget,
} from '../../sdks';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Loading, saveFile, Token, useAction, useLoad, versionText } from '../../ui';

const EMPTY: SdkProfileForm = { name: '', versions: {}, eventMapIds: [], defaultVerifier: null, sdkToken: '' };

const mapLabel = (m: EventMap) => `${m.family_name} v${m.version}`;

export function SdkProfilesTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const generates = can(session.user.role, 'sdk.generate');
  const base = `/applications/${enc(appId)}`;
  const path = `${base}/sdk-profiles`;
  const profiles = useLoad(() => client.all<SdkProfile>(path), [client, path]);
  const parts = useLoad(
    () =>
      Promise.all([
        Promise.all(SDK_PINS.map((p) => client.all<Schema>(`${base}/schemas/${p.kind}`))),
        client.all<EventMap>(`${base}/event-maps`),
        client.all<Verifier>(`${base}/user-verifiers`),
      ]),
    [client, base],
  );
  const [schemas, maps, verifiers] = parts.data ?? [[], [], []];
  const verifierName = (token?: string | null) =>
    token ? (verifiers.find((v) => v.verifier_token === token)?.name ?? token) : '—';
  const mapName = (id: string) => {
    const m = maps.find((x) => x.id === id);
    return m ? mapLabel(m) : id;
  };

  return (
    <Stack>
      <ErrorAlert error={profiles.error ?? parts.error} />
      {profiles.loading && !profiles.data ? (
        <Loading />
      ) : profiles.data?.length === 0 ? (
        <Empty>No SDK profiles yet: create one to get an SDK token for building endpoint SDKs.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={900}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>SDK token</Table.Th>
                <Table.Th>Pinned schemas</Table.Th>
                <Table.Th>Event maps</Table.Th>
                <Table.Th>Default verifier</Table.Th>
                <Table.Th>Created</Table.Th>
                {(writable || generates) && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {profiles.data?.map((p) => (
                <Table.Tr key={p.id} data-testid="sdk-profile-row">
                  <Table.Td>{p.name}</Table.Td>
                  <Table.Td>
                    <Token value={p.sdk_token} label={`SDK token of ${p.name}`} />
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs">
                      {SDK_PINS.map((pin) => `${pin.kind.replace('_', ' ')} ${versionText(p[pin.field])}`).join(' · ')}
                    </Text>
                  </Table.Td>
                  <Table.Td>{p.event_map_ids.length ? p.event_map_ids.map(mapName).join(', ') : '—'}</Table.Td>
                  <Table.Td>{verifierName(p.default_verifier_token)}</Table.Td>
                  <Table.Td>{formatTime(p.created_ms)}</Table.Td>
                  {(writable || generates) && (
                    <Table.Td>
                      <Group gap="xs" wrap="nowrap">
                        {generates && <GenerateSdk appId={appId} profile={p} />}
                        {writable && (
                          <ConfirmButton
                            label="Delete"
                            ariaLabel={`Delete SDK profile ${p.name}`}
                            title="Delete SDK profile"
                            message={`Delete SDK profile “${p.name}”? SDKs built with its token stop being recognised.`}
                            onConfirm={() => client.del(`${path}/${enc(p.id)}`)}
                            onDone={profiles.reload}
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
      {writable && parts.data && (
        <NewSdkProfile path={path} schemas={schemas} maps={maps} verifiers={verifiers} onDone={profiles.reload} />
      )}
    </Stack>
  );
}

function NewSdkProfile(props: { path: string; schemas: Schema[][]; maps: EventMap[]; verifiers: Verifier[]; onDone: () => void }) {
  const { client } = useApp();
  const [form, setForm] = useState<SdkProfileForm>(EMPTY);
  const action = useAction();
  const set = (patch: Partial<SdkProfileForm>) => setForm((f) => ({ ...f, ...patch }));

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (await action.run(() => client.post(props.path, sdkProfileBody(form)))) {
      setForm(EMPTY);
      props.onDone();
    }
  };
  const err = (name: string) => fieldError(action.error, name);
  const fields = ['name', 'event_map_ids', 'default_verifier', 'sdk_token', ...SDK_PINS.map((p) => p.field)];
  const tokenError = err('sdk_token');

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="New SDK profile">
        <Stack>
          <Title order={2} size="h4">
            New SDK profile
          </Title>
          <TextInput label="Profile name" value={form.name} onChange={(e) => set({ name: e.currentTarget.value })} error={err('name')} required maw={320} />
          <Group align="flex-start" wrap="wrap">
            {SDK_PINS.map((pin, i) => (
              <Select
                key={pin.field}
                label={pin.label}
                data={[
                  { value: '', label: 'Not pinned' },
                  ...props.schemas[i].map((s) => ({ value: String(s.version), label: `v${s.version} — ${s.name}` })),
                ]}
                value={form.versions[pin.field] ?? ''}
                onChange={(v) => set({ versions: { ...form.versions, [pin.field]: v ?? '' } })}
                error={err(pin.field)}
                allowDeselect={false}
                w={220}
              />
            ))}
          </Group>
          <Group align="flex-start" wrap="wrap">
            <MultiSelect
              label="Event maps"
              placeholder={props.maps.length ? 'Choose event maps' : 'No event maps in this application'}
              data={props.maps.map((m) => ({ value: m.id, label: mapLabel(m) }))}
              value={form.eventMapIds}
              onChange={(v) => set({ eventMapIds: v })}
              error={err('event_map_ids')}
              disabled={props.maps.length === 0}
              w={320}
            />
            <Select
              label="Default user verifier"
              placeholder={props.verifiers.length ? 'None' : 'No verifiers in this application'}
              data={props.verifiers.map((v) => ({ value: v.id, label: `${v.name} (${v.type})` }))}
              value={form.defaultVerifier}
              onChange={(v) => set({ defaultVerifier: v })}
              error={err('default_verifier')}
              disabled={props.verifiers.length === 0}
              clearable
              w={280}
            />
          </Group>
          <TextInput
            label="SDK token (optional)"
            description="Keep a Kaa 0.10 SDK's token so devices built with it keep working; leave empty for a new token"
            placeholder="e.g. Kaa's 27-character token"
            value={form.sdkToken}
            onChange={(e) => set({ sdkToken: e.currentTarget.value })}
            error={tokenError}
            spellCheck={false}
            autoCapitalize="off"
            autoComplete="off"
            maw={420}
            styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
          />
          <Group>
            <Button type="submit" loading={action.busy}>
              Create SDK profile
            </Button>
          </Group>
          {!isFieldError(action.error, fields) && !tokenError && <ErrorAlert error={action.error} />}
        </Stack>
      </form>
    </Paper>
  );
}

/** "Generate SDK" for one profile: the target, progress while the archive is generated and
 *  downloaded, then the saved file's name and size (and a link to save it again). */
function GenerateSdk({ appId, profile }: { appId: string; profile: SdkProfile }) {
  const { client } = useApp();
  const [open, setOpen] = useState(false);
  const [target, setTarget] = useState<SdkTarget>('rust');
  const [progress, setProgress] = useState<SdkProgress | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [saved, setSaved] = useState<{ url: string; fileName: string } | null>(null);
  const busy = progress !== null && progress.phase !== 'done';

  // The previous archive's object URL is let go when a new one replaces it, and on leaving.
  useEffect(
    () => () => {
      if (saved) URL.revokeObjectURL(saved.url);
    },
    [saved],
  );

  const generate = async () => {
    setError(undefined);
    setProgress({ phase: 'generating' });
    try {
      const file = await client.download(
        sdkPath(appId, profile.id, target),
        fallbackFileName(target, profile.sdk_token),
        (received, total) => setProgress({ phase: 'downloading', received, total }),
      );
      setSaved({ url: saveFile(file.blob, file.fileName), fileName: file.fileName });
      setProgress({ phase: 'done', fileName: file.fileName, size: file.size, cached: cacheHit(file.headers.get('X-Kaa-Sdk-Cache')) });
    } catch (e) {
      setError(e);
      setProgress(null);
    }
  };
  const percent = progress ? progressPercent(progress) : null;

  return (
    <>
      <Button size="xs" variant="light" onClick={() => setOpen(true)} aria-label={`Generate SDK of ${profile.name}`}>
        Generate SDK
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={`Generate SDK — ${profile.name}`} centered size="lg">
        <Stack>
          <Text size="sm">
            An archive with the runtime, code generated from the pinned schemas, the SDK token <Code>{profile.sdk_token}</Code> and
            the cluster's bootstrap servers with their public keys.
          </Text>
          <Radio.Group label="Target" value={target} onChange={(v) => setTarget(v as SdkTarget)}>
            <Stack gap="xs" mt="xs">
              {SDK_TARGETS.map((t) => (
                <Radio key={t.value} value={t.value} label={t.label} description={t.hint} disabled={busy} />
              ))}
            </Stack>
          </Radio.Group>
          <Group>
            <Button onClick={generate} loading={busy}>
              Generate and download
            </Button>
          </Group>
          {busy && (
            <Stack gap={4} data-testid="sdk-progress">
              <Progress
                value={percent ?? 100}
                animated={percent === null}
                striped={percent === null}
                aria-label={`Progress of the ${target} SDK`}
              />
              <Text size="sm" role="status">
                {progressText(target, progress)}
              </Text>
            </Stack>
          )}
          {progress?.phase === 'done' && saved && (
            <Alert color="green" variant="light" title="SDK downloaded" data-testid="sdk-result">
              <Text size="sm" role="status" data-testid="sdk-result-text" style={{ overflowWrap: 'anywhere' }}>
                {progressText(target, progress)}
              </Text>
              <Anchor href={saved.url} download={saved.fileName} size="sm">
                Save again
              </Anchor>
            </Alert>
          )}
          <ErrorAlert error={error} title="The SDK could not be generated" />
        </Stack>
      </Modal>
    </>
  );
}
