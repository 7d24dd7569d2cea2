// The application's user verifiers: how endpoint owners are checked when endpoints attach to a
// user (trustful accepts any owner, http asks a URL). SDKs name a verifier by its token.
import { useState } from 'react';
import { Badge, Button, Group, Paper, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { enc, fieldError, isFieldError, type Verifier } from '../../api';
import { useApp } from '../../context';
import { settingsSummary, verifierBody, type VerifierForm } from '../../forms';
import { can } from '../../roles';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Loading, Token, useAction, useLoad } from '../../ui';

const EMPTY: VerifierForm = { name: '', type: 'trustful', url: '', timeoutMs: '' };

export function VerifiersTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const path = `/applications/${enc(appId)}/user-verifiers`;
  const verifiers = useLoad(() => client.all<Verifier>(path), [client, path]);
  const [form, setForm] = useState<VerifierForm>(EMPTY);
  const action = useAction();
  const set = (patch: Partial<VerifierForm>) => setForm((f) => ({ ...f, ...patch }));

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    if (await action.run(() => client.post(path, verifierBody(form)))) {
      setForm(EMPTY);
      verifiers.reload();
    }
  };
  const err = (name: string) => fieldError(action.error, name);

  return (
    <Stack>
      <ErrorAlert error={verifiers.error} />
      {verifiers.loading && !verifiers.data ? (
        <Loading />
      ) : verifiers.data?.length === 0 ? (
        <Empty>No user verifiers: endpoints of this application cannot be attached to users yet.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={720}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Verifier token</Table.Th>
                <Table.Th>Settings</Table.Th>
                <Table.Th>Created</Table.Th>
                {writable && <Table.Th>Actions</Table.Th>}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {verifiers.data?.map((v) => (
                <Table.Tr key={v.id} data-testid="verifier-row">
                  <Table.Td>{v.name}</Table.Td>
                  <Table.Td>
                    <Badge variant="light">{v.type}</Badge>
                  </Table.Td>
                  <Table.Td>
                    <Token value={v.verifier_token} label={`token of ${v.name}`} />
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" ff="monospace" style={{ wordBreak: 'break-all' }}>
                      {settingsSummary(v.settings)}
                    </Text>
                  </Table.Td>
                  <Table.Td>{formatTime(v.created_ms)}</Table.Td>
                  {writable && (
                    <Table.Td>
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete verifier ${v.name}`}
                        title="Delete user verifier"
                        message={`Delete user verifier “${v.name}”? SDKs that name it can no longer attach endpoints to users.`}
                        onConfirm={() => client.del(`${path}/${enc(v.id)}`)}
                        onDone={verifiers.reload}
                      />
                    </Table.Td>
                  )}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {writable && (
        <Paper withBorder p="md">
          <form onSubmit={create} aria-label="New user verifier">
            <Stack>
              <Title order={2} size="h4">
                New user verifier
              </Title>
              <Group align="flex-start" wrap="wrap">
                <TextInput label="Verifier name" value={form.name} onChange={(e) => set({ name: e.currentTarget.value })} error={err('name')} required w={240} />
                <Select
                  label="Verifier type"
                  data={[
                    { value: 'trustful', label: 'Trustful (accepts any owner)' },
                    { value: 'http', label: 'HTTP (checks the access token at a URL)' },
                  ]}
                  value={form.type}
                  onChange={(v) => v && set({ type: v as VerifierForm['type'] })}
                  error={err('type')}
                  allowDeselect={false}
                  w={320}
                />
              </Group>
              {form.type === 'http' && (
                <Group align="flex-start" wrap="wrap">
                  <TextInput
                    label="Verification URL"
                    placeholder="https://auth.example.com/verify"
                    value={form.url}
                    onChange={(e) => set({ url: e.currentTarget.value })}
                    error={err('settings.url')}
                    required
                    w={360}
                  />
                  <TextInput
                    label="Timeout (ms)"
                    value={form.timeoutMs}
                    onChange={(e) => set({ timeoutMs: e.currentTarget.value })}
                    error={err('settings.timeout_ms')}
                    inputMode="numeric"
                    w={160}
                  />
                </Group>
              )}
              <Group>
                <Button type="submit" loading={action.busy}>
                  Add verifier
                </Button>
              </Group>
              {!isFieldError(action.error, ['name', 'type', 'settings.url', 'settings.timeout_ms']) && <ErrorAlert error={action.error} />}
            </Stack>
          </form>
        </Paper>
      )}
    </Stack>
  );
}
