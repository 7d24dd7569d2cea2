import { useState } from 'react';
import { Button, Center, Paper, PasswordInput, Stack, TextInput, Title } from '@mantine/core';
import type { Client, Session } from '../api';
import { ErrorAlert } from '../ui';

export function LoginPage({ client, onLogin }: { client: Client; onLogin: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onLogin(await client.post<Session>('/auth/login', { username, password }));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={380} component="main">
        <form onSubmit={submit}>
          <Stack>
            <Title order={1} size="h3">
              Kaa admin — log in
            </Title>
            <ErrorAlert error={error} title="Cannot log in" />
            <TextInput label="Username" value={username} onChange={(e) => setUsername(e.currentTarget.value)} required autoFocus autoComplete="username" />
            <PasswordInput label="Password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} required autoComplete="current-password" />
            <Button type="submit" loading={busy}>
              Log in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
