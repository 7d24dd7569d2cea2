// Form state → API request bodies for the application's components (log appenders, user
// verifiers, SDK profiles, event maps, event class family versions). Pure functions: the pages
// hold the form state, these decide what is sent. The API checks everything; a value the form
// cannot read as a number is sent as typed, so the API's error names the field.

/** An integer field: '' → absent, digits → the number, anything else → the text as typed. */
export function intOrText(value: string | number | null | undefined): number | string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const t = value.trim();
  if (t === '') return undefined;
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

/** A schema version chosen in a select: '' or null → absent, else the number. */
export function versionOrNull(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function put(target: Record<string, unknown>, key: string, value: unknown) {
  if (value !== undefined) target[key] = value;
}

/** Pretty-prints `text` if it is JSON, else returns it unchanged. */
export function formatJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// ---- log appenders ----

export type AppenderType = 'file' | 'rest' | 'mongodb' | 'cassandra';
export const HEADER_FIELDS = ['KEYHASH', 'VERSION', 'TIMESTAMP', 'TOKEN', 'LSVERSION'] as const;

export interface SettingField {
  key: string;
  label: string;
  kind: 'text' | 'int';
  required?: boolean;
  placeholder?: string;
  description?: string;
}

export const APPENDER_TYPES: Record<AppenderType, { label: string; fields: SettingField[]; columns?: boolean }> = {
  file: {
    label: 'File',
    fields: [
      { key: 'path', label: 'File name', kind: 'text', required: true, placeholder: 'thermostat.log', description: 'A bare file name; each Operations node keeps it under its file appender root, in a folder of the tenant and application' },
      { key: 'max_file_bytes', label: 'Max file size (bytes)', kind: 'int' },
      { key: 'max_files', label: 'Max files kept', kind: 'int' },
    ],
  },
  rest: {
    label: 'REST',
    fields: [
      { key: 'url', label: 'URL', kind: 'text', required: true, placeholder: 'https://logs.example.com/ingest' },
      { key: 'timeout_ms', label: 'Timeout (ms)', kind: 'int' },
      { key: 'retries', label: 'Retries', kind: 'int' },
    ],
  },
  mongodb: {
    label: 'MongoDB',
    fields: [
      { key: 'collection', label: 'Collection', kind: 'text', required: true, placeholder: 'logs' },
      { key: 'ttl_seconds', label: 'TTL (seconds)', kind: 'int' },
    ],
  },
  cassandra: {
    label: 'Cassandra',
    fields: [
      { key: 'table', label: 'Table', kind: 'text', required: true, placeholder: 'logs' },
      { key: 'ttl_seconds', label: 'TTL (seconds)', kind: 'int' },
    ],
    columns: true,
  },
};

export interface ColumnForm {
  name: string;
  source: string;
}

export interface AppenderForm {
  name: string;
  type: AppenderType;
  /** Values of the type's settings fields, by key, as typed. */
  settings: Record<string, string>;
  /** Cassandra only. */
  columns: ColumnForm[];
  minLogVersion: string;
  maxLogVersion: string;
  confirmDelivery: boolean;
  headerFields: string[];
}

export function emptyAppenderForm(type: AppenderType = 'file'): AppenderForm {
  return {
    name: '',
    type,
    settings: {},
    columns: [{ name: 'endpoint', source: 'header.KEYHASH' }, { name: 'body', source: 'record' }],
    minLogVersion: '1',
    maxLogVersion: '',
    confirmDelivery: false,
    headerFields: [...HEADER_FIELDS],
  };
}

/** The `POST …/log-appenders` body: only the chosen type's settings, blank ones left out. */
export function appenderBody(form: AppenderForm): Record<string, unknown> {
  const spec = APPENDER_TYPES[form.type];
  const settings: Record<string, unknown> = {};
  for (const f of spec?.fields ?? []) {
    const raw = form.settings[f.key] ?? '';
    if (f.kind === 'int') put(settings, f.key, intOrText(raw));
    else if (raw.trim() !== '') settings[f.key] = raw.trim();
  }
  if (spec?.columns) settings.columns = form.columns.map((c) => ({ name: c.name.trim(), source: c.source.trim() }));
  const body: Record<string, unknown> = {
    name: form.name.trim(),
    type: form.type,
    settings,
    confirm_delivery: form.confirmDelivery,
    header_fields: HEADER_FIELDS.filter((h) => form.headerFields.includes(h)),
  };
  put(body, 'min_log_version', intOrText(form.minLogVersion));
  put(body, 'max_log_version', intOrText(form.maxLogVersion));
  return body;
}

/** The form fields an appender error may name (the rest is shown above the form). */
export function appenderFieldNames(form: AppenderForm): string[] {
  const spec = APPENDER_TYPES[form.type];
  const names = ['name', 'type', 'min_log_version', 'max_log_version', 'header_fields'];
  for (const f of spec?.fields ?? []) names.push(`settings.${f.key}`);
  if (spec?.columns) names.push('settings.columns');
  return names;
}

/** A one-line summary of stored settings, e.g. `path=/var/log/x, max_files=3`. */
export function settingsSummary(settings: Record<string, unknown> | null | undefined): string {
  if (!settings) return '—';
  const parts = Object.entries(settings).map(([k, v]) => {
    if (k === 'columns' && Array.isArray(v))
      return `columns=${v.map((c) => `${(c as ColumnForm).name}←${(c as ColumnForm).source}`).join(' ')}`;
    return `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`;
  });
  return parts.length ? parts.join(', ') : '—';
}

// ---- user verifiers ----

export interface VerifierForm {
  name: string;
  type: 'trustful' | 'http';
  url: string;
  timeoutMs: string;
}

/** The `POST …/user-verifiers` body: a trustful verifier takes no settings. */
export function verifierBody(form: VerifierForm): Record<string, unknown> {
  const body: Record<string, unknown> = { name: form.name.trim(), type: form.type };
  if (form.type === 'http') {
    const settings: Record<string, unknown> = { url: form.url.trim() };
    put(settings, 'timeout_ms', intOrText(form.timeoutMs));
    body.settings = settings;
  }
  return body;
}

// ---- SDK profiles ----

/** The schema kinds an SDK profile pins, with their request field. */
export const SDK_PINS = [
  { kind: 'configuration', field: 'configuration_version', label: 'Configuration schema' },
  { kind: 'client_profile', field: 'client_profile_version', label: 'Client profile schema' },
  { kind: 'server_profile', field: 'server_profile_version', label: 'Server profile schema' },
  { kind: 'notification', field: 'notification_version', label: 'Notification schema' },
  { kind: 'log', field: 'log_version', label: 'Log schema' },
] as const;

export interface SdkProfileForm {
  name: string;
  /** Pinned version by request field ('' = none). */
  versions: Record<string, string>;
  eventMapIds: string[];
  defaultVerifier: string | null;
  /** An SDK token to keep (a Kaa 0.10 SDK's); '' for a new one. */
  sdkToken: string;
}

export function sdkProfileBody(form: SdkProfileForm): Record<string, unknown> {
  const body: Record<string, unknown> = { name: form.name.trim(), event_map_ids: [...form.eventMapIds] };
  for (const pin of SDK_PINS) put(body, pin.field, versionOrNull(form.versions[pin.field]));
  if (form.defaultVerifier) body.default_verifier = form.defaultVerifier;
  // Sent as typed apart from surrounding blanks: the API names what is wrong with it.
  const token = form.sdkToken.trim();
  if (token) body.sdk_token = token;
  return body;
}

// ---- event maps ----

export type EventAction = 'source' | 'sink' | 'both';

/** The `POST …/event-maps` body: event classes with no action are left out. */
export function eventMapBody(familyId: string, version: number, actions: Record<string, string>): Record<string, unknown> {
  const chosen: Record<string, string> = {};
  for (const [fqn, action] of Object.entries(actions)) if (action === 'source' || action === 'sink' || action === 'both') chosen[fqn] = action;
  return { family_id: familyId, version, actions: chosen };
}

// ---- event class family versions ----

export interface ClassForm {
  kind: 'event' | 'object';
  schema: string;
}

/**
 * The `POST …/versions` body, or the index and message of the first class whose schema is not
 * JSON (checked here: the API could only say the body is malformed).
 */
export function familyVersionBody(
  classes: ClassForm[],
): { body: Record<string, unknown> } | { index: number; message: string } {
  const out: unknown[] = [];
  for (let i = 0; i < classes.length; i++) {
    try {
      out.push({ kind: classes[i].kind, schema: JSON.parse(classes[i].schema) });
    } catch (e) {
      return { index: i, message: `Not JSON: ${(e as Error).message}` };
    }
  }
  return { body: { classes: out } };
}

// ---- JSON documents typed by the operator ----

/** A JSON text parsed, or the parse error in words for the field that holds it. */
export function parseJsonField(text: string): { value: unknown } | { error: string } {
  if (!text.trim()) return { error: 'Enter a JSON value' };
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: `Not JSON: ${(e as Error).message}` };
  }
}

