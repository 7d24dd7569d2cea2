// The application's SDK profiles: the schema versions an SDK is built against, the event maps it
// speaks and its default user verifier, under a generated SDK token.
import { useState } from 'react';
import { Button, Group, MultiSelect, Paper, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { enc, fieldError, isFieldError, type EventMap, type Schema, type SdkProfile, type Verifier } from '../../api';
import { useApp } from '../../context';
import { SDK_PINS, sdkProfileBody, type SdkProfileForm } from '../../forms';
import { can } from '../../roles';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Loading, Token, useAction, useLoad, versionText } from '../../ui';

const EMPTY: SdkProfileForm = { name: '', versions: {}, eventMapIds: [], defaultVerifier: null };

const mapLabel = (m: EventMap) => `${m.family_name} v${m.version}`;

export function SdkProfilesTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
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
                {writable && <Table.Th>Actions</Table.Th>}
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
                  {writable && (
                    <Table.Td>
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete SDK profile ${p.name}`}
                        title="Delete SDK profile"
                        message={`Delete SDK profile “${p.name}”? SDKs built with its token stop being recognised.`}
                        onConfirm={() => client.del(`${path}/${enc(p.id)}`)}
                        onDone={profiles.reload}
                      />
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
  const fields = ['name', 'event_map_ids', 'default_verifier', ...SDK_PINS.map((p) => p.field)];

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
          <Group>
            <Button type="submit" loading={action.busy}>
              Create SDK profile
            </Button>
          </Group>
          {!isFieldError(action.error, fields) && <ErrorAlert error={action.error} />}
        </Stack>
      </form>
    </Paper>
  );
}
