// Sending a notification: to every receiver of a topic (`POST …/topics/{topic}/notifications`) or
// to one endpoint (`POST …/endpoints/{key}/notifications`). The body is JSON, validated by the API
// against the application's notification schema (the newest unless a version is chosen).
import { useEffect, useState } from 'react';
import { Alert, Button, Group, NumberInput, Select, Stack, Text } from '@mantine/core';
import { ApiError, enc, fieldError, isFieldError, type Schema, type SentNotification, type Topic } from '../../api';
import { useApp } from '../../context';
import { notificationBody, sampleFromSchema, ttlText, type NotificationForm } from '../../forms';
import { CodeArea, ErrorAlert, formatTime, Link, useAction, useLoad } from '../../ui';

const FIELDS = ['topic_id', 'body', 'schema_version', 'ttl_seconds'];

export function NotificationSender(props: {
  appId: string;
  /** Where to POST. */
  path: string;
  /** Unicast: the topics to choose from (the endpoint's subscriptions first). */
  topics?: { topic: Topic; subscribed: boolean }[];
  /** A topic notification: the topic's name, for the result. */
  topicName?: string;
  /** Name of the form, for assistive technology. */
  label: string;
}) {
  const { client } = useApp();
  const unicast = props.topics !== undefined;
  const schemas = useLoad(() => client.all<Schema>(`/applications/${enc(props.appId)}/schemas/notification`), [client, props.appId]);
  const versions = [...(schemas.data ?? [])].sort((a, b) => b.version - a.version);
  const newest = versions[0];
  const [form, setForm] = useState<NotificationForm>({ topicId: null, body: '', schemaVersion: '', ttlSeconds: '' });
  const [touched, setTouched] = useState(false);
  const [sent, setSent] = useState<SentNotification | null>(null);
  const action = useAction();
  const set = (patch: Partial<NotificationForm>) => setForm((f) => ({ ...f, ...patch }));

  // Start from a sample of the newest schema until the operator types a body.
  useEffect(() => {
    if (!touched && newest) set({ body: JSON.stringify(sampleFromSchema(newest.schema), null, 2) });
  }, [newest, touched]);

  const chosen = form.schemaVersion ? versions.find((s) => String(s.version) === form.schemaVersion) : newest;
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSent(null);
    const checked = notificationBody(form, unicast);
    if ('field' in checked) {
      action.setError(new ApiError(0, 'invalid', checked.message, checked.field));
      return;
    }
    await action.run(async () => setSent(await client.post<SentNotification>(props.path, checked.body)));
  };

  if (schemas.data && versions.length === 0)
    return (
      <Text size="sm" c="dimmed" data-testid="no-notification-schema">
        The application has no notification schema, so it cannot send notifications yet: upload one on the{' '}
        <Link to={`/applications/${enc(props.appId)}/schemas`}>Schemas</Link> tab.
      </Text>
    );

  const topicName = unicast ? props.topics?.find((t) => t.topic.id === sent?.topic_id)?.topic.name : props.topicName;
  return (
    <form onSubmit={submit} aria-label={props.label}>
      <Stack>
        <ErrorAlert error={schemas.error} />
        <Group align="flex-start" wrap="wrap">
          {unicast && (
            <Select
              label="Topic"
              placeholder="Choose a topic"
              data={(props.topics ?? []).map(({ topic, subscribed }) => ({
                value: topic.id,
                label: `${topic.name} (${topic.kind}${subscribed ? ', subscribed' : ''})`,
              }))}
              value={form.topicId ?? null}
              onChange={(v) => set({ topicId: v })}
              error={fieldError(action.error, 'topic_id')}
              description="Its subscriptions first"
              nothingFoundMessage="No topics"
              required
              w={260}
            />
          )}
          <Select
            label="Notification schema"
            description="The body's schema"
            data={[
              { value: '', label: newest ? `Newest (v${newest.version})` : 'Newest' },
              ...versions.map((s) => ({ value: String(s.version), label: `v${s.version} — ${s.name}` })),
            ]}
            value={form.schemaVersion}
            onChange={(v) => set({ schemaVersion: v ?? '' })}
            error={fieldError(action.error, 'schema_version')}
            allowDeselect={false}
            w={220}
          />
          <NumberInput
            label="Time to live (seconds)"
            description="1 s to 30 days; empty: 1 day"
            placeholder="86400"
            value={form.ttlSeconds}
            onChange={(v) => set({ ttlSeconds: v })}
            error={fieldError(action.error, 'ttl_seconds')}
            min={1}
            max={2592000}
            allowDecimal={false}
            w={200}
          />
        </Group>
        <CodeArea
          label="Notification body (JSON)"
          description={chosen ? `Validated against notification schema v${chosen.version} (${chosen.name}).` : undefined}
          value={form.body}
          onChange={(e) => {
            setTouched(true);
            set({ body: e.currentTarget.value });
          }}
          error={fieldError(action.error, 'body')}
          minRows={3}
          required
        />
        <Group>
          <Button type="submit" loading={action.busy}>
            {unicast ? 'Send to this endpoint' : 'Send notification'}
          </Button>
          {chosen && (
            <Button
              variant="subtle"
              onClick={() => {
                setTouched(true);
                set({ body: JSON.stringify(sampleFromSchema(chosen.schema), null, 2) });
              }}
            >
              Sample from schema v{chosen.version}
            </Button>
          )}
        </Group>
        {!isFieldError(action.error, FIELDS) && <ErrorAlert error={action.error} />}
        {sent && (
          <Alert color="green" role="status" data-testid="notification-sent" title="Notification sent">
            {sent.seq != null ? (
              <>
                Sequence number <b data-testid="notification-seq">{sent.seq}</b> of topic {topicName ?? sent.topic_id}
              </>
            ) : (
              <>Unicast on topic {topicName ?? sent.topic_id}, delivered at the endpoint's next sync or at once if it is connected</>
            )}
            ; deliverable until {formatTime(sent.expires_at_ms)}
            {typeof form.ttlSeconds === 'number' ? ` (${ttlText(form.ttlSeconds)})` : ''}. Id{' '}
            <Text span ff="monospace" size="xs">
              {sent.id}
            </Text>
          </Alert>
        )}
      </Stack>
    </form>
  );
}
