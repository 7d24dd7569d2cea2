// An application's endpoint credentials: provisioning an endpoint's RSA public key (pasted as
// Base64 or PEM, or uploaded as the SDK's binary `key.public`, turned into Base64 here), the
// paged list, and revoking (the endpoint's session ends and it cannot register again). With the
// `internal` credentials service only provisioned endpoints may register; with `trustful` any
// endpoint registers and its credentials show up here as IN_USE.
import { useEffect, useState } from 'react';
import { Alert, Badge, Button, FileButton, Group, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { ApiError, enc, fieldError, isFieldError, type Credentials, type PageOf } from '../../api';
import { useApp } from '../../context';
import { keyHashOfPublicKey, publicKeyFromFile, publicKeyFromText } from '../../keys';
import { can } from '../../roles';
import { CodeArea, ConfirmButton, Empty, ErrorAlert, Link, Loading, Pager, Token, useAction, useLoad } from '../../ui';

const STATUS_COLORS: Record<string, string> = { AVAILABLE: 'blue', IN_USE: 'green', REVOKED: 'red' };
const STATUS_WORDS: Record<string, string> = {
  AVAILABLE: 'provisioned, not registered yet',
  IN_USE: 'a registered endpoint uses them',
  REVOKED: 'refused: the endpoint cannot connect',
};

export function CredentialsBadge({ status }: { status?: string | null }) {
  if (!status) return <Text c="dimmed">none</Text>;
  return (
    <Badge color={STATUS_COLORS[status] ?? 'gray'} variant="light" title={STATUS_WORDS[status]}>
      {status.replace('_', ' ')}
    </Badge>
  );
}

/** Revokes an endpoint's credentials after confirmation. */
export function RevokeButton({ appId, keyHash, onDone }: { appId: string; keyHash: string; onDone: () => void }) {
  const { client } = useApp();
  return (
    <ConfirmButton
      label="Revoke"
      ariaLabel={`Revoke credentials ${keyHash}`}
      title="Revoke credentials"
      message={
        <>
          Revoke the credentials of endpoint <Text span ff="monospace">{keyHash}</Text>? Its session ends and it can never
          register again with this key.
        </>
      }
      confirmLabel="Revoke"
      onConfirm={() => client.post(`/applications/${enc(appId)}/credentials/${enc(keyHash)}/revoke`)}
      onDone={onDone}
    />
  );
}

const PAGE = 25;

export function CredentialsTab({ appId }: { appId: string }) {
  const { client, session } = useApp();
  const writable = can(session.user.role, 'app.write');
  const path = `/applications/${enc(appId)}/credentials`;
  const [offset, setOffset] = useState(0);
  const list = useLoad(() => client.get<PageOf<Credentials>>(`${path}?offset=${offset}&limit=${PAGE}`), [client, path, offset]);

  return (
    <Stack>
      {writable && <ProvisionForm path={path} onProvisioned={list.reload} />}
      <Group justify="space-between" wrap="wrap">
        <Text size="sm" c="dimmed">
          AVAILABLE: provisioned, waiting for the endpoint · IN USE: a registered endpoint holds them · REVOKED: refused.
        </Text>
        <Button size="xs" variant="default" onClick={list.reload} loading={list.loading}>
          Refresh
        </Button>
      </Group>
      <ErrorAlert error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : list.data?.items.length === 0 && offset === 0 ? (
        <Empty>No credentials yet: provision an endpoint's public key, or let an endpoint register (trustful credentials service).</Empty>
      ) : (
        <>
          <Table.ScrollContainer minWidth={720}>
            <Table striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Endpoint key hash</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>Public key</Table.Th>
                  {writable && <Table.Th>Actions</Table.Th>}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data?.items.map((c) => (
                  <Table.Tr key={c.endpoint_key_hash} data-testid="credentials-row">
                    <Table.Td>
                      {c.status === 'AVAILABLE' ? (
                        <Text ff="monospace" size="sm" data-testid="credentials-key-hash">
                          {c.endpoint_key_hash}
                        </Text>
                      ) : (
                        <Link to={`/applications/${enc(appId)}/endpoints/${enc(c.endpoint_key_hash)}`}>
                          <Text span ff="monospace" size="sm" data-testid="credentials-key-hash">
                            {c.endpoint_key_hash}
                          </Text>
                        </Link>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <CredentialsBadge status={c.status} />
                    </Table.Td>
                    <Table.Td>
                      <Token value={c.public_key} label={`public key ${c.endpoint_key_hash}`} display={`${c.public_key.slice(0, 16)}…`} />
                    </Table.Td>
                    {writable && (
                      <Table.Td>
                        {c.status !== 'REVOKED' && <RevokeButton appId={appId} keyHash={c.endpoint_key_hash} onDone={list.reload} />}
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <Pager offset={offset} shown={list.data?.items.length ?? 0} next={list.data?.next_offset ?? null} pageSize={PAGE} onChange={setOffset} noun="credentials" />
        </>
      )}
    </Stack>
  );
}

function ProvisionForm({ path, onProvisioned }: { path: string; onProvisioned: () => void }) {
  const { client } = useApp();
  const [text, setText] = useState('');
  const [fileName, setFileName] = useState<string | null>(null);
  const [hash, setHash] = useState<string | null>(null);
  const [done, setDone] = useState<Credentials | null>(null);
  const action = useAction();

  // The key hash the endpoint will have, computed here once the input reads as a key.
  useEffect(() => {
    let live = true;
    const key = publicKeyFromText(text);
    if ('error' in key) setHash(null);
    else keyHashOfPublicKey(key.base64).then((h) => live && setHash(h), () => live && setHash(null));
    return () => {
      live = false;
    };
  }, [text]);

  const upload = async (file: File | null) => {
    if (!file) return;
    action.clear();
    setDone(null);
    const key = publicKeyFromFile(new Uint8Array(await file.arrayBuffer()));
    if ('error' in key) {
      action.setError(new ApiError(0, 'invalid', `${file.name}: ${key.error}`, 'public_key'));
      return;
    }
    setFileName(file.name);
    setText(key.base64);
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setDone(null);
    const key = publicKeyFromText(text);
    if ('error' in key) {
      action.setError(new ApiError(0, 'invalid', key.error, 'public_key'));
      return;
    }
    const ok = await action.run(async () => setDone(await client.post<Credentials>(path, { public_key: key.base64 })));
    if (ok) {
      setText('');
      setFileName(null);
      onProvisioned();
    }
  };

  return (
    <Paper withBorder p="md">
      <form onSubmit={submit} aria-label="Provision credentials">
        <Stack>
          <Title order={2} size="h4">
            Provision credentials
          </Title>
          <CodeArea
            label="Endpoint public key"
            description="Base64 of the RSA key's X.509 DER (a PEM “PUBLIC KEY” block works too), or upload the SDK's key.public file."
            placeholder="MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA…"
            value={text}
            onChange={(e) => {
              setFileName(null);
              setText(e.currentTarget.value);
            }}
            error={fieldError(action.error, 'public_key')}
            minRows={3}
            maxRows={8}
            styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)', wordBreak: 'break-all' } }}
          />
          {(hash || fileName) && (
            <Text size="sm" c="dimmed" data-testid="key-preview">
              {fileName && <>From {fileName}. </>}
              {hash && (
                <>
                  Key hash: <Text span ff="monospace">{hash}</Text>
                </>
              )}
            </Text>
          )}
          <Group>
            <FileButton onChange={upload} accept=".public,.der,.pem,.pub,application/octet-stream,application/x-x509-ca-cert">
              {(props) => (
                <Button variant="default" {...props}>
                  Upload key file…
                </Button>
              )}
            </FileButton>
            <Button type="submit" loading={action.busy}>
              Provision credentials
            </Button>
          </Group>
          {!isFieldError(action.error, ['public_key']) && <ErrorAlert error={action.error} />}
          {done && (
            <Alert color="green" role="status" data-testid="credentials-provisioned" title="Credentials provisioned">
              Endpoint key hash <Text span ff="monospace">{done.endpoint_key_hash}</Text>, status {done.status}: the endpoint with this key may
              now register.
            </Alert>
          )}
        </Stack>
      </form>
    </Paper>
  );
}
