// Browser test of the admin UI against a real standalone kaa-node: Debian's Chromium driven by
// playwright-core through a whole operator workflow, from the Kaa admin to a developer's active
// profile filter (tried on sample profiles first) and configuration, topics, log appender, user
// verifier, event class family and map, SDK profile and change log, credentials provisioned from
// an uploaded key file and revoked, real endpoints registered over Kaa's HTTP protocol
// (kaa-endpoint.mjs) and shown, searched and edited, unicast and topic notifications that the
// endpoint then receives, and the Kaa admin's live cluster page with the nodes' endpoint
// transports and key fingerprints; SDK profiles with a kept (Kaa 0.10) SDK token and "Generate SDK",
// whose downloaded archives are unpacked here (gzip, tar) and must hold the SDK token; plus a
// read-only tenant user, the narrow layout, keyboard use, the 401 path and the SPA fallback. Any
// console error or warning fails it. Screenshots go to admin-ui/test-results/screenshots/.
//
//   npm run build && npm run e2e        (needs target/debug/kaa-node: cargo build --bin kaa-node)
//
// KAA_NODE_BIN overrides the binary, CHROMIUM the browser. Fails (never skips) when either is
// missing.
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { avroRecord, keyHashOf, syncEndpoint } from './kaa-endpoint.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const uiDir = resolve(here, '../..');
const repo = resolve(uiDir, '..');
const bin = process.env.KAA_NODE_BIN ?? join(repo, 'target/debug/kaa-node');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const shots = join(uiDir, 'test-results/screenshots');
const ADMIN_PASSWORD = 'e2e-admin-password';
const PASSWORD = 'secret-password-1';
const FILTER_EXAMPLE_TEXT = 'cp.os == "android" && cp.version >= 5';

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}
if (!existsSync(bin)) fail(`no kaa-node binary at ${bin}: run \`cargo build --bin kaa-node\``);
if (!existsSync(browserPath)) fail(`no Chromium at ${browserPath}: run deploy/local/ui-deps.sh`);
if (!existsSync(join(uiDir, 'dist/index.html'))) fail('admin-ui/dist is not built: run `npm run build`');

const freePort = () =>
  new Promise((ok, ko) => {
    const s = createServer();
    s.once('error', ko);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

const ports = [];
while (ports.length < 6) {
  const p = await freePort();
  if (!ports.includes(p)) ports.push(p);
}
const [adminPort, thriftPort, opsTcp, opsHttp, bsTcp, bsHttp] = ports;
const dataDir = mkdtempSync(join(tmpdir(), 'kaa-ui-e2e-'));
const base = `http://127.0.0.1:${adminPort}`;
let nodeLog = '';
// cwd = the repository root: the node finds ./admin-ui/dist by default, as under `make standalone`.
const node = spawn(
  bin,
  [
    'standalone', '--data-dir', dataDir,
    '--set', 'admin.host=127.0.0.1', '--set', `admin.port=${adminPort}`,
    '--set', `node.thrift_port=${thriftPort}`,
    '--set', `operations.tcp_port=${opsTcp}`, '--set', `operations.http_port=${opsHttp}`,
    '--set', `bootstrap.tcp_port=${bsTcp}`, '--set', `bootstrap.http_port=${bsHttp}`,
    '--set', 'log.level=warn',
  ],
  { cwd: repo, env: { ...process.env, KAA_ADMIN_USER: 'admin', KAA_ADMIN_PASSWORD: ADMIN_PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'] },
);
node.stdout.on('data', (d) => (nodeLog += d));
node.stderr.on('data', (d) => (nodeLog += d));
let nodeExited = false;
node.on('exit', () => (nodeExited = true));

let browser;
async function cleanup() {
  await browser?.close().catch(() => {});
  if (!nodeExited) node.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}

async function waitForNode() {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (nodeExited) throw new Error(`kaa-node exited:\n${nodeLog}`);
    try {
      const r = await fetch(`${base}/ready`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`kaa-node not ready within 60 s:\n${nodeLog}`);
}

const problems = [];
let lastPage;
function watch(page, label) {
  lastPage = page;
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
    // The failed API calls this test provokes on purpose (wrong password, conflicts, validation).
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    problems.push(`${label}: console ${m.type()}: ${text}`);
  });
  page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 500) problems.push(`${label}: ${r.status()} from ${r.url()}`);
  });
}