/** A request body, or the form field that is wrong and why (checked here, before any request). */
export type Checked = { body: Record<string, unknown> } | { field: string; message: string };

// ---- profile filter test ----

/** The `POST …/profile-filters/test` body: an empty server profile stands for `{}`. */
export function filterTestBody(expression: string, clientProfile: string, serverProfile: string): Checked {
  const cp = parseJsonField(clientProfile);
  if ('error' in cp) return { field: 'client_profile', message: cp.error };
  let sp: unknown = {};
  if (serverProfile.trim()) {
    const parsed = parseJsonField(serverProfile);
    if ('error' in parsed) return { field: 'server_profile', message: parsed.error };
    sp = parsed.value;
  }
  return { body: { body: expression, client_profile: cp.value, server_profile: sp } };
}

// ---- notifications and server profiles ----

export interface NotificationForm {
  /** Unicast only. */
  topicId?: string | null;
  body: string;
  /** '' = the newest notification schema. */
  schemaVersion: string;
  /** '' = the API's default (one day). */
  ttlSeconds: string | number;
}

/** The `POST …/notifications` body (topic or unicast). */
export function notificationBody(form: NotificationForm, unicast: boolean): Checked {
  if (unicast && !form.topicId) return { field: 'topic_id', message: 'Choose the topic the notification belongs to' };
  const parsed = parseJsonField(form.body);
  if ('error' in parsed) return { field: 'body', message: parsed.error };
  const body: Record<string, unknown> = { body: parsed.value };
  if (unicast) body.topic_id = form.topicId;
  put(body, 'schema_version', versionOrNull(form.schemaVersion));
  put(body, 'ttl_seconds', intOrText(form.ttlSeconds));
  return { body };
}

