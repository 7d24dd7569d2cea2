import { describe, expect, it } from 'vitest';
import {
  appenderBody, appenderFieldNames, emptyAppenderForm, eventMapBody, familyVersionBody, filterTestBody, formatJson, intOrText,
  notificationBody, sampleFromSchema, sdkProfileBody, serverProfileBody, settingsSummary, ttlText, verifierBody, versionOrNull,
} from '../../src/forms';

describe('field values', () => {
  it('reads integers, leaves blanks out and passes other text on for the API to name', () => {
    expect(intOrText('')).toBeUndefined();
    expect(intOrText('  42 ')).toBe(42);
    expect(intOrText('-1')).toBe(-1);
    expect(intOrText('ten')).toBe('ten');
    expect(intOrText(7)).toBe(7);
    expect(intOrText(null)).toBeUndefined();
    expect(versionOrNull('')).toBeUndefined();
    expect(versionOrNull('3')).toBe(3);
    expect(versionOrNull(null)).toBeUndefined();
  });
  it('pretty-prints JSON and leaves anything else alone', () => {
    expect(formatJson('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(formatJson('{"a":')).toBe('{"a":');
  });
});

describe('appenderBody', () => {
  it('sends only the chosen type settings, blanks left out', () => {
    const form = { ...emptyAppenderForm('file'), name: ' files ', settings: { path: 'meters.log', max_files: '3', max_file_bytes: '', url: 'ignored' } };
    expect(appenderBody(form)).toEqual({
      name: 'files',
      type: 'file',
      settings: { path: 'meters.log', max_files: 3 },
      confirm_delivery: false,
      header_fields: ['KEYHASH', 'VERSION', 'TIMESTAMP', 'TOKEN', 'LSVERSION'],
      min_log_version: 1,
    });
  });
  it('maps the log version range, delivery flag and header fields in their canonical order', () => {
    const form = {
      ...emptyAppenderForm('rest'),
      name: 'r',
      settings: { url: 'https://x', retries: 'many' },
      minLogVersion: '2',
      maxLogVersion: '4',
      confirmDelivery: true,
      headerFields: ['TOKEN', 'KEYHASH'],
    };
    expect(appenderBody(form)).toMatchObject({
      settings: { url: 'https://x', retries: 'many' },
      min_log_version: 2,
      max_log_version: 4,
      confirm_delivery: true,
      header_fields: ['KEYHASH', 'TOKEN'],
    });
  });
  it('sends Cassandra columns', () => {
    const form = { ...emptyAppenderForm('cassandra'), name: 'c', settings: { table: 'logs' }, columns: [{ name: ' k ', source: 'header.KEYHASH' }] };
    expect(appenderBody(form).settings).toEqual({ table: 'logs', columns: [{ name: 'k', source: 'header.KEYHASH' }] });
    expect(appenderFieldNames(form)).toContain('settings.columns');
    expect(appenderFieldNames(form)).toContain('settings.table');
    expect(appenderFieldNames(emptyAppenderForm('file'))).not.toContain('settings.columns');
  });
  it('summarises stored settings', () => {
    expect(settingsSummary({ path: '/x', max_files: 3 })).toBe('path=/x, max_files=3');
    expect(settingsSummary({ table: 't', columns: [{ name: 'k', source: 'record' }] })).toBe('table=t, columns=k←record');
    expect(settingsSummary({})).toBe('—');
  });
});

describe('verifierBody', () => {
  it('gives a trustful verifier no settings and an http one its URL and timeout', () => {
    expect(verifierBody({ name: 't', type: 'trustful', url: 'https://left-over', timeoutMs: '5' })).toEqual({ name: 't', type: 'trustful' });
    expect(verifierBody({ name: 'h', type: 'http', url: ' https://a/v ', timeoutMs: '' })).toEqual({
      name: 'h',
      type: 'http',
      settings: { url: 'https://a/v' },
    });
    expect(verifierBody({ name: 'h', type: 'http', url: 'https://a', timeoutMs: '500' }).settings).toEqual({ url: 'https://a', timeout_ms: 500 });
  });
});

describe('sdkProfileBody', () => {
  it('pins only the chosen schema versions', () => {
    expect(
      sdkProfileBody({
        name: ' sdk ',
        versions: { configuration_version: '2', log_version: '', client_profile_version: '1' },
        eventMapIds: ['m1'],
        defaultVerifier: 'v1',
        sdkToken: '',
      }),
    ).toEqual({ name: 'sdk', event_map_ids: ['m1'], configuration_version: 2, client_profile_version: 1, default_verifier: 'v1' });
    expect(sdkProfileBody({ name: 'bare', versions: {}, eventMapIds: [], defaultVerifier: null, sdkToken: '  ' })).toEqual({ name: 'bare', event_map_ids: [] });
  });
  it('keeps a given SDK token, trimmed but otherwise as typed for the API to judge', () => {
    const form = { name: 'legacy', versions: {}, eventMapIds: [], defaultVerifier: null };
    expect(sdkProfileBody({ ...form, sdkToken: ' kaa010-Tok_en ' }).sdk_token).toBe('kaa010-Tok_en');
    expect(sdkProfileBody({ ...form, sdkToken: 'not a token!' }).sdk_token).toBe('not a token!');
  });
});

describe('eventMapBody', () => {
  it('leaves out classes with no action', () => {
    expect(eventMapBody('f1', 2, { 'a.B': 'source', 'a.C': '', 'a.D': 'both', 'a.E': 'bogus' })).toEqual({
      family_id: 'f1',
      version: 2,
      actions: { 'a.B': 'source', 'a.D': 'both' },
    });
  });
});

describe('familyVersionBody', () => {
  it('parses each class schema, or names the first that is not JSON', () => {
    expect(familyVersionBody([{ kind: 'event', schema: '{"type":"record","name":"A","fields":[]}' }])).toEqual({
      body: { classes: [{ kind: 'event', schema: { type: 'record', name: 'A', fields: [] } }] },
    });
    const bad = familyVersionBody([
      { kind: 'event', schema: '{}' },
      { kind: 'object', schema: '{nope' },
    ]);
    expect(bad).toMatchObject({ index: 1 });
    expect('message' in bad && bad.message).toMatch(/^Not JSON/);
  });
});

describe('filterTestBody', () => {
  it('sends the expression with both sample profiles, an empty server profile as {}', () => {
    expect(filterTestBody('cp.os == "android"', '{"os": "android"}', '')).toEqual({
      body: { body: 'cp.os == "android"', client_profile: { os: 'android' }, server_profile: {} },
    });
    expect(filterTestBody('sp.tier > 1', '{}', '{"tier": 2}')).toEqual({ body: { body: 'sp.tier > 1', client_profile: {}, server_profile: { tier: 2 } } });
  });
  it('names the profile that is not JSON', () => {
    expect(filterTestBody('true', '{os: 1}', '{}')).toEqual({ field: 'client_profile', message: expect.stringMatching(/^Not JSON/) });
    expect(filterTestBody('true', '', '{}')).toEqual({ field: 'client_profile', message: 'Enter a JSON value' });
    expect(filterTestBody('true', '{}', '[')).toEqual({ field: 'server_profile', message: expect.stringMatching(/^Not JSON/) });
  });
});

describe('notificationBody', () => {
  it('maps a topic notification: body, optional schema version and TTL', () => {
    expect(notificationBody({ body: '{"text": "hi"}', schemaVersion: '', ttlSeconds: '' }, false)).toEqual({ body: { body: { text: 'hi' } } });
    expect(notificationBody({ body: '{"text": "hi"}', schemaVersion: '2', ttlSeconds: 3600 }, false)).toEqual({
      body: { body: { text: 'hi' }, schema_version: 2, ttl_seconds: 3600 },
    });
  });
  it('names the topic of a unicast notification, and requires one', () => {
    expect(notificationBody({ topicId: 't1', body: '{}', schemaVersion: '', ttlSeconds: '60' }, true)).toEqual({
      body: { body: {}, topic_id: 't1', ttl_seconds: 60 },
    });
    expect(notificationBody({ topicId: null, body: '{}', schemaVersion: '', ttlSeconds: '' }, true)).toEqual({
      field: 'topic_id',
      message: expect.any(String),
    });
  });
  it('refuses a body that is not JSON at the body field; passes odd TTLs on for the API to name', () => {
    expect(notificationBody({ body: 'hello', schemaVersion: '', ttlSeconds: '' }, false)).toEqual({ field: 'body', message: expect.stringMatching(/^Not JSON/) });
    expect(notificationBody({ body: '1', schemaVersion: '', ttlSeconds: 'soon' }, false)).toEqual({ body: { body: 1, ttl_seconds: 'soon' } });
  });
});

describe('serverProfileBody', () => {
  it('sends the schema version and the JSON body', () => {
    expect(serverProfileBody('1', '{"tier": 2}')).toEqual({ body: { version: 1, body: { tier: 2 } } });
    expect(serverProfileBody(null, '{}')).toEqual({ field: 'version', message: expect.any(String) });
    expect(serverProfileBody('1', '{tier}')).toEqual({ field: 'body', message: expect.stringMatching(/^Not JSON/) });
  });
});

describe('ttlText', () => {
  it('says a TTL in at most two units', () => {
    expect(ttlText(86400)).toBe('1 d');
    expect(ttlText(90)).toBe('1 min 30 s');
    expect(ttlText(90061)).toBe('1 d 1 h');
    expect(ttlText(0)).toBe('0 s');
  });
});

describe('sampleFromSchema', () => {
  it('fills a record with defaults or plain values of each type', () => {
    const schema = {
      type: 'record',
      name: 'Device',
      namespace: 'org.example',
      fields: [
        { name: 'os', type: 'string' },
        { name: 'version', type: 'int' },
        { name: 'beta', type: 'boolean', default: true },
        { name: 'ratio', type: 'double' },
        { name: 'nickname', type: ['null', 'string'] },
        { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['THERMOSTAT', 'SENSOR'] } },
        { name: 'tags', type: { type: 'array', items: 'string' } },
        { name: 'labels', type: { type: 'map', values: 'string' } },
        { name: 'inner', type: { type: 'record', name: 'Inner', fields: [{ name: 'x', type: 'long' }] } },
        { name: 'again', type: 'org.example.Inner' },
        { name: 'kind2', type: 'Kind' },
      ],
    };
    expect(sampleFromSchema(schema)).toEqual({
      os: '',
      version: 0,
      beta: true,
      ratio: 0,
      nickname: null,
      kind: 'THERMOSTAT',
      tags: [],
      labels: {},
      inner: { x: 0 },
      again: { x: 0 },
      kind2: 'THERMOSTAT',
    });
  });
  it('stops on recursive schemas', () => {
    const list = { type: 'record', name: 'Node', fields: [{ name: 'next', type: 'Node' }] };
    expect(() => sampleFromSchema(list)).not.toThrow();
  });
});