const step = (name) => console.log(`- ${name}`);
async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0)); // a full-page shot of a scrolled page misplaces the fixed header
  await page.waitForTimeout(150); // let transitions settle
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function login(page, username, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
  const who = (await page.getByTestId('whoami').textContent())?.trim();
  if (who !== username) throw new Error(`logged in as ${who}, expected ${username}`);
}
async function logout(page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
}
async function choose(page, label, option) {
  await page.getByRole('textbox', { name: label }).click();
  await page.getByRole('option', { name: option }).click();
}
async function expectVisible(locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: 10_000 });
  } catch {
    throw new Error(`expected to see ${what}`);
  }
}
async function expectNone(locator, what) {
  const n = await locator.count();
  if (n !== 0) throw new Error(`expected no ${what}, found ${n}`);
}
/** The form with this accessible name (every form of the app carries an aria-label). */
const form = (page, name) => page.getByRole('form', { name });
/** The error text Mantine shows under a field. */
const fieldErrors = (scope) => scope.locator('.mantine-InputWrapper-error');
async function navLabels(page) {
  return (await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts()).map((s) => s.trim());
}
async function waitForValue(locator, expected, what) {
  const deadline = Date.now() + 10_000;
  let value;
  while (Date.now() < deadline) {
    value = await locator.inputValue();
    if (value === expected) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(value)}`);
}
/** A fresh RSA-2048 endpoint key pair: the public half as X.509 DER (what key.public holds). */
function endpointKeys() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicDer: publicKey, privateKey };
}
/** The regular files of a (ustar) tar archive: name → contents. */
function untar(tar) {
  const files = new Map();
  const text = (from, to) => tar.subarray(from, to).toString('latin1').replace(/\0.*$/s, '');
  for (let at = 0; at + 512 <= tar.length; ) {
    if (tar.subarray(at, at + 512).every((b) => b === 0)) break; // end of archive
    if (text(at + 257, at + 262) !== 'ustar') throw new Error(`tar entry at ${at} is not ustar`);
    const prefix = text(at + 345, at + 500);
    const name = (prefix ? `${prefix}/` : '') + text(at, at + 100);
    const size = parseInt(text(at + 124, at + 136).trim() || '0', 8);
    const type = String.fromCharCode(tar[at + 156]);
    if (type === '0' || type === '\0') files.set(name, tar.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}
/** Bytes from a size as the UI shows it ("1.50 MB", "121 KB", "512 B"). */
function shownBytes(text) {
  const m = /(\d+(?:\.\d+)?) (B|KB|MB|GB)\b/.exec(text);
  if (!m) throw new Error(`no size in ${JSON.stringify(text)}`);
  return Number(m[1]) * 1024 ** ['B', 'KB', 'MB', 'GB'].indexOf(m[2]);
}
/**
 * A downloaded SDK archive checked: the server's file name, gzip, a tar whose files' contents (not
 * only their names) hold the SDK token, and the size the dialog shows. Returns the tar's files.
 */
async function checkSdkArchive(download, dialog, target, sdkToken) {
  const name = `kaa-${target}-sdk-${sdkToken}.tar.gz`;
  if (download.suggestedFilename() !== name) throw new Error(`SDK saved as ${download.suggestedFilename()}, expected ${name}`);
  const bytes = readFileSync(await download.path());
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) throw new Error(`${name} is not gzip: starts ${bytes.subarray(0, 4).toString('hex')}`);
  const files = untar(gunzipSync(bytes));
  if (files.size === 0) throw new Error(`${name} holds no files`);
  const holding = [...files].filter(([, body]) => body.includes(Buffer.from(sdkToken))).map(([n]) => n);
  if (holding.length === 0) throw new Error(`no file of ${name} holds the SDK token ${sdkToken}: ${[...files.keys()].join(', ')}`);
  const result = dialog.getByTestId('sdk-result-text');
  await expectVisible(result.filter({ hasText: name }), `the downloaded ${name} in the dialog`);
  const shown = shownBytes(await result.innerText());
  if (Math.abs(shown - bytes.length) > Math.max(0.01 * bytes.length, 1))
    throw new Error(`the dialog shows ${shown} bytes for ${name}, the file has ${bytes.length}`);
  console.log(`  ${name}: ${bytes.length} bytes, ${files.size} files, token in ${holding.length} of them`);
  return files;
}
function same(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected))
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

try {
  rmSync(shots, { recursive: true, force: true }); // no screenshots left over from an earlier run
  mkdirSync(shots, { recursive: true });
  await waitForNode();
  browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ], // launch() gives Chromium a fresh, empty profile directory of its own
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  watch(page, 'desktop');

  step('KAA_ADMIN: wrong password, then keyboard-only login');
  await page.goto(base);
  await page.waitForURL(`${base}/login`);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expectVisible(page.getByRole('alert').filter({ hasText: /./ }), 'the wrong-credentials error');
  await shot(page, '01-login-error');
  await page.getByLabel('Username').fill('');
  await page.getByLabel('Password').fill('');
  await page.getByLabel('Username').focus();
  await page.keyboard.type('admin');
  await page.keyboard.press('Tab');
  await page.keyboard.type(ADMIN_PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/tenants`);
  same(await navLabels(page), ['Tenants', 'Users', 'Cluster', 'Audit log'], 'KAA_ADMIN navigation');
  await expectVisible(page.getByTestId('empty'), 'the empty state of tenants');

  step('tenants: create, duplicate refused, rename, delete with confirmation');
  await page.getByLabel('New tenant name').fill('Acme');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await expectVisible(page.getByRole('cell', { name: 'Acme', exact: true }), 'tenant Acme');
  await page.getByLabel('New tenant name').fill('Acme');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await expectVisible(page.getByText(/taken|exists|conflict/i), 'the conflict message in words');
  await page.getByLabel('New tenant name').fill('Temporary');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await page.getByRole('button', { name: 'Rename Temporary' }).click();
  await page.getByRole('dialog').getByLabel('Name').fill('Short-lived');
  await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
  await expectVisible(page.getByRole('cell', { name: 'Short-lived', exact: true }), 'the renamed tenant');
  await page.getByRole('button', { name: 'Delete Short-lived' }).click();
  await expectVisible(page.getByRole('dialog').getByText('Delete tenant “Short-lived”?'), 'the delete confirmation');
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('cell', { name: 'Short-lived', exact: true }).waitFor({ state: 'detached' });
  await shot(page, '02-tenants');

  step('KAA_ADMIN: the audit log shows the failed login and the tenant changes');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await page.waitForURL(`${base}/audit`);
  const audit = page.getByRole('table', { name: 'Audit log entries' });
  await expectVisible(audit.getByText('Failed login').first(), 'the failed login');
  await expectVisible(audit.getByText('DELETE /api/v1/tenants/', { exact: false }).first(), 'the tenant deletion');
  await shot(page, '02b-audit');

  step('users: tenant admin of Acme, short password shown at its field');
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByLabel('Username').fill('acme-admin');
  await page.getByLabel('Password').fill('short');
  await choose(page, 'Tenant', 'Acme');
  await page.getByRole('button', { name: 'Create user' }).click();
  await expectVisible(page.locator('.mantine-PasswordInput-error, .mantine-InputWrapper-error').filter({ hasText: /8/ }), 'the password error at its field');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create user' }).click();
  await expectVisible(page.getByRole('cell', { name: 'acme-admin', exact: true }), 'user acme-admin');
  await shot(page, '03-users-kaa-admin');
  await logout(page);

  step('TENANT_ADMIN: developer, tenant user, application');
  await login(page, 'acme-admin', PASSWORD);
  same(await navLabels(page), ['Users', 'Applications', 'Event families', 'Audit log'], 'TENANT_ADMIN navigation');
  await page.goto(`${base}/users`); // a deep link straight into the app (SPA fallback)
  await page.getByLabel('Username').fill('acme-dev');
  await page.getByLabel('Password').fill(PASSWORD);
  await choose(page, 'Role', 'Developer');
  await page.getByRole('button', { name: 'Create user' }).click();
  await expectVisible(page.getByRole('cell', { name: 'acme-dev', exact: true }), 'user acme-dev');
  await page.getByLabel('Username').fill('acme-viewer');
  await page.getByLabel('Password').fill(PASSWORD);
  await choose(page, 'Role', 'Tenant user');
  await page.getByRole('button', { name: 'Create user' }).click();
  await expectVisible(page.getByRole('cell', { name: 'acme-viewer', exact: true }), 'user acme-viewer');
  await shot(page, '04-users-tenant-admin');
  await page.getByRole('link', { name: 'Applications' }).click();
  await expectVisible(page.getByTestId('empty'), 'the empty state of applications');
  await page.getByLabel('New application name').fill('Thermostat');
  await page.getByRole('button', { name: 'Create application' }).click();
  await page.getByRole('link', { name: 'Thermostat' }).click();
  const token = (await page.getByTestId('app-token').innerText()).trim();
  if (!token) throw new Error('no application token shown');
  await shot(page, '05-application');
  await logout(page);

  step('TENANT_DEVELOPER: group, schema (invalid, then valid), configuration draft → active');
  await login(page, 'acme-dev', PASSWORD);
  same(await navLabels(page), ['Applications', 'Event families'], 'TENANT_DEVELOPER navigation');
  await expectNone(page.getByRole('button', { name: 'Create application' }), 'create-application button for a developer');
  await page.getByRole('link', { name: 'Thermostat' }).click();
  await page.getByLabel('Group name').fill('beta');
  await page.getByLabel('Weight').fill('10');
  await page.getByLabel('Description').fill('beta testers');
  await page.getByRole('button', { name: 'Create group' }).click();
  await expectVisible(page.getByRole('link', { name: 'beta' }), 'group beta');
  await page.getByRole('button', { name: 'Delete group beta' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  await shot(page, '06-groups');
  await page.getByRole('tab', { name: 'Schemas' }).click();
  await page.waitForURL(/\/schemas$/);
  await expectVisible(page.getByText('No configuration schemas yet.'), 'the empty state of schemas');
  await page.getByLabel('Display name').fill('Device config');
  const schemaBox = page.getByLabel('Avro record schema (JSON)');
  await schemaBox.fill(JSON.stringify({ type: 'record', name: 'Cfg', fields: [{ name: 'interval', type: 'integer' }] }, null, 2));
  await page.getByRole('button', { name: 'Upload schema' }).click();
  await expectVisible(page.getByText(/schema\.fields\[0\]/), 'the schema error at the schema field, naming the path');
  await shot(page, '07-schema-error');
  await schemaBox.fill(JSON.stringify({ type: 'record', name: 'Cfg', namespace: 'org.example', fields: [{ name: 'interval', type: 'int' }] }, null, 2));
  await page.getByRole('button', { name: 'Upload schema' }).click();
  await expectVisible(page.getByRole('cell', { name: 'Device config' }), 'schema version 1');
  await shot(page, '08-schemas');
  const uploadSchema = async (kind, name, record) => {
    await choose(page, 'Schema kind', kind);
    await page.getByLabel('Display name').fill(name);
    await schemaBox.fill(JSON.stringify({ type: 'record', namespace: 'org.example', ...record }, null, 2));
    await page.getByRole('button', { name: 'Upload schema' }).click();
    await expectVisible(page.getByRole('cell', { name }), `${kind.toLowerCase()} schema ${name}`);
  };
  await uploadSchema('Client profile', 'Device profile', { name: 'DeviceProfile', fields: [{ name: 'os', type: 'string' }, { name: 'version', type: 'int' }] });
  await uploadSchema('Server profile', 'Service tier', { name: 'ServiceTier', fields: [{ name: 'tier', type: 'int' }] });
  await uploadSchema('Notification', 'Alert', { name: 'Alert', fields: [{ name: 'text', type: 'string' }] });
  step('keyboard: arrow keys move between the application tabs');
  await page.getByRole('tab', { name: 'Schemas' }).focus();
  await page.keyboard.press('ArrowLeft');
  await page.waitForURL(/\/credentials$/);
  await page.keyboard.press('ArrowLeft');
  await page.waitForURL(/\/endpoints$/);
  await page.keyboard.press('ArrowLeft');
  await page.waitForURL(/\/groups$/);
  await page.getByRole('link', { name: 'beta' }).click();

  step('profile filter: compile error at its line and column, then draft → edit → active');
  await page.waitForURL(/\/groups\/[^/]+$/);
  await expectVisible(page.getByRole('tab', { name: 'Profile filters', selected: true }), 'the group opening on its filters');
  await expectVisible(page.getByText(/No profile filters in this group/), 'the empty state of filters');
  const filterBox = page.getByLabel('Filter expression');
  await filterBox.fill('cp.os == "android"\n  &&& cp.version >= 5');
  await form(page, 'New profile filter').getByRole('button', { name: 'Save draft' }).click();
  await expectVisible(page.getByTestId('filter-error').filter({ hasText: /^Line 2, column \d+: / }), 'the compile error with its line and column');
  await expectVisible(page.getByTestId('filter-error-excerpt').filter({ hasText: '^' }), 'the offending line with a caret');
  const caret = await filterBox.evaluate((el) => [document.activeElement === el, el.selectionStart]);
  if (!caret[0] || caret[1] < 'cp.os == "android"\n'.length) throw new Error(`the cursor is not at the compile error: ${caret}`);
  await shot(page, '09-filter-compile-error');
  // Keyboard only: fix the expression, Tab to the button, Enter.
  await filterBox.fill('cp.os == "android" && cp.version >= 5');
  await filterBox.focus();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await expectVisible(page.getByTestId('filter-compiled'), 'the compile result of the saved draft');
  const filterRow = page.getByTestId('filter-row');
  await expectVisible(filterRow.getByText('draft', { exact: true }), 'a draft filter');
  await filterRow.getByRole('button', { name: 'Edit filter draft' }).click();
  await expectVisible(page.getByRole('heading', { name: 'Edit profile filter draft' }), 'the filter draft in the editor');
  await filterBox.fill('cp.os == "android" && cp.version >= 6 // Android 6 and later');
  await form(page, 'Edit profile filter draft').getByRole('button', { name: 'Save changes' }).click();
  await expectVisible(filterRow.getByText('cp.version >= 6'), 'the edited filter');
  await filterRow.getByRole('button', { name: 'Activate' }).click();
  await expectVisible(filterRow.getByText('active', { exact: true }), 'the activated filter');
  await shot(page, '10-group-filters');

  step('filter test: the expression on sample profiles, no match, match, then an evaluation error at the caret');
  const tester = form(page, 'Test profile filter');
  await filterBox.fill('cp.os == "android" && cp.version >= 6');
  // The sample client profile starts from the client-profile schema: os "" and version 0.
  await tester.getByRole('button', { name: 'cp from client-profile schema v1' }).click();
  same(JSON.parse(await tester.getByLabel('Sample client profile (cp, JSON)').inputValue()), { os: '', version: 0 }, 'the sample from the schema');
  await tester.getByRole('button', { name: 'Test filter' }).click();
  await expectVisible(page.locator('[data-testid="filter-test-result"][data-matches="false"]'), 'the no-match result');
  await tester.getByLabel('Sample client profile (cp, JSON)').fill('{"os": "android", "version": 7}');
  await expectNone(page.getByTestId('filter-test-result'), 'a result left from other inputs');
  await tester.getByRole('button', { name: 'Test filter' }).click();
  await expectVisible(page.locator('[data-testid="filter-test-result"][data-matches="true"]').filter({ hasText: 'would join the group' }), 'the match result');
  await shot(page, '10b-filter-test');
  await tester.getByLabel('Sample client profile (cp, JSON)').fill('{"os": android}');
  await tester.getByRole('button', { name: 'Test filter' }).click();
  await expectVisible(fieldErrors(tester).filter({ hasText: /Not JSON/ }), 'the sample profile that is not JSON, at its field');
  await tester.getByLabel('Sample client profile (cp, JSON)').fill('{"os": "android", "version": 7}');
  await filterBox.fill('cp.os == "android" &&\n  cp.version + "x" == "7x"');
  await tester.getByRole('button', { name: 'Test filter' }).click();
  await expectVisible(page.getByTestId('filter-error').filter({ hasText: /^Line 2, column \d+: .*\+/ }), 'the evaluation error at its line and column');
  const testCaret = await filterBox.evaluate((el) => [document.activeElement === el, el.selectionStart]);
  if (!testCaret[0] || testCaret[1] < 'cp.os == "android" &&\n'.length) throw new Error(`the cursor is not at the evaluation error: ${testCaret}`);
  await expectNone(page.getByTestId('filter-compiled'), 'a saved filter (a test saves nothing)');
  await filterBox.fill(FILTER_EXAMPLE_TEXT);
  await filterRow.getByRole('button', { name: 'Deactivate filter' }).click();
  await expectVisible(page.getByRole('dialog').getByText(/Endpoints it matched leave the group/), 'the deactivate confirmation');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  step('configuration: invalid body at the field, draft → active, then a second draft edited and activated');
  await page.getByRole('tab', { name: 'Configurations' }).click();
  await page.waitForURL(/\/configurations$/);
  await expectVisible(page.getByText('No configurations in this group.'), 'the empty state of configurations');
  const body = page.getByLabel('Configuration (JSON)');
  await body.fill('{"interval": "soon"}');
  await page.getByRole('button', { name: 'Save draft' }).click();
  await expectVisible(fieldErrors(form(page, 'New configuration')).filter({ hasText: /body/ }), 'the configuration validation error at its field');
  await body.fill('{"interval": 30}');
  await page.getByRole('button', { name: 'Save draft' }).click();
  const configRows = page.getByTestId('configuration-row');
  await expectVisible(configRows.getByText('draft', { exact: true }), 'a draft configuration');
  await configRows.getByRole('button', { name: 'Activate' }).click();
  await expectVisible(configRows.getByText('active', { exact: true }), 'the activated configuration');
  await body.fill('{"interval": 45}');
  await page.getByRole('button', { name: 'Save draft' }).click();
  const draftRow = configRows.filter({ hasText: /draft/i });
  await draftRow.getByRole('button', { name: 'Edit configuration draft' }).click();
  const editBox = form(page, 'Edit configuration draft').getByLabel('Configuration (JSON)');
  await editBox.fill('{"interval": 4.5}');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expectVisible(fieldErrors(form(page, 'Edit configuration draft')).filter({ hasText: /body/ }), 'the edit validation error at its field');
  await editBox.fill('{"interval": 60}');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expectVisible(draftRow.getByText('"interval": 60'), 'the edited configuration draft');
  await draftRow.getByRole('button', { name: 'Activate' }).click();
  await expectVisible(configRows.filter({ hasText: '"interval": 60' }).getByText('active', { exact: true }), 'the second configuration active');
  await expectVisible(configRows.filter({ hasText: '"interval": 30' }).getByText('deprecated', { exact: true }), 'the first configuration deprecated');
  await shot(page, '11-group-configurations');
  const groupUrl = page.url().replace(/\/configurations$/, '');
  const appUrl = groupUrl.replace(/\/groups\/[^/]+$/, '');

  step('topics: create mandatory and optional, attach both to the group, detach one with confirmation');
  await page.goto(`${appUrl}/topics`);
  await expectVisible(page.getByText('No topics yet.'), 'the empty state of topics');
  await form(page, 'New topic').getByLabel('Topic name').fill('alerts');
  await form(page, 'New topic').getByRole('button', { name: 'Create topic' }).click();
  await expectVisible(page.getByTestId('topic-row').filter({ hasText: 'alerts' }), 'topic alerts');
  await form(page, 'New topic').getByLabel('Topic name').fill('promotions');
  await form(page, 'New topic').getByText('Optional', { exact: true }).click();
  await form(page, 'New topic').getByRole('button', { name: 'Create topic' }).click();
  await expectVisible(page.getByTestId('topic-row').filter({ hasText: 'promotions' }).getByText(/optional/i), 'optional topic promotions');
  await form(page, 'New topic').getByLabel('Topic name').fill('alerts');
  await form(page, 'New topic').getByRole('button', { name: 'Create topic' }).click();
  await expectVisible(form(page, 'New topic').getByText(/taken|exists|conflict/i), 'the duplicate topic refused in words');
  await shot(page, '12-topics');
  await page.goto(`${groupUrl}/topics`);
  await expectVisible(page.getByText('No topics attached to this group.'), 'the empty state of group topics');
  await choose(page, 'Topic to attach', 'alerts (mandatory)');
  await page.getByRole('button', { name: 'Attach topic' }).click();
  await expectVisible(page.getByTestId('group-topic-row').filter({ hasText: 'alerts' }), 'topic alerts attached');
  await choose(page, 'Topic to attach', 'promotions (optional)');
  await page.getByRole('button', { name: 'Attach topic' }).click();
  await expectVisible(page.getByTestId('group-topic-row').filter({ hasText: 'promotions' }), 'topic promotions attached');
  await page.getByRole('button', { name: 'Detach topic promotions' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Detach' }).click();
  await page.getByTestId('group-topic-row').filter({ hasText: 'promotions' }).waitFor({ state: 'detached' });
  await shot(page, '13-group-topics');

  step('log appender: REST URL refused at its field, then created');
  await page.goto(`${appUrl}/log-appenders`);
  await expectVisible(page.getByText(/No log appenders/), 'the empty state of log appenders');
  const appenderForm = form(page, 'New log appender');
  await appenderForm.getByLabel('Appender name').fill('collector');
  await choose(page, 'Type', 'REST');
  await appenderForm.getByLabel('URL').fill('ftp://logs.example.com');
  await appenderForm.getByLabel('Retries').fill('3');
  await appenderForm.getByRole('button', { name: 'Add appender' }).click();
  await expectVisible(fieldErrors(appenderForm).filter({ hasText: /http:\/\/ or https:\/\// }), 'the URL error at its field');
  await appenderForm.getByLabel('URL').fill('https://logs.example.com/ingest');
  await appenderForm.getByLabel('TOKEN', { exact: true }).uncheck();
  await appenderForm.getByLabel(/^Confirm delivery/).check();
  await appenderForm.getByRole('button', { name: 'Add appender' }).click();
  const appenderRow = page.getByTestId('appender-row').filter({ hasText: 'collector' });
  await expectVisible(appenderRow.getByText('url=https://logs.example.com/ingest, retries=3'), 'appender collector with its settings');
  await expectVisible(appenderRow.getByText('KEYHASH, VERSION, TIMESTAMP, LSVERSION'), 'the chosen header fields');
  await shot(page, '14-log-appenders');

  step('user verifiers: trustful one kept, an http one deleted after confirmation');
  await page.getByRole('tab', { name: 'User verifiers' }).click();
  await expectVisible(page.getByText(/No user verifiers/), 'the empty state of user verifiers');
  const verifierForm = form(page, 'New user verifier');
  await verifierForm.getByLabel('Verifier name').fill('trustful-verifier');
  await verifierForm.getByRole('button', { name: 'Add verifier' }).click();
  await expectVisible(page.getByTestId('verifier-row').filter({ hasText: 'trustful-verifier' }), 'verifier trustful-verifier');
  await verifierForm.getByLabel('Verifier name').fill('temporary');
  await choose(page, 'Verifier type', 'HTTP');
  await verifierForm.getByLabel('Verification URL').fill('https://auth.example.com/verify');
  await verifierForm.getByLabel('Timeout (ms)').fill('2000');
  await verifierForm.getByRole('button', { name: 'Add verifier' }).click();
  await expectVisible(page.getByTestId('verifier-row').filter({ hasText: 'timeout_ms=2000' }), 'verifier temporary');
  await page.getByRole('button', { name: 'Delete verifier temporary' }).click();
  await expectVisible(page.getByRole('dialog').getByText(/Delete user verifier “temporary”/), 'the verifier delete confirmation');
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.getByTestId('verifier-row').filter({ hasText: 'temporary' }).waitFor({ state: 'detached' });
  await shot(page, '15-user-verifiers');

  step("owners: an owner's configuration refused at its field, then set and removed");
  await page.getByRole('tab', { name: 'Owners' }).click();
  await page.waitForURL(/\/owners$/);
  const ownerForm = form(page, 'Open owner');
  await ownerForm.getByLabel('User external id').fill('alice@example.com');
  await ownerForm.getByRole('button', { name: 'Open owner' }).click();
  await expectVisible(page.getByText(/No configuration for alice@example.com/), 'the empty state of the owner');
  const ownerConfig = form(page, 'Set owner configuration');
  const ownerBody = ownerConfig.getByLabel('Owner configuration (JSON)');
  await ownerBody.fill('{"interval": "often"}');
  await ownerConfig.getByRole('button', { name: 'Save configuration' }).click();
  await expectVisible(fieldErrors(ownerConfig).filter({ hasText: /body\.interval/ }), "the owner configuration's error at its field");
  await ownerBody.fill('{"interval": 5}');
  await ownerConfig.getByRole('button', { name: 'Save configuration' }).click();
  const ownerRow = page.getByTestId('owner-configuration-row');
  await expectVisible(ownerRow.filter({ hasText: '"interval": 5' }), "alice's configuration");
  await page.getByRole('button', { name: 'Remove configuration v1 of alice@example.com' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await expectVisible(page.getByText(/No configuration for alice@example.com/), "alice's configuration removed");
  await shot(page, '15b-owners');

  step('event class family: invalid class schema at its field, then version 1');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Event families' }).click();
  await expectVisible(page.getByText('No event class families yet.'), 'the empty state of families');
  const familyForm = form(page, 'New event class family');
  await familyForm.getByLabel('Family name').fill('Thermostat events');
  await familyForm.getByLabel('Namespace').fill('org.example.thermostat');
  await familyForm.getByLabel('Class name').fill('ThermostatEventFamily');
  await familyForm.getByRole('button', { name: 'Create family' }).click();
  await page.getByRole('link', { name: 'Thermostat events' }).click();
  await expectVisible(page.getByText(/No versions yet/), 'the empty state of family versions');
  const classBox = page.getByLabel('Class 1 schema (JSON)');
  const eventClass = (type) =>
    JSON.stringify({ type: 'record', name: 'TemperatureChanged', namespace: 'org.example.thermostat', fields: [{ name: 'celsius', type }] }, null, 2);
  await classBox.fill(eventClass('integer'));
  await page.getByRole('button', { name: 'Upload version' }).click();
  await expectVisible(fieldErrors(form(page, 'New family version')).filter({ hasText: /classes\[0\]\.schema\.fields\[0\]\.type/ }), 'the class schema error at its field');
  await classBox.fill(eventClass('int'));
  await page.getByRole('button', { name: 'Upload version' }).click();
  await expectVisible(page.getByTestId('family-version-row').getByText('org.example.thermostat.TemperatureChanged'), 'family version 1');
  await shot(page, '16-event-family');

  step('event map: family version 1 mapped into the application, the event as both');
  await page.goto(`${appUrl}/event-maps`);
  await expectVisible(page.getByText(/No event maps/), 'the empty state of event maps');
  await choose(page, 'Event class family', 'Thermostat events');
  await choose(page, 'Family version', 'v1 (1 class)');
  await form(page, 'New event map').getByText('Both', { exact: true }).click();
  await page.getByRole('button', { name: 'Add event map' }).click();
  await expectVisible(page.getByTestId('event-map-row').getByText('org.example.thermostat.TemperatureChanged'), 'the event map');
  await shot(page, '17-event-maps');

  step('SDK profile: pinned configuration schema, event map and default verifier');
  await page.getByRole('tab', { name: 'SDK profiles' }).click();
  await expectVisible(page.getByText(/No SDK profiles yet/), 'the empty state of SDK profiles');
  const sdkForm = form(page, 'New SDK profile');
  await sdkForm.getByLabel('Profile name').fill('thermostat-sdk');
  await choose(page, 'Configuration schema', 'v1 — Device config');
  await choose(page, 'Client profile schema', 'v1 — Device profile');
  await choose(page, 'Server profile schema', 'v1 — Service tier');
  await choose(page, 'Notification schema', 'v1 — Alert');
  await choose(page, 'Event maps', 'Thermostat events v1');
  await page.keyboard.press('Escape');
  await choose(page, 'Default user verifier', 'trustful-verifier (trustful)');
  await sdkForm.getByRole('button', { name: 'Create SDK profile' }).click();
  const sdkRow = page.getByTestId('sdk-profile-row').filter({ hasText: 'thermostat-sdk' });
  await expectVisible(sdkRow.getByText('Thermostat events v1'), 'the SDK profile with its event map');
  await expectVisible(sdkRow.getByText('trustful-verifier'), 'the SDK profile with its default verifier');
  await expectVisible(sdkRow.getByText(/configuration v1/), 'the pinned configuration schema');
  await expectVisible(sdkRow.getByText(/client profile v1/), 'the pinned client-profile schema');
  const sdkToken = (await sdkRow.locator('code').first().innerText()).trim();

  step('SDK token kept from Kaa 0.10: a malformed and a taken token refused at the field, then kept');
  const LEGACY_TOKEN = 'Kaa010-LegacyToken_abcdef12'; // 27 characters, as Kaa's tokens
  await sdkForm.getByLabel('Profile name').fill('legacy-sdk');
  await sdkForm.getByLabel('SDK token (optional)').fill('not a token!');
  await sdkForm.getByRole('button', { name: 'Create SDK profile' }).click();
  await expectVisible(fieldErrors(sdkForm).filter({ hasText: /A-Z a-z 0-9/ }), 'the malformed SDK token at its field');
  await sdkForm.getByLabel('SDK token (optional)').fill(sdkToken);
  await sdkForm.getByRole('button', { name: 'Create SDK profile' }).click();
  await expectVisible(fieldErrors(sdkForm).filter({ hasText: /already has this SDK token/ }), 'the taken SDK token at its field');
  await sdkForm.getByLabel('SDK token (optional)').fill(LEGACY_TOKEN);
  await sdkForm.getByRole('button', { name: 'Create SDK profile' }).click();
  const legacyRow = page.getByTestId('sdk-profile-row').filter({ hasText: 'legacy-sdk' });
  await expectVisible(legacyRow.getByText(LEGACY_TOKEN, { exact: true }), 'the SDK profile with the kept token');
  await shot(page, '18-sdk-profiles');

  step('Generate SDK: C while the request is held (progress shown), saved under the server\'s name, a gzip tar holding the token; again from the cache');
  let release;
  const held = new Promise((ok) => (release = ok));
  const cSdkRequest = (url) => url.pathname.endsWith('/sdk') && url.searchParams.get('target') === 'c';
  await page.route(cSdkRequest, async (route) => {
    await held;
    await route.continue();
  });
  await sdkRow.getByRole('button', { name: 'Generate SDK of thermostat-sdk' }).click();
  const sdkDialog = page.getByRole('dialog', { name: 'Generate SDK — thermostat-sdk' });
  await sdkDialog.getByRole('radio', { name: 'C', exact: true }).check();
  let download = page.waitForEvent('download');
  await sdkDialog.getByRole('button', { name: 'Generate and download' }).click();
  await expectVisible(sdkDialog.getByTestId('sdk-progress').getByText('Generating the C SDK…'), 'the progress while the SDK is generated');
  if (!(await sdkDialog.getByRole('radio', { name: 'Rust', exact: true }).isDisabled())) throw new Error('the target can be changed while generating');
  await shot(page, '18b-sdk-generating');
  release();
  await checkSdkArchive(await download, sdkDialog, 'c', sdkToken);
  await expectNone(sdkDialog.getByText(/from the cache/), 'a cache hit on the first generation');
  await shot(page, '18c-sdk-downloaded');
  await page.unroute(cSdkRequest);
  download = page.waitForEvent('download');
  await sdkDialog.getByRole('button', { name: 'Generate and download' }).click();
  await expectVisible(sdkDialog.getByTestId('sdk-result-text').filter({ hasText: 'from the cache' }), 'the second archive from the cache');
  await checkSdkArchive(await download, sdkDialog, 'c', sdkToken);
  await page.keyboard.press('Escape');
  await sdkDialog.waitFor({ state: 'detached' });

  step('Generate SDK: Python for the profile with the kept Kaa 0.10 token');
  await legacyRow.getByRole('button', { name: 'Generate SDK of legacy-sdk' }).click();
  const legacyDialog = page.getByRole('dialog', { name: 'Generate SDK — legacy-sdk' });
  await legacyDialog.getByRole('radio', { name: 'Python', exact: true }).check();
  download = page.waitForEvent('download');
  await legacyDialog.getByRole('button', { name: 'Generate and download' }).click();
  await checkSdkArchive(await download, legacyDialog, 'python', LEGACY_TOKEN);
  await page.keyboard.press('Escape');
  await legacyDialog.waitFor({ state: 'detached' });
  await page.getByRole('tab', { name: 'Event maps' }).click();
  await page.getByRole('button', { name: 'Delete event map Thermostat events v1' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expectVisible(page.getByRole('dialog').getByText(/SDK profile|in use|still/i), 'the refusal to delete a map an SDK profile names, in words');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  step('change log: the changes of this workflow, newest first');
  await page.getByRole('tab', { name: 'Change log' }).click();
  await expectVisible(page.getByTestId('change-row').filter({ hasText: 'log appender' }), 'the appender change');
  const changes = await page.getByTestId('change-row').count();
  if (changes < 8) throw new Error(`expected at least 8 changes, found ${changes}`);
  const seqs = await page.getByTestId('change-row').locator('td:first-child').allInnerTexts();
  if (Number(seqs[0]) < Number(seqs[seqs.length - 1])) throw new Error(`changes not newest first: ${seqs.join(',')}`);
  await shot(page, '19-change-log');

  step('credentials: a pasted non-key refused, key.public uploaded (Base64 in the browser), provisioned, duplicate refused, revoked');
  const provisioned = endpointKeys();
  const provisionedHash = keyHashOf(provisioned.publicDer);
  await page.getByRole('tab', { name: 'Credentials' }).click();
  await page.waitForURL(/\/credentials$/);
  await expectVisible(page.getByText(/No credentials yet/), 'the empty state of credentials');
  const credForm = form(page, 'Provision credentials');
  const keyBox = credForm.getByLabel('Endpoint public key');
  await keyBox.fill('this is not a key');
  await credForm.getByRole('button', { name: 'Provision credentials' }).click();
  await expectVisible(fieldErrors(credForm).filter({ hasText: 'Not Base64' }), 'the key error at its field');
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), credForm.getByRole('button', { name: 'Upload key file…' }).click()]);
  await chooser.setFiles({ name: 'key.public', mimeType: 'application/octet-stream', buffer: provisioned.publicDer });
  const uploaded = provisioned.publicDer.toString('base64');
  await waitForValue(keyBox, uploaded, 'the uploaded DER key as Base64');
  await expectVisible(page.getByTestId('key-preview').filter({ hasText: provisionedHash }), 'the key hash computed in the browser');
  await credForm.getByRole('button', { name: 'Provision credentials' }).click();
  await expectVisible(page.getByTestId('credentials-provisioned').filter({ hasText: provisionedHash }), 'the provisioned key hash');
  const provisionedRow = page.getByTestId('credentials-row').filter({ hasText: provisionedHash });
  await expectVisible(provisionedRow.getByText('AVAILABLE'), 'the new credentials AVAILABLE');
  await keyBox.fill(uploaded);
  await credForm.getByRole('button', { name: 'Provision credentials' }).click();
  await expectVisible(credForm.getByRole('alert').filter({ hasText: /exist/ }), 'the duplicate refused in words');
  await provisionedRow.getByRole('button', { name: `Revoke credentials ${provisionedHash}` }).click();
  await expectVisible(page.getByRole('dialog').getByText(/can never register again/), 'the revoke confirmation');
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expectVisible(provisionedRow.getByText('REVOKED'), 'the revoked credentials');
  await expectNone(provisionedRow.getByRole('button', { name: /Revoke/ }), 'a revoke button on revoked credentials');
  await shot(page, '19b-credentials');

  step('endpoints: the empty state, then two real endpoints register over Kaa HTTP');
  await page.getByRole('tab', { name: 'Endpoints' }).click();
  await page.waitForURL(/\/endpoints$/);
  await expectVisible(page.getByText(/No endpoint has registered with this application yet/), 'the empty state of endpoints');
  await shot(page, '19c-endpoints-empty');
  const serverKeyDer = readFileSync(join(dataDir, 'keys/node.public'));
  const kitchen = { keys: endpointKeys(), accessToken: 'kitchen-thermostat', profile: avroRecord([['string', 'android'], ['int', 7]]) };
  const garage = { keys: endpointKeys(), accessToken: 'garage-sensor', profile: avroRecord([['string', 'ios'], ['int', 3]]) };
  const sync = (ep, requestId = 1) =>
    syncEndpoint({ address: `127.0.0.1:${opsHttp}`, serverKeyDer, keys: ep.keys, sdkToken, profileBody: ep.profile, accessToken: ep.accessToken, requestId });
  for (const ep of [kitchen, garage]) {
    const answer = await sync(ep);
    if (answer.status !== 'SUCCESS') throw new Error(`registration of ${ep.accessToken}: ${JSON.stringify(answer)}`);
    ep.hash = keyHashOf(ep.keys.publicDer);
  }
  await page.getByRole('button', { name: 'Refresh' }).click();
  const endpointRows = page.getByTestId('endpoint-row');
  await expectVisible(endpointRows.filter({ hasText: 'garage-sensor' }), 'the registered endpoints');
  same(await endpointRows.count(), 2, 'endpoints listed');
  await expectVisible(endpointRows.filter({ hasText: 'kitchen-thermostat' }).getByText('beta', { exact: true }), 'the android endpoint in group beta (its filter matched)');
  await expectNone(endpointRows.filter({ hasText: 'garage-sensor' }).getByText('beta', { exact: true }), 'the ios endpoint in group beta');
  await expectVisible(endpointRows.filter({ hasText: 'kitchen-thermostat' }).getByText('IN USE'), 'credentials in use (trustful registration)');
  const search = page.getByLabel('Search this page');
  await search.fill('KITCHEN');
  await expectVisible(endpointRows.filter({ hasText: 'kitchen-thermostat' }), 'the endpoint found by access token');
  same(await endpointRows.count(), 1, 'endpoints matching "KITCHEN"');
  const garageHex = Buffer.from(garage.hash, 'base64url').toString('hex');
  await search.fill(garageHex.slice(0, 12));
  await expectVisible(endpointRows.filter({ hasText: 'garage-sensor' }), 'the endpoint found by its key hash in hex');
  same(await endpointRows.count(), 1, 'endpoints matching a hex key hash prefix');
  await search.fill('no-such-endpoint');
  await expectVisible(page.getByText(/No endpoint on this page matches/), 'the no-match state of the search');
  await search.fill('');
  await shot(page, '19d-endpoints');
  const openForm = form(page, 'Open endpoint by key hash');
  await openForm.getByLabel('Open by key hash').fill('not-a-hash');
  await openForm.getByRole('button', { name: 'Open' }).click();
  await expectVisible(fieldErrors(openForm).filter({ hasText: /Not a key hash/ }), 'the bad key hash at its field');
  await openForm.getByLabel('Open by key hash').fill(Buffer.from(kitchen.hash, 'base64url').toString('base64')); // standard Base64 works too
  await openForm.getByLabel('Open by key hash').press('Enter');
  await page.waitForURL(new RegExp(`/endpoints/${kitchen.hash}$`));

  step('endpoint page: profiles, groups by name, server profile edited (invalid, then valid), unicast delivered');
  await expectVisible(page.getByTestId('endpoint-client-profile').filter({ hasText: '"android"' }), 'the decoded client profile');
  await expectVisible(page.getByTestId('endpoint-groups').getByRole('link', { name: 'beta' }), 'group beta by name');
  await expectVisible(page.getByTestId('endpoint-groups').getByRole('link', { name: 'all' }), 'group all by name');
  await expectVisible(page.getByTestId('endpoint-subscriptions').getByText('alerts'), 'the subscription to alerts (attached to beta)');
  await expectVisible(page.getByText('IN USE'), 'the credentials status');
  await expectVisible(page.getByTestId('endpoint-configuration-hash').filter({ hasText: /^[0-9a-f]{40}$/ }), 'the configuration hash');
  await page.getByRole('button', { name: 'Edit server profile' }).click();
  const spForm = form(page, 'Edit server profile');
  await spForm.getByLabel('Server profile (JSON)').fill('{"tier": "gold"}');
  await spForm.getByRole('button', { name: 'Save server profile' }).click();
  await expectVisible(fieldErrors(spForm).filter({ hasText: /tier/ }), 'the server-profile error at its field');
  await spForm.getByLabel('Server profile (JSON)').fill('{"tier": 2}');
  await spForm.getByRole('button', { name: 'Save server profile' }).click();
  await expectVisible(page.getByTestId('server-profile-saved'), 'the saved server profile');
  await expectVisible(page.getByTestId('endpoint-server-profile').filter({ hasText: '"tier": 2' }), 'the new server profile');
  const unicast = form(page, 'Unicast notification');
  await choose(page, 'Topic', 'alerts (mandatory, subscribed)');
  await unicast.getByLabel('Notification body (JSON)').fill('{"text": "hello kitchen"}');
  await unicast.getByLabel('Time to live (seconds)').fill('600');
  await unicast.getByRole('button', { name: 'Send to this endpoint' }).click();
  await expectVisible(page.getByTestId('notification-sent').filter({ hasText: /Unicast on topic alerts/ }), 'the sent unicast');
  await shot(page, '19e-endpoint');
  const afterUnicast = await sync(kitchen, 2);
  const direct = afterUnicast.notifications?.notifications.find((n) => n.uid);
  if (!direct || !direct.body.toString('utf8').includes('hello kitchen'))
    throw new Error(`the endpoint did not receive the unicast: ${JSON.stringify(afterUnicast.notifications)}`);
  await page.reload();
  await expectVisible(page.getByTestId('endpoint-server-profile').filter({ hasText: '"tier": 2' }), 'the endpoint page after a reload');
  await page.screenshot({ path: join(shots, 'readme-endpoint.png') }); // the source of docs/img/admin-ui-endpoint.png (the README screenshot)

  step('topic notification: invalid body at its field, then sent twice with sequence numbers 1 and 2, received by the endpoint');
  await page.goto(`${appUrl}/topics`);
  await page.getByRole('button', { name: 'Send notification to alerts' }).focus(); // keyboard: Enter opens the dialog
  await page.keyboard.press('Enter');
  const topicForm = page.getByRole('dialog').getByRole('form', { name: 'Topic notification' });
  await topicForm.getByLabel('Notification body (JSON)').fill('{"text": 5}');
  await topicForm.getByRole('button', { name: 'Send notification' }).click();
  await expectVisible(fieldErrors(topicForm).filter({ hasText: /body\.text/ }), 'the notification body error at its field');
  await topicForm.getByLabel('Notification body (JSON)').fill('{"text": "storm warning"}');
  await topicForm.getByLabel('Time to live (seconds)').fill('3600');
  await topicForm.getByRole('button', { name: 'Send notification' }).click();
  await expectVisible(page.getByTestId('notification-seq').filter({ hasText: /^1$/ }), 'sequence number 1');
  await topicForm.getByRole('button', { name: 'Send notification' }).click();
  await expectVisible(page.getByTestId('notification-seq').filter({ hasText: /^2$/ }), 'sequence number 2');
  await expectVisible(page.getByTestId('notification-sent').filter({ hasText: '(1 h)' }), 'the TTL in words');
  await page.screenshot({ path: join(shots, '19f-topic-notification.png') });
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  const afterTopic = await sync(kitchen, 3);
  const topicSeqs = (afterTopic.notifications?.notifications ?? []).filter((n) => n.seqNumber != null && n.body.toString('utf8').includes('storm warning')).map((n) => n.seqNumber);
  same(topicSeqs.sort(), [1, 2], 'topic notifications received by the endpoint');

  step('revoking a registered endpoint from its page: its next sync is refused');
  await page.goto(`${appUrl}/endpoints/${garage.hash}`);
  await expectVisible(page.getByTestId('endpoint-access-token').filter({ hasText: 'garage-sensor' }), 'the garage endpoint');
  await page.getByRole('button', { name: `Revoke credentials ${garage.hash}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expectVisible(page.getByText('REVOKED'), 'the revoked endpoint');
  const refused = await sync(garage, 2).then(() => null, (e) => e);
  if (!refused) throw new Error('a revoked endpoint could still sync');
  const garageUrl = page.url();

  step('endpoint pages: 24 more endpoints register, the list reads them 25 at a time');
  for (let i = 1; i <= 24; i++) {
    const ep = { keys: endpointKeys(), accessToken: `fleet-${String(i).padStart(2, '0')}`, profile: avroRecord([['string', 'linux'], ['int', i]]) };
    const answer = await sync(ep);
    if (answer.status !== 'SUCCESS') throw new Error(`registration of ${ep.accessToken}: ${JSON.stringify(answer)}`);
  }
  await page.goto(`${appUrl}/endpoints`);
  await expectVisible(endpointRows.first(), 'the first page of endpoints');
  same(await endpointRows.count(), 25, 'endpoints on the first page');
  const pages = page.getByRole('navigation', { name: 'Pages of endpoints' });
  await expectVisible(pages.getByText('endpoints 1–25'), 'the range of the first page');
  await pages.getByRole('button', { name: 'Next page' }).click();
  await expectVisible(pages.getByText('endpoints 26–26'), 'the second page');
  same(await endpointRows.count(), 1, 'endpoints on the second page');
  if (!(await pages.getByRole('button', { name: 'Next page' }).isDisabled())) throw new Error('a next page after the last one');
  await pages.getByRole('button', { name: 'Previous page' }).click();
  await expectVisible(pages.getByText('endpoints 1–25'), 'the first page again');
  await logout(page);

  step('TENANT_ADMIN: generates the Rust SDK, and neither creates nor deletes SDK profiles');
  await login(page, 'acme-admin', PASSWORD);
  await page.goto(`${appUrl}/sdk-profiles`);
  const adminSdkRow = page.getByTestId('sdk-profile-row').filter({ hasText: 'thermostat-sdk' });
  await expectVisible(adminSdkRow, 'the SDK profiles for a tenant admin');
  await expectNone(page.getByRole('button', { name: /Create SDK profile|Delete/ }), 'SDK profile write buttons for a tenant admin');
  await adminSdkRow.getByRole('button', { name: 'Generate SDK of thermostat-sdk' }).click();
  const rustDialog = page.getByRole('dialog', { name: 'Generate SDK — thermostat-sdk' });
  if (!(await rustDialog.getByRole('radio', { name: 'Rust', exact: true }).isChecked())) throw new Error('Rust is not the default target');
  download = page.waitForEvent('download');
  await rustDialog.getByRole('button', { name: 'Generate and download' }).click();
  const rustFiles = await checkSdkArchive(await download, rustDialog, 'rust', sdkToken);
  if (![...rustFiles.keys()].some((n) => n.endsWith('Cargo.toml'))) throw new Error(`no Cargo.toml in the Rust SDK: ${[...rustFiles.keys()].join(', ')}`);
  await page.keyboard.press('Escape');
  await logout(page);

  step('TENANT_USER: reads, sees no write actions');
  await login(page, 'acme-viewer', PASSWORD);
  same(await navLabels(page), ['Applications', 'Event families'], 'TENANT_USER navigation');
  await expectNone(page.getByRole('button', { name: 'Create application' }), 'create-application button');
  await page.getByRole('link', { name: 'Thermostat' }).click();
  await expectVisible(page.getByRole('link', { name: 'beta' }), 'group beta (read)');
  await expectNone(page.getByRole('button', { name: /Create group|Delete/ }), 'group write buttons');
  await page.getByRole('tab', { name: 'Schemas' }).click();
  await expectVisible(page.getByRole('cell', { name: 'Device config' }), 'the schema (read)');
  await expectNone(page.getByRole('button', { name: 'Upload schema' }), 'upload button');
  await expectNone(page.getByRole('tab', { name: 'Change log' }), 'the change log tab (not for tenant users)');
  await page.getByRole('tab', { name: 'Topics' }).click();
  await expectVisible(page.getByTestId('topic-row').filter({ hasText: 'alerts' }), 'the topics (read)');
  await expectNone(page.getByRole('button', { name: /Create topic|Send notification/ }), 'topic write buttons');
  await page.getByRole('tab', { name: 'Endpoints' }).click();
  await expectVisible(page.getByTestId('endpoint-row'), 'the endpoints (read)');
  await page.getByRole('tab', { name: 'Credentials' }).click();
  // Any row: the list is ordered by key hash, so with more than a page of credentials the revoked
  // ones may be on the second page.
  await expectVisible(page.getByTestId('credentials-row'), 'the credentials (read)');
  await expectNone(page.getByRole('button', { name: /Provision|Revoke/ }), 'credentials write buttons');
  await page.getByRole('tab', { name: 'SDK profiles' }).click();
  await expectVisible(page.getByTestId('sdk-profile-row'), 'the SDK profiles (read)');
  await expectNone(page.getByRole('button', { name: /Create SDK profile|Delete|Generate SDK/ }), 'SDK profile write and generate buttons');
  await page.goto(`${appUrl}/endpoints/${kitchen.hash}`);
  await expectVisible(page.getByTestId('endpoint-client-profile'), 'the kitchen endpoint page (read)');
  await expectVisible(page.getByText('IN USE'), 'the kitchen endpoint’s credentials (read)');
  await expectNone(page.getByRole('button', { name: /Edit server profile|Send to this endpoint|Revoke/ }), 'endpoint write buttons');
  await expectNone(page.getByRole('form', { name: 'Unicast notification' }), 'the unicast form');
  await page.goto(groupUrl);
  await expectVisible(page.getByTestId('filter-row').getByText('active', { exact: true }), 'the active filter (read)');
  await expectNone(page.getByRole('button', { name: /Activate|Deactivate|Save|Edit|Delete/ }), 'filter write buttons');
  // Testing a filter reads nothing but the application: tenant users may try one.
  await waitForValue(page.getByLabel('Filter expression'), 'cp.os == "android" && cp.version >= 6 // Android 6 and later', 'the active filter in the tester');
  await form(page, 'Test profile filter').getByLabel('Sample client profile (cp, JSON)').fill('{"os": "android", "version": 9}');
  await form(page, 'Test profile filter').getByRole('button', { name: 'Test filter' }).click();
  await expectVisible(page.locator('[data-testid="filter-test-result"][data-matches="true"]'), 'a tenant user’s filter test');
  await shot(page, '20b-tenant-user-filter-test');
  await page.getByRole('tab', { name: 'Configurations' }).click();
  await expectVisible(page.getByTestId('configuration-row').getByText('active', { exact: true }), 'the active configuration (read)');
  await expectNone(page.getByRole('button', { name: /Activate|Deactivate|Save draft|Delete|Edit/ }), 'configuration write buttons');
  await shot(page, '20-tenant-user-readonly');
  await page.getByRole('tab', { name: 'Topics' }).click();
  await expectVisible(page.getByTestId('group-topic-row'), 'the attached topic (read)');
  await expectNone(page.getByRole('button', { name: /Attach|Detach/ }), 'topic attach buttons');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Event families' }).click();
  await expectVisible(page.getByRole('link', { name: 'Thermostat events' }), 'the event families (read)');
  await expectNone(page.getByRole('button', { name: 'Create family' }), 'create-family button');
  await logout(page);

  step('KAA_ADMIN: the cluster page, live');
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cluster' }).click();
  await page.waitForURL(`${base}/cluster-status`);
  const nodeRow = page.getByTestId('cluster-node-row');
  await expectVisible(nodeRow.getByText('Control leader'), 'the node leading Control');
  for (const service of ['control', 'operations', 'bootstrap']) await expectVisible(nodeRow.getByText(service, { exact: true }), `service ${service}`);
  await expectVisible(page.getByTestId('cluster-endpoints'), 'the endpoint count');
  const firstUpdate = await page.getByTestId('cluster-updated').innerText();
  await page.waitForFunction((before) => {
    const el = document.querySelector('[data-testid="cluster-updated"]');
    return el && el.textContent !== before && /Updated/.test(el.textContent);
  }, firstUpdate, { timeout: 10_000 });
  // A flat line has no height, so "visible" does not apply: the curve is drawn once two samples are in.
  await page.getByTestId('load-chart').locator('path.recharts-line-curve').first().waitFor({ state: 'attached' });
  step('KAA_ADMIN: the endpoint transports with the fingerprint of the node key from /api/v1/cluster');
  const { token: adminToken } = await page.evaluate(() => JSON.parse(sessionStorage.getItem('kaa.session')));
  const apiCluster = await (await fetch(`${base}/api/v1/cluster`, { headers: { Authorization: `Bearer ${adminToken}` } })).json();
  const nodeKey = apiCluster.nodes?.[0]?.bootstrap?.transports?.[0]?.public_key;
  if (!nodeKey) throw new Error(`no Bootstrap public key in /api/v1/cluster: ${JSON.stringify(apiCluster)}`);
  const fingerprint = `${createHash('sha256').update(Buffer.from(nodeKey, 'base64')).digest('hex').match(/../g).slice(0, 8).join(':')}…`;
  for (const [service, protocol, port] of [
    ['Bootstrap', 'Kaatcp', bsTcp],
    ['Bootstrap', 'HTTP', bsHttp],
    ['Operations', 'Kaatcp', opsTcp],
    ['Operations', 'HTTP', opsHttp],
  ]) {
    const row = page.getByTestId('cluster-transport-row').filter({ hasText: service }).filter({ hasText: `:${port}` });
    await expectVisible(row.getByText(protocol, { exact: true }), `the ${service} ${protocol} transport on port ${port}`);
    await expectVisible(row.getByText(fingerprint, { exact: true }), `the key fingerprint of the ${service} ${protocol} transport`);
  }
  await shot(page, '21-cluster');
  await page.reload(); // the page's own path loads on refresh (the node's /cluster is JSON)
  await expectVisible(nodeRow.getByText('Control leader'), 'the cluster page after a refresh');

  step('narrow layout (390×844): navigation behind the burger');
  const narrow = await browser.newContext({ viewport: { width: 390, height: 844 } });
  narrow.setDefaultTimeout(10_000);
  const phone = await narrow.newPage();
  watch(phone, 'narrow');
  await login(phone, 'acme-dev', PASSWORD);
  await expectVisible(phone.getByRole('heading', { name: 'Applications' }), 'applications on a narrow screen');
  await phone.getByRole('link', { name: 'Thermostat' }).click();
  await expectVisible(phone.getByTestId('app-token'), 'the application on a narrow screen');
  await shot(phone, '22-narrow-application');
  const noSidewaysScroll = async (what) => {
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    if (width > 390) throw new Error(`narrow ${what} scrolls sideways: ${width}px wide`);
  };
  await noSidewaysScroll('application page');
  await phone.goto(groupUrl);
  await expectVisible(phone.getByTestId('filter-row'), 'the filters on a narrow screen');
  await noSidewaysScroll('group page');
  await shot(phone, '23-narrow-group-filters');
  await phone.goto(garageUrl);
  await expectVisible(phone.getByTestId('endpoint-client-profile'), 'the endpoint page on a narrow screen');
  await noSidewaysScroll('endpoint page');
  await shot(phone, '23b-narrow-endpoint');
  await phone.goto(`${appUrl}/credentials`);
  await expectVisible(phone.getByTestId('credentials-row'), 'the credentials on a narrow screen');
  await noSidewaysScroll('credentials page');
  await phone.goto(`${appUrl}/endpoints`);
  await expectVisible(phone.getByTestId('endpoint-row'), 'the endpoints on a narrow screen');
  await noSidewaysScroll('endpoints page');
  await phone.goto(`${appUrl}/log-appenders`);
  await expectVisible(phone.getByTestId('appender-row'), 'the appenders on a narrow screen');
  await noSidewaysScroll('appenders page');
  await phone.getByRole('button', { name: 'Toggle navigation' }).click();
  await expectVisible(phone.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Applications' }), 'the opened navigation');
  await shot(phone, '24-narrow-navigation');
  await logout(phone);
  await login(phone, 'admin', ADMIN_PASSWORD);
  await phone.goto(`${base}/cluster-status`);
  await expectVisible(phone.getByTestId('cluster-node-row'), 'the cluster page on a narrow screen');
  await noSidewaysScroll('cluster page');
  await shot(phone, '25-narrow-cluster');

  step('an invalid session sends the user back to login');
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem('kaa.session'));
    s.token = 'not-a-valid-token';
    sessionStorage.setItem('kaa.session', JSON.stringify(s));
  });
  await page.goto(`${base}/applications`);
  await page.waitForURL(`${base}/login`);
  await page.getByRole('button', { name: 'Log in' }).waitFor();

  step('unknown API paths still answer the JSON no_route');
  const r = await fetch(`${base}/api/v1/no-such-thing`);
  const j = await r.json();
  if (r.status !== 404 || j.error !== 'no_route') throw new Error(`/api/v1/no-such-thing: ${r.status} ${JSON.stringify(j)}`);

  if (problems.length) throw new Error(`browser problems:\n  ${problems.join('\n  ')}`);
  console.log(`PASS: admin UI workflow; screenshots in ${shots}`);
  await cleanup();
  process.exit(0);
} catch (error) {
  console.error(`FAIL: ${error.stack ?? error}`);
  await lastPage?.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  if (problems.length) console.error(`browser problems:\n  ${problems.join('\n  ')}`);
  console.error(`---- kaa-node log ----\n${nodeLog.slice(-4000)}`);
  await cleanup();
  process.exit(1);
}
