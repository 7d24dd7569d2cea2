import { useState } from 'react';
import { Badge, Button, Group, PasswordInput, Select, Stack, Table, TextInput, Title } from '@mantine/core';
import { fieldError, isFieldError, type Role, type Tenant, type User } from '../api';
import { useApp } from '../context';
import { creatableRoles, ROLE_LABELS } from '../roles';
import { ConfirmButton, Empty, ErrorAlert, formatTime, Loading, useLoad } from '../ui';

export function UsersPage() {
  const { client, session } = useApp();
  const me = session.user;
  const isKaaAdmin = me.role === 'KAA_ADMIN';
  // A KAA_ADMIN lists the KAA_ADMINs (scope '') or one tenant's users (scope = its id).
  const [scope, setScope] = useState('');
  const users = useLoad(
    () => client.all<User>(scope ? `/users?tenant_id=${encodeURIComponent(scope)}` : '/users'),
    [client, scope],
  );
  const tenants = useLoad(
    () => (isKaaAdmin ? client.all<Tenant>('/tenants') : Promise.resolve([] as Tenant[])),
    [client, isKaaAdmin],
  );
  const roles = creatableRoles(me.role);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>(roles[0]);
  const [tenantId, setTenantId] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const needsTenant = isKaaAdmin && role !== 'KAA_ADMIN';
  const tenantName = (id?: string | null) =>
    id ? (tenants.data?.find((t) => t.id === id)?.name ?? id) : '—';

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const body: Record<string, unknown> = { username, password, role };
      if (needsTenant) body.tenant_id = tenantId;
      await client.post('/users', body);
      setUsername('');
      setPassword('');
      if (isKaaAdmin && (needsTenant ? tenantId : '') !== scope) setScope(needsTenant ? (tenantId ?? '') : '');
      else users.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const fields = ['username', 'password', 'role', 'tenant_id'];
  return (
    <Stack>
      <Title order={1} size="h2">
        Users
      </Title>
      {roles.length > 0 && (
        <form onSubmit={create} aria-label="New user">
          <Group align="flex-start" wrap="wrap">
            <TextInput label="Username" value={username} onChange={(e) => setUsername(e.currentTarget.value)} error={fieldError(error, 'username')} required w={200} />
            <PasswordInput label="Password" description="At least 8 characters" value={password} onChange={(e) => setPassword(e.currentTarget.value)} error={fieldError(error, 'password')} required w={200} autoComplete="new-password" />
            <Select
              label="Role"
              data={roles.map((r) => ({ value: r, label: ROLE_LABELS[r] }))}
              value={role}
              onChange={(v) => v && setRole(v as Role)}
              error={fieldError(error, 'role')}
              allowDeselect={false}
              w={180}
            />
            {needsTenant && (
              <Select
                label="Tenant"
                placeholder="Choose a tenant"
                data={(tenants.data ?? []).map((t) => ({ value: t.id, label: t.name }))}
                value={tenantId}
                onChange={setTenantId}
                error={fieldError(error, 'tenant_id')}
                required
                searchable
                w={200}
                nothingFoundMessage="No tenants: create one first"
              />
            )}
            <Button type="submit" mt={25} loading={busy}>
              Create user
            </Button>
          </Group>
          {!isFieldError(error, fields) && <ErrorAlert error={error} />}
        </form>
      )}
      {isKaaAdmin && (
        <Select
          label="Show users of"
          data={[{ value: '', label: 'Kaa admins' }, ...(tenants.data ?? []).map((t) => ({ value: t.id, label: `Tenant ${t.name}` }))]}
          value={scope}
          onChange={(v) => setScope(v ?? '')}
          allowDeselect={false}
          w={260}
        />
      )}
      <ErrorAlert error={users.error} />
      {users.loading && !users.data ? (
        <Loading />
      ) : users.data?.length === 0 ? (
        <Empty>No users.</Empty>
      ) : (
        <Table.ScrollContainer minWidth={560}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Username</Table.Th>
                <Table.Th>Role</Table.Th>
                {isKaaAdmin && <Table.Th>Tenant</Table.Th>}
                <Table.Th>Created</Table.Th>
                <Table.Th>Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {users.data?.map((u) => (
                <Table.Tr key={u.id}>
                  <Table.Td>{u.username}</Table.Td>
                  <Table.Td>
                    <Badge variant="light">{ROLE_LABELS[u.role] ?? u.role}</Badge>
                  </Table.Td>
                  {isKaaAdmin && <Table.Td>{tenantName(u.tenant_id)}</Table.Td>}
                  <Table.Td>{formatTime(u.created_ms)}</Table.Td>
                  <Table.Td>
                    {u.id !== me.id && (
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete user ${u.username}`}
                        title="Delete user"
                        message={`Delete user “${u.username}”? Their sessions end at once.`}
                        onConfirm={() => client.del(`/users/${encodeURIComponent(u.id)}`)}
                        onDone={users.reload}
                      />
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