/** The `PUT …/server-profile` body. */
export function serverProfileBody(version: string | null, text: string): Checked {
  const v = versionOrNull(version);
  if (v === undefined) return { field: 'version', message: 'Choose the server-profile schema version' };
  const parsed = parseJsonField(text);
  if ('error' in parsed) return { field: 'body', message: parsed.error };
  return { body: { version: v, body: parsed.value } };
}

/** A TTL in words: `90` → `1 min 30 s`, `86400` → `1 d`. */
export function ttlText(seconds: number): string {
  const units: [string, number][] = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  const parts: string[] = [];
  let rest = Math.max(0, Math.floor(seconds));
  for (const [unit, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
  }
  return parts.length ? parts.slice(0, 2).join(' ') : '0 s';
}

// ---- sample documents from Avro schemas ----

/**
 * A sample JSON document for an Avro schema (the shape the API validates profiles and
 * notifications against): field defaults where the schema has them, else a plain value of the
 * type (0, "", false, the first symbol, null for a union with null, the first branch otherwise).
 */
export function sampleFromSchema(schema: unknown, named: Map<string, unknown> = new Map(), depth = 0, namespace = ''): unknown {
  if (depth > 16) return null;
  const next = (t: unknown, ns = namespace) => sampleFromSchema(t, named, depth + 1, ns);
  if (typeof schema === 'string') {
    switch (schema) {
      case 'null':
        return null;
      case 'boolean':
        return false;
      case 'int':
      case 'long':
        return 0;
      case 'float':
      case 'double':
        return 0.0;
      case 'string':
      case 'bytes':
        return '';
      default: {
        // A named type: as written, or relative to the enclosing namespace.
        const found = named.get(schema) ?? named.get(namespace ? `${namespace}.${schema}` : schema);
        return found ? next(found) : null;
      }
    }
  }
  if (Array.isArray(schema)) {
    if (schema.some((s) => s === 'null')) return null;
    return schema.length ? next(schema[0]) : null;
  }
  if (!schema || typeof schema !== 'object') return null;
  const s = schema as Record<string, unknown>;
  let ns = namespace;
  if (typeof s.name === 'string' && (s.type === 'record' || s.type === 'enum' || s.type === 'fixed')) {
    // Avro full names: a dotted name is full, else the namespace given or inherited applies.
    const dot = s.name.lastIndexOf('.');
    ns = dot >= 0 ? s.name.slice(0, dot) : typeof s.namespace === 'string' ? s.namespace : namespace;
    const short = dot >= 0 ? s.name.slice(dot + 1) : s.name;
    named.set(ns ? `${ns}.${short}` : short, s);
    named.set(short, s);
  }
  switch (s.type) {
    case 'record': {
      const out: Record<string, unknown> = {};
      for (const f of Array.isArray(s.fields) ? s.fields : []) {
        const field = f as Record<string, unknown>;
        if (typeof field.name !== 'string') continue;
        out[field.name] = 'default' in field ? field.default : next(field.type, ns);
      }
      return out;
    }
    case 'enum':
      return Array.isArray(s.symbols) && s.symbols.length ? s.symbols[0] : '';
    case 'array':
      return [];
    case 'map':
      return {};
    case 'fixed':
      return '';
    default:
      return next(s.type);
  }
}
