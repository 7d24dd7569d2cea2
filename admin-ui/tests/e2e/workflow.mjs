// Browser test of the admin UI against a real standalone kaa-node: Debian's Chromium driven by
// playwright-core through a whole operator workflow, from the Kaa admin to a developer's active
// configuration, plus a read-only tenant user, the narrow layout, keyboard login, the 401 path
// and the SPA fallback. Screenshots go to admin-ui/test-results/screenshots/.
//
//   npm run build && npm run e2e        (needs target/debug/kaa-node: cargo build --bin kaa-node)
//
// KAA_NODE_BIN overrides the binary, CHROMIUM the browser. Fails (never skips) when either is
// missing.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const uiDir = resolve(here, '../..');
const repo = resolve(uiDir, '..');
const bin = process.env.KAA_NODE_BIN ?? join(repo, 'target/debug/kaa-node');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const shots = join(uiDir, 'test-results/screenshots');
const ADMIN_PASSWORD = 'e2e-admin-password';
const PASSWORD = 'secret-password-1';

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
async function navLabels(page) {
  return (await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts()).map((s) => s.trim());
}
function same(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected))
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

try {
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
  same(await navLabels(page), ['Tenants', 'Users'], 'KAA_ADMIN navigation');
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
  same(await navLabels(page), ['Users', 'Applications'], 'TENANT_ADMIN navigation');
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
  same(await navLabels(page), ['Applications'], 'TENANT_DEVELOPER navigation');
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
  await page.getByRole('tab', { name: 'Endpoint groups' }).click();
  await page.getByRole('link', { name: 'beta' }).click();
  await expectVisible(page.getByText('No configurations in this group.'), 'the empty state of configurations');
  const body = page.getByLabel('Configuration (JSON)');
  await body.fill('{"interval": "soon"}');
  await page.getByRole('button', { name: 'Save draft' }).click();
  await expectVisible(page.getByText(/body/), 'the configuration validation error');
  await body.fill('{"interval": 30}');
  await page.getByRole('button', { name: 'Save draft' }).click();
  const row = page.getByTestId('configuration-row');
  await expectVisible(row.getByText('draft', { exact: true }), 'a draft configuration');
  await row.getByRole('button', { name: 'Activate' }).click();
  await expectVisible(row.getByText('active', { exact: true }), 'the activated configuration');
  await shot(page, '09-group-configurations');
  const groupUrl = page.url();
  await logout(page);

  step('TENANT_USER: reads, sees no write actions');
  await login(page, 'acme-viewer', PASSWORD);
  same(await navLabels(page), ['Applications'], 'TENANT_USER navigation');
  await expectNone(page.getByRole('button', { name: 'Create application' }), 'create-application button');
  await page.getByRole('link', { name: 'Thermostat' }).click();
  await expectVisible(page.getByRole('link', { name: 'beta' }), 'group beta (read)');
  await expectNone(page.getByRole('button', { name: /Create group|Delete/ }), 'group write buttons');
  await page.getByRole('tab', { name: 'Schemas' }).click();
  await expectVisible(page.getByRole('cell', { name: 'Device config' }), 'the schema (read)');
  await expectNone(page.getByRole('button', { name: 'Upload schema' }), 'upload button');
  await page.goto(groupUrl);
  await expectVisible(page.getByTestId('configuration-row').getByText('active', { exact: true }), 'the active configuration (read)');
  await expectNone(page.getByRole('button', { name: /Activate|Deactivate|Save draft|Delete/ }), 'configuration write buttons');
  await shot(page, '10-tenant-user-readonly');

  step('narrow layout (390×844): navigation behind the burger');
  const narrow = await browser.newContext({ viewport: { width: 390, height: 844 } });
  narrow.setDefaultTimeout(10_000);
  const phone = await narrow.newPage();
  watch(phone, 'narrow');
  await login(phone, 'acme-dev', PASSWORD);
  await expectVisible(phone.getByRole('heading', { name: 'Applications' }), 'applications on a narrow screen');
  await phone.getByRole('link', { name: 'Thermostat' }).click();
  await expectVisible(phone.getByTestId('app-token'), 'the application on a narrow screen');
  await shot(phone, '11-narrow-application');
  await phone.getByRole('button', { name: 'Toggle navigation' }).click();
  await expectVisible(phone.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Applications' }), 'the opened navigation');
  await shot(phone, '12-narrow-navigation');
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  if (width > 390) throw new Error(`narrow page scrolls sideways: ${width}px wide`);

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
