import { useState } from 'react';
import { Button, Group, Select, Stack, Table, TextInput, Title } from '@mantine/core';
import { fieldError, isFieldError, type Application } from '../api';
import { useApp } from '../context';
import { can } from '../roles';
import { Empty, ErrorAlert, formatTime, Link, Loading, useLoad } from '../ui';

export function ApplicationsPage() {
  const { client, session } = useApp();
  const apps = useLoad(() => client.all<Application>('/applications'), [client]);
  const writable = can(session.user.role, 'applications.write');
  const [name, setName] = useState('');
  const [credentials, setCredentials] = useState('trustful');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await client.post('/applications', { name, credentials_service: credentials });
      setName('');
      apps.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack>
      <Title order={1} size="h2">
        Applications
      </Title>
      {writable && (
        <form onSubmit={create} aria-label="New application">
          <Group align="flex-start" wrap="wrap">
            <TextInput label="New application name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(error, 'name')} required w={260} />
            <Select
              label="Credentials"
              data={[
                { value: 'trustful', label: 'Trustful (any endpoint key)' },
                { value: 'internal', label: 'Internal (provisioned only)' },
              ]}
              value={credentials}
              onChange={(v) => v && setCredentials(v)}
              error={fieldError(error, 'credentials_service')}
              allowDeselect={false}
              w={240}
            />
            <Button type="submit" mt={25} loading={busy}>
              Create application
            </Button>
          </Group>
          {!isFieldError(error, ['name', 'credentials_service']) && <ErrorAlert error={error} />}
        </form>
      )}
      <ErrorAlert error={apps.error} />
      {apps.loading && !apps.data ? (
        <Loading />
      ) : apps.data?.length === 0 ? (
        <Empty>{writable ? 'No applications yet. Create the first one above.' : 'No applications yet.'}</Empty>
      ) : (
        <Table.ScrollContainer minWidth={480}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Credentials</Table.Th>
                <Table.Th>Created</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {apps.data?.map((a) => (
                <Table.Tr key={a.id}>
                  <Table.Td>
                    <Link to={`/applications/${encodeURIComponent(a.id)}`}>{a.name}</Link>
                  </Table.Td>
                  <Table.Td>{a.credentials_service}</Table.Td>
                  <Table.Td>{formatTime(a.created_ms)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
