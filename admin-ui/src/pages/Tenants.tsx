import { useState } from 'react';
import { Button, Group, Modal, Stack, Table, TextInput, Title } from '@mantine/core';
import { fieldError, isFieldError, type Tenant } from '../api';
import { useApp } from '../context';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Loading, useLoad } from '../ui';

export function TenantsPage() {
  const { client } = useApp();
  const tenants = useLoad(() => client.all<Tenant>('/tenants'), [client]);
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [renaming, setRenaming] = useState<Tenant | null>(null);

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await client.post('/tenants', { name });
      setName('');
      tenants.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack>
      <Title order={1} size="h2">
        Tenants
      </Title>
      <form onSubmit={create} aria-label="New tenant">
        <Group align="flex-start" wrap="wrap">
          <TextInput label="New tenant name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(error, 'name')} required w={280} />
          <Button type="submit" mt={25} loading={busy}>
            Create tenant
          </Button>
        </Group>
        {!isFieldError(error, ['name']) && <ErrorAlert error={error} />}
      </form>
      <ErrorAlert error={tenants.error} />
      {tenants.loading && !tenants.data ? (
        <Loading />
      ) : tenants.data?.length === 0 ? (
        <Empty>No tenants yet. Create the first one above.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={560}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Id</Table.Th>
                <Table.Th>Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {tenants.data?.map((t) => (
                <Table.Tr key={t.id}>
                  <Table.Td>{t.name}</Table.Td>
                  <Table.Td>{formatTime(t.created_ms)}</Table.Td>
                  <Table.Td ff="monospace" fz="xs">
                    {t.id}
                  </Table.Td>
                  <Table.Td>
                    <Group gap="xs" wrap="nowrap">
                      <Button size="xs" variant="light" onClick={() => setRenaming(t)} aria-label={`Rename ${t.name}`}>
                        Rename
                      </Button>
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete ${t.name}`}
                        title="Delete tenant"
                        message={`Delete tenant “${t.name}”? A tenant that still has users or applications cannot be deleted.`}
                        onConfirm={() => client.del(`/tenants/${encodeURIComponent(t.id)}`)}
                        onDone={tenants.reload}
                      />
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <RenameModal tenant={renaming} onClose={() => setRenaming(null)} onDone={tenants.reload} />
    </Stack>
  );
}

function RenameModal({ tenant, onClose, onDone }: { tenant: Tenant | null; onClose: () => void; onDone: () => void }) {
  const { client } = useApp();
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<string | null>(null);
  if (tenant && shown !== tenant.id) {
    setShown(tenant.id);
    setName(tenant.name);
    setError(undefined);
  }
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!tenant) return;
    setBusy(true);
    try {
      await client.patch(`/tenants/${encodeURIComponent(tenant.id)}`, { name });
      setShown(null);
      onClose();
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal opened={!!tenant} onClose={() => { setShown(null); onClose(); }} title="Rename tenant" centered>
      <form onSubmit={submit}>
        <Stack>
          <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(error, 'name')} required data-autofocus />
          {!isFieldError(error, ['name']) && <ErrorAlert error={error} />}
          <Group justify="flex-end">
            <Button type="submit" loading={busy}>
              Save
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
