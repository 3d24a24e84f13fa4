import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../src/test/helpers.js';
import { createUser } from '../../src/modules/auth/auth.service.js';
import { generateBatches } from '../../src/modules/demo/demo.generator.js';
import { ingestAndSegment } from '../../src/modules/ingest/ingest.pipeline.js';
import { refreshScores } from '../../src/modules/analytics/scores.service.js';
import { runCampaignSend } from '../../src/modules/campaigns/campaigns.service.js';

/**
 * The admin UI in a real browser (Debian's Chromium driven by playwright-core) against the real
 * server on a 300-customer demo dataset. Waits are for elements and roles, never for time.
 */

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEB = path.join(ROOT, 'web');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const PASSWORD = 'correct horse battery staple';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.js');

let ctx: TestContext;
let tenantId: string;
let apiHeaders: { authorization: string };
let email: string;
let baseUrl: string;
let profileDir: string;
let browser: BrowserContext;
let page: Page;

/** The build is what `npm install` produces; rebuild here when web/src changed since (a dev's edit). */
async function ensureBuilt(): Promise<void> {
  const index = path.join(WEB, 'dist', 'index.html');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = path.join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  const sources = Math.max(newest(path.join(WEB, 'src')), statSync(path.join(WEB, 'index.html')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const { build } = await import('vite');
  await build({ configFile: path.join(WEB, 'vite.config.ts'), logLevel: 'warn' });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The admin UI browser tests need Chromium at ${CHROMIUM}: run \`apt-get install -y chromium\` (Debian/Ubuntu).`);
  }
  await ensureBuilt();
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of readdirSync(ARTIFACTS)) if (f.startsWith('failure-')) rmSync(path.join(ARTIFACTS, f));

  ctx = await createTestApp();
  const t = await createTestTenant(ctx.db, 'Sala Palatului');
  tenantId = t.tenantId;
  apiHeaders = t.headers;
  email = `ui-${randomUUID().slice(0, 8)}@example.com`;
  await createUser(ctx.db, { tenantId, email, password: PASSWORD, role: 'admin', name: 'Ana Admin' });
  const now = new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z');
  for (const batch of generateBatches({ customers: 300, seed: 42, now })) {
    await ingestAndSegment(ctx.db, { tenantId, config: ctx.config, actor: 'system:demo' }, batch);
  }
  await refreshScores(ctx.db, ctx.config, tenantId);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const address = ctx.app.server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  profileDir = mkdtempSync(path.join(tmpdir(), 'crm-chromium-'));
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(20_000);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await ctx?.close();
});

// A failed scenario leaves a picture of what the browser showed.
afterEach(async ({ task }) => {
  if (task.result?.state === 'fail' && page) {
    await page.screenshot({ path: path.join(ARTIFACTS, `failure-${task.name.replace(/\W+/g, '-').slice(0, 60)}.png`), fullPage: true }).catch(() => undefined);
  }
});

/** A violation as axe-core reports it (only the fields the failure message uses). */
interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] }
interface AxeResults { violations: AxeViolation[]; passes: { id: string }[] }

/**
 * Runs axe-core's WCAG 2 A/AA rules on the page as shown and returns its violations in readable
 * lines (rule, impact, element selector, what fails): an empty list means the page passes.
 */
async function axeViolations(): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  // this file compiles without DOM types; the callback runs in the browser, where axe.js defined `axe`
  const violations = await page.evaluate(async () => {
    const g = globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<AxeResults> }; document: unknown };
    const result = await g.axe.run(g.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return {
      contrastChecked: [...result.passes, ...result.violations].some((r) => r.id === 'color-contrast'),
      list: result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })),
    };
  });
  // the contrast rule ran on text of this page (an empty list must not come from a page without text)
  expect(violations.contrastChecked).toBe(true);
  return violations.list.flatMap((v) => v.nodes.map((n) =>
    `${v.id} (${v.impact ?? 'n/a'}): ${n.target.map(String).join(' ')} — ${v.help}; ${(n.failureSummary ?? '').replace(/\s+/g, ' ').trim()}`));
}

/** The page's scrolled width: wider than the viewport means something overflows sideways. */
async function pageWidth(): Promise<number> {
  // this file compiles without DOM types; the callback runs in the browser
  return page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
}

async function screenshot(name: string, width: number) {
  await page.setViewportSize({ width, height: width < 600 ? 812 : 900 });
  // the navigation slides away below 768 px: the picture is of the layout once it has settled
  await expect.poll(pageWidth, { timeout: 20_000 }).toBeLessThanOrEqual(width);
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${width}.png`), fullPage: true, animations: 'disabled' });
}

describe('admin UI in Chromium', () => {
  it('logs in with a user account and shows the dashboard', async () => {
    await page.goto(`${baseUrl}/admin/`);
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('wrong e-mail or password').waitFor();

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 2 }).waitFor();
    const customers = page.getByRole('region', { name: 'Customers', exact: true });
    await customers.getByText('300', { exact: true }).waitFor();
    // the heat maps and charts have data
    await page.getByRole('table', { name: 'RFM grid (recency × frequency)' }).waitFor();
    await page.getByRole('table', { name: 'Cohort retention' }).waitFor();
    await page.locator('.recharts-surface').first().waitFor();
    // every chart and table of the dashboard is there, none with an API error. The CLV model needs
    // data it can fit (the API answers 422 otherwise): then the top customers are those by LTV so far.
    const ltv = await ctx.app.inject({ url: '/api/crm/analytics/ltv?top=10', headers: apiHeaders });
    expect([200, 422]).toContain(ltv.statusCode);
    const fitted = ltv.statusCode === 200;
    const top = fitted ? 'Top customers by predicted CLV' : 'Top customers by lifetime value so far';
    // without a fitted model the distribution shown is that of the lifetime value so far
    const distributionName = fitted ? 'Predicted CLV distribution' : 'Lifetime value so far';
    for (const name of ['Acquisition trend (new buyers per month)', 'Revenue by month', 'RFM grid (recency × frequency)', 'Cohort retention',
      distributionName, top, 'Segment growth (30 days)']) {
      const section = page.getByRole('region', { name, exact: true });
      await section.waitFor();
      await expect.poll(() => section.getByText('Loading…').count(), { timeout: 20_000 }).toBe(0);
      expect(await section.getByRole('alert').count(), name).toBe(0);
    }
    const distribution = page.getByRole('region', { name: distributionName, exact: true });
    if (!fitted) await distribution.getByRole('status').getByText('Not enough purchase history for the prediction yet').waitFor();
    await distribution.locator('.recharts-surface').waitFor();
    const topTable = page.getByRole('table', { name: top });
    await topTable.getByRole('row').nth(10).waitFor();
    if (!fitted) {
      const best = (await ctx.app.inject({ url: '/api/crm/customers?sort=-lifetime_value&limit=1', headers: apiHeaders })).json().data[0];
      await topTable.getByRole('row').nth(1).getByRole('link', { name: best.name }).waitFor();
    }
    await screenshot('dashboard', 1280);
    await screenshot('dashboard', 375);
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('searches a customer, opens the profile and logs an interaction that appears in the list', async () => {
    const target = await ctx.db.one<{ id: string; email: string; last_name: string }>(sql`
      SELECT id, email, last_name FROM customers WHERE tenant_id = ${tenantId} AND email IS NOT NULL AND total_orders > 1
      ORDER BY total_spend DESC LIMIT 1`);
    await page.getByRole('link', { name: 'Customers' }).click();
    await page.getByRole('heading', { name: 'Customers', level: 2 }).waitFor();
    await page.getByLabel('Search customers').fill(target!.email);
    const table = page.getByRole('table', { name: 'Customers' });
    await expect.poll(() => table.getByRole('row').count(), { timeout: 20_000 }).toBe(2); // header + the one match
    await table.getByRole('row').nth(1).getByRole('link').click();

    await page.getByRole('tab', { name: 'Timeline' }).waitFor();
    expect(page.url()).toContain(`/admin/customers/${target!.id}`);
    await page.getByText('Total spend').first().waitFor();
    await screenshot('profile', 1280);
    await screenshot('profile', 375);
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 900 });

    // every tab loads without an API error (the panels stay mounted, so they load with the page)
    for (const tab of ['Timeline', 'Orders & tickets', 'Attendance', 'Notes', 'Segments', 'Loyalty', 'Consent', 'Duplicates']) {
      await page.getByRole('tab', { name: tab, exact: true }).click();
      const panel = page.getByRole('tabpanel', { name: tab, exact: true });
      await expect.poll(() => panel.getByText('Loading…').count(), { timeout: 20_000 }).toBe(0);
      expect(await panel.getByRole('alert').count(), tab).toBe(0);
      expect((await panel.innerText()).trim().length, tab).toBeGreaterThan(0);
    }
    await page.getByRole('tab', { name: 'Orders & tickets' }).click();
    await page.getByRole('tabpanel', { name: 'Orders & tickets' }).getByRole('row').first().waitFor();

    await page.getByRole('tab', { name: 'Interactions' }).click();
    const form = page.getByRole('form', { name: 'Log an interaction' });
    await form.getByLabel('Type', { exact: true }).click();
    await page.getByRole('option', { name: 'Meeting' }).click();
    await form.getByLabel('Subject').fill('Backstage tour for the autumn season');
    await form.getByLabel('Priority', { exact: true }).click();
    await page.getByRole('option', { name: 'High' }).click();
    await form.getByLabel('Follow-up due').fill('2030-05-01T10:30');
    await form.getByRole('button', { name: 'Log an interaction' }).click();

    const list = page.getByRole('list', { name: 'Interactions' });
    await list.getByText('Backstage tour for the autumn season').waitFor();
    const stored = await ctx.db.one<{ type: string; priority: string; status: string; follow_up_at: Date | null; created_by: string }>(sql`
      SELECT type, priority, status, follow_up_at, created_by FROM interactions
      WHERE tenant_id = ${tenantId} AND customer_id = ${target!.id}::uuid AND subject = 'Backstage tour for the autumn season'`);
    expect(stored).toMatchObject({ type: 'meeting', priority: 'high', status: 'pending' });
    expect(stored!.follow_up_at).toBeInstanceOf(Date);
    expect(stored!.created_by).toMatch(/^user:/);

    const recs = (await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${target!.id}/recommendations?limit=10`, headers: apiHeaders })).json();
    await page.getByRole('tab', { name: 'Recommendations' }).click();
    // the demo data schedules shows up to 90 days ahead, so this customer has some not yet bought
    expect(recs.data.length).toBeGreaterThan(0);
    await page.getByRole('list', { name: 'Recommendations' }).getByRole('listitem', { name: recs.data[0].name }).first().waitFor();
  });

  it('builds a nested segment, sees its live count, and saves it', async () => {
    await page.getByRole('link', { name: 'Segments' }).click();
    await page.getByRole('link', { name: 'New segment' }).click();
    await page.getByLabel('Segment name').fill('Big spenders who come back');

    // root: total_spend >= 100 AND (events_attended >= 2 OR last_purchase within 180d)
    const root = page.getByRole('group', { name: 'Group, level 1' });
    const first = root.getByRole('group', { name: 'Condition' }).first();
    await first.getByLabel('Operator', { exact: true }).click();
    await page.getByRole('option', { name: 'at least', exact: true }).click();
    await first.getByLabel('Value', { exact: true }).fill('100');

    await root.getByRole('button', { name: 'Add group' }).first().click();
    const nested = page.getByRole('group', { name: 'Group, level 2' });
    await nested.getByLabel('Match (Group, level 2)').waitFor();
    const n1 = nested.getByRole('group', { name: 'Condition' }).first();
    await n1.getByLabel('Field', { exact: true }).click();
    await page.getByRole('option', { name: 'Events attended' }).click();
    await n1.getByLabel('Operator', { exact: true }).click();
    await page.getByRole('option', { name: 'at least', exact: true }).click();
    await n1.getByLabel('Value', { exact: true }).fill('2');
    await nested.getByRole('button', { name: 'Add condition' }).click();
    const n2 = nested.getByRole('group', { name: 'Condition' }).nth(1);
    await n2.getByLabel('Field', { exact: true }).click();
    await page.getByRole('option', { name: 'Last purchase' }).click();
    await n2.getByLabel('Operator', { exact: true }).click();
    await page.getByRole('option', { name: 'within the last', exact: true }).click();
    await n2.getByLabel('Value', { exact: true }).fill('180d');

    const rules = {
      operator: 'and',
      conditions: [
        { field: 'total_spend', operator: '>=', value: 100 },
        { operator: 'or', conditions: [{ field: 'events_attended', operator: '>=', value: 2 }, { field: 'last_purchase', operator: 'within', value: '180d' }] },
      ],
    };
    const expected = await ctx.app.inject({
      method: 'POST', url: '/api/crm/segments/preview', headers: apiHeaders, payload: { rules },
    });
    const count: number = expected.json().count;
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(300);
    const badge = page.getByTestId('segment-preview-count');
    await expect.poll(() => badge.textContent(), { timeout: 20_000 }).toBe(`${count} customers match`);

    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Big spenders who come back', level: 2 }).waitFor();
    const saved = await ctx.db.one<{ customer_count: number; rules: unknown }>(sql`
      SELECT (SELECT count(*)::int FROM segment_members m WHERE m.tenant_id = s.tenant_id AND m.segment_id = s.id) AS customer_count, s.rules
      FROM segments s WHERE s.tenant_id = ${tenantId} AND s.name = 'Big spenders who come back'`);
    expect(saved!.customer_count).toBe(count);
    await page.getByText(`${count} customers match`).first().waitFor();
    await page.getByRole('table', { name: 'Members' }).waitFor();
  });

  it('pages through customers with the API cursor and tags a selection in bulk', async () => {
    await page.getByRole('link', { name: 'Customers' }).click();
    await page.getByRole('heading', { name: 'Customers', level: 2 }).waitFor();
    const table = page.getByRole('table', { name: 'Customers' });
    await expect.poll(() => table.getByRole('row').count(), { timeout: 20_000 }).toBe(26);
    const firstOnPage1 = await table.getByRole('row').nth(1).getByRole('link').textContent();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('Page 2', { exact: true }).waitFor();
    await expect.poll(() => table.getByRole('row').nth(1).getByRole('link').textContent(), { timeout: 20_000 }).not.toBe(firstOnPage1);
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByText('Page 1', { exact: true }).waitFor();
    await expect.poll(() => table.getByRole('row').nth(1).getByRole('link').textContent(), { timeout: 20_000 }).toBe(firstOnPage1);

    await table.getByRole('row').nth(1).getByRole('checkbox').check();
    await table.getByRole('row').nth(2).getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Add tags' }).click();
    await page.getByLabel('Tags to add (comma separated)').fill('front-row');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('Done: 2 changed, 0 failed').waitFor();
    const tagged = await ctx.db.one<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM customers WHERE tenant_id = ${tenantId} AND 'front-row' = ANY(tags)`);
    expect(tagged!.n).toBe(2);

    // a filter (kept in the address) and a column chosen to show
    await page.getByRole('button', { name: 'Filters' }).click();
    await page.getByLabel('Tags (comma separated)').fill('front-row');
    await page.getByLabel('Tags (comma separated)').press('Enter');
    await expect.poll(() => table.getByRole('row').count(), { timeout: 20_000 }).toBe(3);
    expect(page.url()).toContain('tags=front-row');
    expect(await table.getByRole('columnheader', { name: 'Tags', exact: true }).count()).toBe(0);
    await page.getByRole('button', { name: 'Columns' }).click();
    await page.getByRole('checkbox', { name: 'Tags', exact: true }).check();
    await table.getByRole('columnheader', { name: 'Tags', exact: true }).waitFor();
    await expect.poll(() => table.getByRole('row').filter({ hasText: 'front-row' }).count(), { timeout: 20_000 }).toBe(2);
    await page.keyboard.press('Escape');
    await screenshot('customers', 375);
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('imports a CSV with one bad row: dry run with the suggested mapping, then the import and its error rows', async () => {
    const csv = ['Prenume,Nume,Adresa de e-mail,Oraș', 'Radu,Importescu,radu.importescu@example.ro,Cluj-Napoca', 'Bad,Row,not-an-email,Iași',
      'Irina,Importescu,irina.importescu@example.ro,Brașov'].join('\n');
    await page.getByRole('link', { name: 'Import' }).click();
    await page.getByRole('heading', { name: 'Import customers or orders', level: 2 }).waitFor();
    await page.locator('input[type=file]').setInputFiles({ name: 'clienti.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Check the file (dry run)' }).click();
    const report = page.getByRole('status').filter({ hasText: 'Dry run: nothing was written' });
    await report.getByText('3 rows: 2 new, 0 updated, 0 unchanged, 1 rejected').waitFor();
    // the suggested mapping, editable per column
    expect(await page.getByRole('textbox', { name: 'Field for column Adresa de e-mail' }).inputValue()).toBe('email');
    const before = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM customers WHERE tenant_id = ${tenantId} AND last_name = 'Importescu'`);
    expect(before!.n).toBe(0);

    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const done = page.getByRole('status').filter({ hasText: 'Import finished' });
    await done.getByText('3 rows: 2 new, 0 updated, 0 unchanged, 1 rejected').waitFor();
    const href = await done.getByRole('link', { name: 'Download the rejected rows (CSV)' }).getAttribute('href');
    const errors = await page.evaluate(async (url) => (await fetch(url!)).text(), href);
    expect(errors).toContain('not-an-email');
    const after = await ctx.db.rows<{ email: string; city: string }>(sql`
      SELECT email, city FROM customers WHERE tenant_id = ${tenantId} AND last_name = 'Importescu' ORDER BY email`);
    expect(after).toEqual([{ email: 'irina.importescu@example.ro', city: 'Brașov' }, { email: 'radu.importescu@example.ro', city: 'Cluj-Napoca' }]);
  });

  it('creates an e-mail campaign for a segment, sends it into the local outbox and shows a message', async () => {
    await page.getByRole('link', { name: 'Campaigns' }).click();
    await page.getByRole('heading', { name: 'Campaigns', level: 2 }).waitFor();
    await page.getByRole('button', { name: 'New campaign' }).click();
    const form = page.getByRole('form', { name: 'New campaign' });
    await form.getByLabel('Campaign name').fill('Autumn season');
    await form.getByRole('textbox', { name: 'Audience (segments)' }).click();
    await page.getByRole('option', { name: /^Big spenders who come back/ }).click();
    // no A/B test: one subject
    expect(await form.getByRole('switch', { name: 'A/B test' }).isChecked()).toBe(false);
    await form.getByRole('textbox', { name: 'Subject', exact: true }).fill('Your autumn tickets, {{ customer.first_name }}');
    await form.getByRole('button', { name: 'Save draft' }).click();
    const card = page.getByRole('region', { name: 'Autumn season' });
    await card.getByText('Draft', { exact: true }).waitFor();
    await card.getByRole('button', { name: 'Details' }).click();
    const schedule = card.getByRole('form', { name: 'Schedule' });
    await schedule.getByLabel('Send at (date and time)').fill('2030-01-15T09:30');
    await schedule.getByRole('button', { name: 'Schedule' }).click();
    await card.getByLabel('Status: Scheduled').waitFor();
    await card.getByText(/scheduled for 15 Jan 2030/).waitFor();
    const scheduled = await ctx.db.one<{ send_at: Date }>(sql`SELECT send_at FROM campaigns WHERE tenant_id = ${tenantId} AND name = 'Autumn season'`);
    expect(scheduled!.send_at.getUTCFullYear()).toBe(2030);
    await card.getByRole('button', { name: 'Send now' }).click();
    await card.getByText('Sending', { exact: true }).waitFor();
    // paused and resumed before the (test's stand-in for the) job runs
    await card.getByRole('button', { name: 'Pause' }).click();
    await card.getByLabel('Status: Paused').waitFor();
    expect((await ctx.db.one<{ status: string }>(sql`SELECT status FROM campaigns WHERE tenant_id = ${tenantId} AND name = 'Autumn season'`))!.status).toBe('paused');
    await card.getByRole('button', { name: 'Resume' }).click();
    await card.getByLabel('Status: Sending').waitFor();
    const row = await ctx.db.one<{ id: string; status: string; subject: string }>(sql`
      SELECT id, status, subject FROM campaigns WHERE tenant_id = ${tenantId} AND name = 'Autumn season'`);
    expect(row).toMatchObject({ status: 'sending', subject: 'Your autumn tickets, {{ customer.first_name }}' });

    // The test app runs no job worker: do what the campaigns.send job does. No SMTP_URL, so the
    // messages are kept in the local outbox.
    expect(ctx.config.marketing.smtpUrl).toBeNull();
    const run = await runCampaignSend({ db: ctx.db, config: ctx.config }, tenantId, row!.id);
    expect(run.state).toBe('finished');
    expect(run.sent).toBeGreaterThan(0);
    await card.getByLabel('Status: Sent').waitFor();
    const stats = (await ctx.app.inject({ method: 'GET', url: `/api/crm/campaigns/${row!.id}/stats`, headers: apiHeaders })).json();
    expect(stats.sent).toBeGreaterThan(0);
    await card.getByRole('list', { name: 'Funnel' }).getByRole('listitem', { name: `Sent: ${stats.sent.toLocaleString('en-GB')}` }).waitFor();

    // Customers without marketing consent are listed as suppressed; the viewer filters to those sent,
    // newest first.
    const listed = (await ctx.app.inject({ method: 'GET', url: `/api/crm/messages?campaign_id=${row!.id}&status=sent&limit=1`, headers: apiHeaders })).json();
    expect(listed.data[0]).toMatchObject({ status: 'sent' });
    const first = await ctx.db.one<{ email: string; first_name: string }>(sql`
      SELECT email, first_name FROM customers WHERE tenant_id = ${tenantId} AND id = ${listed.data[0].customer_id}`);
    expect(listed.data[0].to).toBe(first!.email);
    await card.getByRole('textbox', { name: 'Message status' }).click();
    await page.getByRole('option', { name: 'sent', exact: true }).click();
    const message = card.getByRole('table', { name: 'Messages (outbox)' }).getByRole('row').filter({ hasText: first!.email });
    await message.getByText(`Your autumn tickets, ${first!.first_name}`).waitFor();
    await message.getByRole('button', { name: 'View' }).click();
    const dialog = page.getByRole('dialog', { name: `Your autumn tickets, ${first!.first_name}` });
    await dialog.waitFor();
    await dialog.frameLocator('iframe').getByText(`Hello ${first!.first_name},`).waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    // A template, previewed for that customer as the API renders it.
    const templates = page.getByRole('region', { name: 'Templates' });
    await templates.getByRole('textbox', { name: 'Template', exact: true }).click();
    await page.getByRole('option', { name: 'New template' }).click();
    const editor = templates.getByRole('form', { name: 'Template editor' });
    await editor.getByLabel('Template name').fill('Welcome back');
    await editor.getByLabel('Subject').fill('See you soon, {{ customer.first_name }}');
    await editor.getByRole('button', { name: 'Save template' }).click();
    const preview = templates.getByRole('region', { name: 'Preview' });
    await preview.getByText('Choose a customer to see the message as they would get it.').waitFor();
    await preview.getByRole('textbox', { name: 'Preview for customer' }).fill(first!.email);
    await page.getByRole('option', { name: new RegExp(first!.email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }).click();
    await preview.getByText(`See you soon, ${first!.first_name}`, { exact: true }).waitFor();
    await preview.frameLocator('iframe').getByText(`Hello ${first!.first_name},`).waitFor();
    // unsaved edits show in the preview as they are typed; nothing is saved until Save
    await editor.getByLabel('Subject').fill('Front row for {{ customer.first_name }}');
    await editor.getByLabel(/^Body/).fill('<p>Seats wait for {{ customer.first_name | upcase }} in row {{ 2 | plus: 1 }}.</p>');
    await preview.getByText(`Front row for ${first!.first_name}`, { exact: true }).waitFor();
    await preview.frameLocator('iframe').getByText(`Seats wait for ${first!.first_name.toUpperCase()} in row 3.`).waitFor();
    await preview.getByText('The preview shows your unsaved changes.').waitFor();
    const stored = await ctx.db.one<{ subject: string; body: string }>(sql`SELECT subject, body FROM templates WHERE tenant_id = ${tenantId} AND name = 'Welcome back'`);
    expect(stored!.subject).toBe('See you soon, {{ customer.first_name }}');
    expect(stored!.body).toContain('Hello {{ customer.first_name }},');
    // a Liquid mistake in the draft is reported in plain words, with its line
    await editor.getByLabel(/^Body/).fill('<p>ok</p>\n{{ customer.first_name | nosuchfilter }}');
    await preview.getByRole('alert').getByText(/nosuchfilter/).waitFor();
    await editor.getByLabel(/^Body/).fill('<p>Seats wait for {{ customer.first_name | upcase }} in row {{ 2 | plus: 1 }}.</p>');
    await preview.frameLocator('iframe').getByText(`Seats wait for ${first!.first_name.toUpperCase()} in row 3.`).waitFor();
    await screenshot('campaign', 375);
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    await screenshot('campaign', 1280);
  });

  it('creates an A/B campaign in the form and shows its variants, links and opens/clicks over time from real tracking hits', async () => {
    const call = (method: 'GET' | 'POST', url: string, payload?: object) =>
      ctx.app.inject({ method, url: `/api/crm${url}`, headers: apiHeaders, ...(payload ? { payload } : {}) });
    await page.goto(`${baseUrl}/admin/campaigns`);
    await page.getByRole('button', { name: 'New campaign' }).click();
    const form = page.getByRole('form', { name: 'New campaign' });
    await form.getByLabel('Campaign name').fill('Subject test');
    await form.getByRole('textbox', { name: 'Audience (segments)' }).click();
    await page.getByRole('option', { name: /^Big spenders who come back/ }).click();
    // (the switch's input is drawn over by its track: its label is what a user clicks)
    await form.getByText('A/B test', { exact: true }).click();
    expect(await form.getByRole('switch', { name: 'A/B test' }).isChecked()).toBe(true);
    const ab = form.getByRole('group', { name: 'A/B test' });
    // the single subject gives way to the two variants
    expect(await form.getByRole('textbox', { name: 'Subject', exact: true }).count()).toBe(0);
    await ab.getByLabel('Subject A').fill('Autumn at the hall');
    const save = form.getByRole('button', { name: 'Save draft' });
    expect(await save.isDisabled()).toBe(true); // subject B is missing
    await ab.getByLabel('Subject B').fill('Your seat is waiting');
    // the API takes 2–100 %: 1 is refused in the form
    await ab.getByLabel('Test groups (% of the audience)').fill('1');
    await ab.getByText('2–100').waitFor();
    expect(await save.isDisabled()).toBe(true);
    await ab.getByLabel('Test groups (% of the audience)').fill('60');
    await ab.getByLabel('Wait before picking the winner (hours)').fill('0');
    await ab.getByText('Click rate').click();
    await form.getByLabel(/^Content/).fill('<html><body><p>Hi {{ customer.first_name }}</p><a href="https://tickets.example.com/autumn">Autumn</a> '
      + '<a href="https://tickets.example.com/winter">Winter</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>');
    await save.click();
    const draft = page.getByRole('region', { name: 'Subject test' });
    await draft.getByText('A/B: 60% test, winner by Click rate after 0 h', { exact: false }).waitFor();
    const stored = await ctx.db.one<{ id: string; subject: string; ab_test: unknown }>(sql`
      SELECT id, subject, ab_test FROM campaigns WHERE tenant_id = ${tenantId} AND name = 'Subject test'`);
    expect(stored).toMatchObject({
      subject: 'Autumn at the hall',
      ab_test: { subjects: ['Autumn at the hall', 'Your seat is waiting'], split_percent: 60, metric: 'click', wait_hours: 0 },
    });
    const id = stored!.id;
    await draft.getByRole('button', { name: 'Details' }).click();
    await draft.getByRole('button', { name: 'Send now' }).click();
    await draft.getByText('Sending', { exact: true }).waitFor();
    expect((await runCampaignSend({ db: ctx.db, config: ctx.config }, tenantId, id)).state).toBe('finished');

    // hit the tracking URLs of the messages in the outbox, as a mail client would
    const recipients: { variant: string | null; message_id: string | null; sent_at: string | null }[] = [];
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const res: { data: typeof recipients; next_cursor: string | null } = (await call('GET', `/campaigns/${id}/recipients?limit=500${cursor ? `&cursor=${cursor}` : ''}`)).json();
      recipients.push(...res.data);
      cursor = res.next_cursor;
    }
    // (customers without marketing consent have a suppressed message, with no content)
    const sentTo = (v: string) => recipients.filter((r) => r.variant === v && r.message_id && r.sent_at);
    const a = sentTo('a');
    const b = sentTo('b');
    expect(a.length).toBeGreaterThan(2);
    expect(b.length).toBeGreaterThan(1);
    const urls = async (messageId: string) => {
      const m = (await call('GET', `/messages/${messageId}`)).json();
      const html = String(m.html).replace(/&amp;/g, '&');
      const local = (u: string) => { const x = new URL(u); return x.pathname + x.search; };
      const clicks = [...html.matchAll(/href="([^"]+\/track\/click\/[^"]+)"/g)].map((x) => local(x[1]!));
      return { open: local(/src="([^"]+\/track\/open\/[^"]+)"/.exec(html)![1]!), autumn: clicks.find((u) => u.includes('autumn'))!, winter: clicks.find((u) => u.includes('winter'))! };
    };
    const hit = async (url: string) => expect((await ctx.app.inject({ method: 'GET', url })).statusCode).toBeLessThan(400);
    // variant a: three opens by two people, one click on autumn; variant b: one open, two clicks on winter by one person
    const a0 = await urls(a[0]!.message_id!);
    const a1 = await urls(a[1]!.message_id!);
    const b0 = await urls(b[0]!.message_id!);
    await hit(a0.open);
    await hit(a0.open);
    await hit(a1.open);
    await hit(a1.autumn);
    await hit(b0.open);
    await hit(b0.winter);
    await hit(b0.winter);

    const stats = (await call('GET', `/campaigns/${id}/stats`)).json();
    const va = stats.variants.find((v: { variant: string }) => v.variant === 'a');
    const vb = stats.variants.find((v: { variant: string }) => v.variant === 'b');
    expect(va).toMatchObject({ unique_opens: 2, unique_clicks: 1 });
    expect(vb).toMatchObject({ unique_opens: 1, unique_clicks: 1 });
    expect(stats.links).toEqual(expect.arrayContaining([
      { url: 'https://tickets.example.com/autumn', clicks: 1, unique_clicks: 1 },
      { url: 'https://tickets.example.com/winter', clicks: 2, unique_clicks: 1 },
    ]));
    const opens = stats.over_time.reduce((n: number, x: { opens: number }) => n + x.opens, 0);
    const clicks = stats.over_time.reduce((n: number, x: { clicks: number }) => n + x.clicks, 0);
    expect([opens, clicks]).toEqual([4, 3]);

    await page.goto(`${baseUrl}/admin/campaigns`);
    const card = page.getByRole('region', { name: 'Subject test' });
    await card.getByRole('button', { name: 'Details' }).click();
    const n = (x: number) => x.toLocaleString('en-GB');
    const variants = card.getByRole('table', { name: 'A/B variants' });
    const rowA = variants.getByRole('row').filter({ hasText: 'Autumn at the hall' });
    const rowB = variants.getByRole('row').filter({ hasText: 'Your seat is waiting' });
    await rowA.getByRole('cell').nth(2).getByText(n(va.sent), { exact: true }).waitFor();
    expect((await rowA.getByRole('cell').allTextContents()).slice(2, 5)).toEqual([n(va.sent), '2', '1']);
    expect((await rowB.getByRole('cell').allTextContents()).slice(2, 5)).toEqual([n(vb.sent), '1', '1']);
    const links = card.getByRole('table', { name: 'Links' });
    expect(await links.getByRole('row').filter({ hasText: 'https://tickets.example.com/autumn' }).getByRole('cell').allTextContents())
      .toEqual(['https://tickets.example.com/autumn', '1', '1']);
    expect(await links.getByRole('row').filter({ hasText: 'https://tickets.example.com/winter' }).getByRole('cell').allTextContents())
      .toEqual(['https://tickets.example.com/winter', '2', '1']);
    // the chart, and its figures for screen readers
    const overTime = card.getByRole('region', { name: 'Opens and clicks over time' });
    await overTime.locator('.recharts-surface').first().waitFor();
    const figures = overTime.getByRole('table', { name: 'Opens and clicks over time' });
    const cells = async (col: number) => (await figures.getByRole('row').all()).slice(1).map(async (r) => Number((await r.getByRole('cell').nth(col).textContent())!.replace(/\D/g, '')));
    expect((await Promise.all(await cells(2))).reduce((x, y) => x + y, 0)).toBe(4);
    expect((await Promise.all(await cells(3))).reduce((x, y) => x + y, 0)).toBe(3);
    await overTime.getByText('By day').click();
    await expect.poll(async () => figures.getByRole('row').count(), { timeout: 20_000 }).toBe(2);
    await screenshot('campaign-stats', 375);
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('enables a ready-made journey in one click', async () => {
    await page.getByRole('link', { name: 'Journeys' }).click();
    await page.getByRole('heading', { name: 'Journeys', level: 2 }).waitFor();
    const enable = page.getByRole('button', { name: 'Enable' }).first();
    const card = page.getByRole('region').filter({ has: enable }).first();
    const name = (await card.getAttribute('aria-label'))!;
    await enable.click();
    await page.getByRole('region', { name }).first().getByText('Enabled', { exact: true }).waitFor();
    const journey = page.getByRole('region', { name }).last();
    await journey.getByText(/in progress/).waitFor();
    expect(await journey.getByRole('switch', { name: 'Running' }).isChecked()).toBe(true);
    const row = await ctx.db.one<{ id: string; active: boolean }>(sql`SELECT id, active FROM workflows WHERE tenant_id = ${tenantId} AND name = ${name}`);
    expect(row).toMatchObject({ active: true });

    // Step editor: counts of in-progress enrollments per step (counted by the API over all
    // enrollments), then a step added and saved.
    const before = (await ctx.app.inject({ method: 'GET', url: `/api/crm/workflows/${row!.id}`, headers: apiHeaders })).json();
    const stats = (await ctx.app.inject({ method: 'GET', url: `/api/crm/workflows/${row!.id}/stats`, headers: apiHeaders })).json();
    const enrolled = (await ctx.app.inject({ method: 'GET', url: `/api/crm/workflows/${row!.id}/enrollments?status=active&limit=500`, headers: apiHeaders })).json();
    const firstStep = before.steps[0].id as string;
    const atFirst = stats.steps[0].active as number;
    expect(stats.steps[0].step_id).toBe(firstStep);
    // with fewer than a page of enrollments, the aggregate agrees with counting the list
    expect(atFirst).toBe(enrolled.data.filter((e: { current_step_id: string | null }) => e.current_step_id === firstStep).length);
    await journey.getByRole('button', { name: 'Steps and counts' }).click();
    const editor = journey.getByRole('list', { name: 'Step editor' });
    await editor.getByRole('listitem').first().getByText(`${atFirst.toLocaleString('en-GB')} here now`).waitFor();
    await journey.getByRole('button', { name: 'Add step' }).click();
    const n = before.steps.length + 1;
    const added = editor.getByRole('listitem').nth(n - 1);
    await added.getByRole('textbox', { name: `Step ${n}: type` }).click();
    await page.getByRole('option', { name: 'Add tag', exact: true }).click();
    await added.getByLabel(`Step ${n}: tag`).fill('journey-ui');
    await journey.getByRole('button', { name: 'Save steps' }).click();
    await journey.getByRole('status').getByText('Steps saved.').waitFor();
    const after = (await ctx.app.inject({ method: 'GET', url: `/api/crm/workflows/${row!.id}`, headers: apiHeaders })).json();
    expect(after.steps).toHaveLength(n);
    expect(after.steps.at(-1)).toMatchObject({ type: 'add_tag', config: { tag: 'journey-ui' } });
    expect(after.steps.at(-2).next).toBe(after.steps.at(-1).id);
    await screenshot('journey', 375);
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    await screenshot('journey', 1280);
  });

  it('edits a journey trigger, builds a nested condition with the segment rule builder and sets action steps with their own inputs', async () => {
    const club = await ctx.app.inject({ method: 'POST', url: '/api/crm/segments', headers: apiHeaders, payload: { name: 'Front row club', type: 'static' } });
    expect(club.statusCode, club.body).toBe(201);
    const created = await ctx.app.inject({
      method: 'POST', url: '/api/crm/workflows', headers: apiHeaders,
      payload: { name: 'Lapsed big spenders', trigger_type: 'signup', steps: [{ id: 'tag', type: 'add_tag', config: { tag: 'lapsed' } }] },
    });
    expect(created.statusCode, created.body).toBe(201);
    const wf = created.json();
    const read = async () => (await ctx.app.inject({ method: 'GET', url: `/api/crm/workflows/${wf.id}`, headers: apiHeaders })).json();
    // created through the API: a fresh page load shows it (lists are cached for a while)
    await page.goto(`${baseUrl}/admin/journeys`);
    const journey = page.getByRole('region', { name: 'Lapsed big spenders' });
    await journey.getByText('Trigger: Sign-up').waitFor();
    await journey.getByRole('button', { name: 'Steps and counts' }).click();

    // the trigger: inactivity after 120 days, then "enters a segment" with a segment picked by name
    const trigger = journey.getByRole('form', { name: 'Trigger' });
    await trigger.getByRole('textbox', { name: 'Starts on' }).click();
    await page.getByRole('option', { name: 'Inactivity', exact: true }).click();
    await trigger.getByLabel('Days without a purchase').fill('120');
    await trigger.getByRole('button', { name: 'Save trigger' }).click();
    await trigger.getByRole('status').getByText('Trigger saved.').waitFor();
    expect(await read()).toMatchObject({ trigger_type: 'inactivity', trigger_config: { days: 120 } });
    await journey.getByText('Trigger: Inactivity').waitFor();

    const segment = await ctx.db.one<{ id: string }>(sql`SELECT id FROM segments WHERE tenant_id = ${tenantId} AND name = 'Big spenders who come back'`);
    await trigger.getByRole('textbox', { name: 'Starts on' }).click();
    await page.getByRole('option', { name: 'Enters a segment', exact: true }).click();
    expect(await trigger.getByRole('button', { name: 'Save trigger' }).isDisabled()).toBe(true);
    await trigger.getByRole('textbox', { name: 'Segment' }).click();
    await page.getByRole('option', { name: 'Big spenders who come back' }).click();
    await trigger.getByRole('button', { name: 'Save trigger' }).click();
    await trigger.getByRole('status').getByText('Trigger saved.').waitFor();
    expect(await read()).toMatchObject({ trigger_type: 'segment_entered', trigger_config: { segment_id: segment!.id } });

    // a condition step: total_spend >= 250 AND (events_attended >= 3 OR city = Cluj-Napoca)
    const editor = journey.getByRole('list', { name: 'Step editor' });
    await journey.getByRole('button', { name: 'Add step' }).click();
    const step = editor.getByRole('listitem').nth(1);
    await step.getByRole('textbox', { name: 'Step 2: type' }).click();
    await page.getByRole('option', { name: 'Condition (yes/no)', exact: true }).click();
    const rule = step.getByRole('group', { name: 'Step 2: condition' });
    const root = rule.getByRole('group', { name: 'Group, level 1' });
    const first = root.getByRole('group', { name: 'Condition' }).first();
    await first.getByLabel('Operator', { exact: true }).click();
    await page.getByRole('option', { name: 'at least', exact: true }).click();
    await first.getByLabel('Value', { exact: true }).fill('250');
    // an incomplete rule cannot be saved
    await root.getByRole('button', { name: 'Add group' }).first().click();
    const nested = rule.getByRole('group', { name: 'Group, level 2' });
    const n1 = nested.getByRole('group', { name: 'Condition' }).first();
    await n1.getByLabel('Field', { exact: true }).click();
    await page.getByRole('option', { name: 'Events attended' }).click();
    await journey.getByText('Complete the condition first').waitFor();
    expect(await journey.getByRole('button', { name: 'Save steps' }).isDisabled()).toBe(true);
    await n1.getByLabel('Operator', { exact: true }).click();
    await page.getByRole('option', { name: 'at least', exact: true }).click();
    await n1.getByLabel('Value', { exact: true }).fill('3');
    await nested.getByRole('button', { name: 'Add condition' }).click();
    const n2 = nested.getByRole('group', { name: 'Condition' }).nth(1);
    await n2.getByLabel('Field', { exact: true }).click();
    await page.getByRole('option', { name: 'City', exact: true }).click();
    await n2.getByLabel('Operator', { exact: true }).click();
    await page.getByRole('option', { name: 'is', exact: true }).click();
    await n2.getByLabel('Value', { exact: true }).fill('Cluj-Napoca');
    await journey.getByRole('button', { name: 'Save steps' }).click();
    await journey.getByRole('status').getByText('Steps saved.').waitFor();

    const saved = await read();
    expect(saved.steps).toHaveLength(2);
    expect(saved.steps[0]).toMatchObject({ id: 'tag', next: saved.steps[1].id });
    expect(saved.steps[1]).toMatchObject({ type: 'condition', yes: null, no: null });
    expect(saved.steps[1].config.rules).toEqual({
      operator: 'and',
      conditions: [
        { field: 'total_spend', operator: '>=', value: 250 },
        { operator: 'or', conditions: [{ field: 'events_attended', operator: '>=', value: 3 }, { field: 'city', operator: '=', value: 'Cluj-Napoca' }] },
      ],
    });
    // the trigger saved earlier is kept by the steps' save
    expect(saved).toMatchObject({ trigger_type: 'segment_entered', trigger_config: { segment_id: segment!.id } });

    // action steps with their own inputs, checked as the API checks them: update a field, add to a
    // static segment (dynamic ones are not offered), call a webhook
    const typeOf = async (n: number, type: string) => {
      await journey.getByRole('button', { name: 'Add step' }).click();
      await editor.getByRole('listitem').nth(n - 1).getByRole('textbox', { name: `Step ${n}: type` }).click();
      await page.getByRole('option', { name: type, exact: true }).click();
      return editor.getByRole('listitem').nth(n - 1);
    };
    const s3 = await typeOf(3, 'Update field');
    await s3.getByRole('textbox', { name: 'Step 3: field' }).click();
    await page.getByRole('option', { name: 'Status', exact: true }).click();
    await s3.getByRole('textbox', { name: 'Step 3: new value' }).click();
    await page.getByRole('option', { name: 'Inactive', exact: true }).click();
    const s4 = await typeOf(4, 'Add to segment');
    await journey.getByText('Complete the highlighted step settings first.').waitFor();
    expect(await journey.getByRole('button', { name: 'Save steps' }).isDisabled()).toBe(true);
    await s4.getByRole('textbox', { name: 'Step 4: static segment' }).click();
    expect(await page.getByRole('option', { name: 'Big spenders who come back' }).count()).toBe(0);
    await page.getByRole('option', { name: 'Front row club', exact: true }).click();
    const s5 = await typeOf(5, 'Webhook');
    expect(await s5.getByLabel('Step 5: method').inputValue()).toBe('POST');
    await s5.getByLabel('Step 5: URL').fill('ftp://hooks.example.com/crm');
    await s5.getByText('An absolute http or https URL without a user name or password').waitFor();
    expect(await journey.getByRole('button', { name: 'Save steps' }).isDisabled()).toBe(true);
    await s5.getByLabel('Step 5: URL').fill('https://hooks.example.com/crm');
    await s5.getByLabel('Step 5: extra payload (JSON, optional)').fill('{"source": "crm"');
    await s5.getByText('Not valid JSON (an object is expected)').waitFor();
    await s5.getByLabel('Step 5: extra payload (JSON, optional)').fill('{"source": "crm"}');
    // the condition's yes branch leads to the new steps
    await step.getByRole('textbox', { name: 'Step 2: if yes, go to' }).click();
    await page.getByRole('option', { name: 'step_3 (update_field)', exact: true }).click();
    await journey.getByRole('button', { name: 'Save steps' }).click();
    await journey.getByRole('status').getByText('Steps saved.').waitFor();
    const withActions = await read();
    expect(withActions.steps[1]).toMatchObject({ type: 'condition', yes: 'step_3', no: null });
    const actions = withActions.steps.slice(2);
    expect(actions).toMatchObject([
      { type: 'update_field', config: { field: 'status', value: 'inactive' } },
      { type: 'add_to_segment', config: { segment_id: club.json().id } },
      { type: 'webhook', config: { url: 'https://hooks.example.com/crm', payload: { source: 'crm' } } },
    ]);
    await screenshot('journey-condition', 375);
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('merges a duplicate from the profile, keeping the e-mail chosen per field', async () => {
    // Two records of one person: e-mails that differ only by a +tag are the same mailbox.
    const create = (payload: object) => ctx.app.inject({ method: 'POST', url: '/api/crm/customers', headers: apiHeaders, payload });
    const a = (await create({ first_name: 'Ioana', last_name: 'Duplicat', email: 'ioana.duplicat@gmail.com', city: 'Iași' })).json();
    const b = (await create({ first_name: 'Ioana', last_name: 'Duplicat', email: 'ioana.duplicat+bilete@gmail.com', city: 'Iași' })).json();
    const scan = await ctx.app.inject({ method: 'POST', url: '/api/crm/duplicates/scan', headers: apiHeaders });
    expect(scan.statusCode).toBe(202);
    const pairOf = async () =>
      (await ctx.app.inject({ url: `/api/crm/duplicates?status=open&customer_id=${a.id}`, headers: apiHeaders })).json().data[0] as
        | { customers: { id: string; email: string | null }[] }
        | undefined;
    await expect.poll(pairOf, { timeout: 40_000 }).toBeDefined();
    const pair = (await pairOf())!;
    expect(pair.customers.map((c) => c.id).sort()).toEqual([a.id, b.id].sort());

    await page.goto(`${baseUrl}/admin/customers/${a.id}`);
    await page.getByRole('tab', { name: 'Duplicates' }).click();
    const card = page.getByRole('region', { name: 'Duplicate: Ioana Duplicat' });
    await card.getByRole('radio', { name: 'Keep the value of Duplicate for E-mail' }).check();
    await card.getByRole('button', { name: 'Merge into this profile' }).click();
    await page.getByText(/^Merged: \d+ records moved to this profile$/).waitFor();
    const rows = await ctx.db.rows<{ id: string; email: string | null; merged_into: string | null }>(sql`
      SELECT id, email, merged_into FROM customers WHERE tenant_id = ${tenantId} AND id IN (${a.id}::uuid, ${b.id}::uuid)`);
    expect(rows.find((r) => r.id === b.id)!.merged_into).toBe(a.id);
    expect(rows.find((r) => r.id === a.id)!.email).toBe('ioana.duplicat+bilete@gmail.com');
  });

  it('erases a customer after confirmation (admin)', async () => {
    const victim = await ctx.db.one<{ id: string; email: string }>(sql`
      SELECT id, email FROM customers WHERE tenant_id = ${tenantId} AND email IS NOT NULL AND merged_into IS NULL AND last_name <> 'Duplicat'
      ORDER BY created_at DESC, id LIMIT 1`);
    // a deep link: the server answers the app shell for any /admin path
    await page.goto(`${baseUrl}/admin/customers/${victim!.id}`);
    await page.getByRole('heading', { level: 2 }).first().waitFor();
    await page.getByRole('button', { name: 'Erase customer' }).click();
    const dialog = page.getByRole('dialog', { name: 'Erase this customer for good?' });
    const confirm = dialog.getByRole('button', { name: 'Erase customer' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByLabel('Reason (no personal data)').fill('GDPR art. 17 request');
    await dialog.getByLabel('I understand this cannot be undone').check();
    await confirm.click();
    await page.getByRole('heading', { name: 'Customers', level: 2 }).waitFor();
    const row = await ctx.db.one<{ email: string | null; erased_at: Date | null }>(sql`
      SELECT email, erased_at FROM customers WHERE tenant_id = ${tenantId} AND id = ${victim!.id}::uuid`);
    expect(row).toMatchObject({ email: null });
    expect(row!.erased_at).toBeInstanceOf(Date);

    // the erasure is in the audit log, found with its filters
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log', level: 2 }).waitFor();
    await page.getByLabel('Entity id').fill(victim!.id);
    await page.getByLabel(/^Action/).fill('customer.erase');
    const log = page.getByRole('table', { name: 'Audit log' });
    await expect.poll(() => log.getByRole('row').count(), { timeout: 20_000 }).toBe(2);
    await log.getByRole('row').nth(1).getByRole('cell', { name: 'customer.erase', exact: true }).waitFor();
    await log.getByRole('row').nth(1).getByText(victim!.id).waitFor();
  });

  it('switches to Romanian and shows translated text', async () => {
    await page.getByRole('banner').getByText('RO', { exact: true }).click();
    await page.getByRole('link', { name: 'Clienți' }).waitFor();
    await page.getByRole('link', { name: 'Panou de bord' }).click();
    await page.getByRole('heading', { name: 'Panou de bord', level: 2 }).waitFor();
    await page.getByRole('region', { name: 'Rata de abandon' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('ro');
    // money in the tenant's currency, written the Romanian way (1.234,56 RON)
    const revenue: number = (await ctx.app.inject({ url: '/api/crm/stats', headers: apiHeaders })).json().orders.revenue;
    expect(revenue).toBeGreaterThan(1000);
    const ron = await page.evaluate((n) => new Intl.NumberFormat('ro-RO', { style: 'currency', currency: 'RON' }).format(n), revenue);
    expect(ron).toMatch(/^\d{1,3}(\.\d{3})+,\d{2}\sRON$/);
    await page.getByRole('region', { name: 'Venituri', exact: true }).getByText(ron, { exact: true }).waitFor();
    // the choice survives a reload
    await page.reload();
    await page.getByRole('heading', { name: 'Panou de bord', level: 2 }).waitFor();
    await page.getByRole('banner').getByText('EN', { exact: true }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 2 }).waitFor();
  });

  it('works from the keyboard: skip link, search, open a profile, switch tabs', async () => {
    const target = await ctx.db.one<{ id: string; email: string }>(sql`
      SELECT id, email FROM customers WHERE tenant_id = ${tenantId} AND email IS NOT NULL AND erased_at IS NULL AND merged_into IS NULL
      ORDER BY total_spend DESC LIMIT 1`);
    const isFocused = (l: ReturnType<Page['locator']>) => l.evaluate((el) => el === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement);
    await page.goto(`${baseUrl}/admin/customers`);
    await page.getByRole('heading', { name: 'Customers', level: 2 }).waitFor();
    await page.keyboard.press('Tab');
    const skip = page.getByRole('link', { name: 'Skip to content' });
    expect(await isFocused(skip)).toBe(true);
    await page.keyboard.press('Enter');
    expect(await isFocused(page.locator('#main'))).toBe(true);
    await page.keyboard.press('Tab');
    expect(await isFocused(page.getByLabel('Search customers'))).toBe(true);
    await page.keyboard.type(target!.email);
    const table = page.getByRole('table', { name: 'Customers' });
    await expect.poll(() => table.getByRole('row').count(), { timeout: 20_000 }).toBe(2);
    // Tab on to the customer's link (past the sort, filter and column controls and the checkboxes)
    const link = table.getByRole('row').nth(1).getByRole('link');
    for (let i = 0; i < 15 && !(await isFocused(link)); i++) await page.keyboard.press('Tab');
    expect(await isFocused(link)).toBe(true);
    await page.keyboard.press('Enter');
    const timeline = page.getByRole('tab', { name: 'Timeline' });
    await timeline.waitFor();
    expect(page.url()).toContain(`/admin/customers/${target!.id}`);
    await timeline.focus();
    await page.keyboard.press('ArrowRight');
    const orders = page.getByRole('tab', { name: 'Orders & tickets' });
    expect(await isFocused(orders)).toBe(true);
    await page.keyboard.press('Enter');
    expect(await orders.getAttribute('aria-selected')).toBe('true');
  });

  it('passes the axe-core WCAG 2 A/AA checks (contrast, labels, roles) on the main pages', async () => {
    const someone = await ctx.db.one<{ id: string }>(sql`
      SELECT id FROM customers WHERE tenant_id = ${tenantId} AND erased_at IS NULL AND merged_into IS NULL ORDER BY total_spend DESC LIMIT 1`);
    const found: Record<string, string[]> = {};
    const check = async (name: string) => { found[name] = await axeViolations(); };
    const nav = page.getByRole('navigation');

    await page.goto(`${baseUrl}/admin/`);
    // signed in by the first scenario; this one also runs alone (`-t axe-core`)
    const signIn = page.getByRole('button', { name: 'Sign in' });
    await Promise.race([signIn.waitFor(), page.getByRole('heading', { name: 'Dashboard', level: 2 }).waitFor()]);
    if (await signIn.isVisible()) {
      await page.getByLabel('E-mail').fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await signIn.click();
    }
    await page.getByRole('heading', { name: 'Dashboard', level: 2 }).waitFor();
    await page.getByRole('table', { name: 'Cohort retention' }).waitFor();
    await page.locator('.recharts-surface').first().waitFor();
    await expect.poll(() => page.getByText('Loading…').count(), { timeout: 20_000 }).toBe(0);
    await check('dashboard');

    await nav.getByRole('link', { name: 'Customers', exact: true }).click();
    await page.getByRole('heading', { name: 'Customers', level: 2 }).waitFor();
    await page.getByRole('table', { name: 'Customers' }).getByRole('row').nth(1).waitFor();
    await check('customers');

    await page.goto(`${baseUrl}/admin/customers/${someone!.id}`);
    await page.getByRole('tab', { name: 'Timeline' }).waitFor();
    await page.getByText('Total spend').first().waitFor();
    await expect.poll(() => page.getByText('Loading…').count(), { timeout: 20_000 }).toBe(0);
    await check('customer profile');

    await nav.getByRole('link', { name: 'Segments', exact: true }).click();
    await page.getByRole('link', { name: 'New segment' }).click();
    await page.getByLabel('Segment name').waitFor();
    await page.getByRole('group', { name: 'Group, level 1' }).getByRole('group', { name: 'Condition' }).first().waitFor();
    await check('segment builder');

    await nav.getByRole('link', { name: 'Campaigns', exact: true }).click();
    await page.getByRole('heading', { name: 'Campaigns', level: 2 }).waitFor();
    await expect.poll(() => page.getByText('Loading…').count(), { timeout: 20_000 }).toBe(0);
    await check('campaigns');

    await nav.getByRole('link', { name: 'Journeys', exact: true }).click();
    await page.getByRole('heading', { name: 'Journeys', level: 2 }).waitFor();
    await page.getByRole('region').first().waitFor();
    await expect.poll(() => page.getByText('Loading…').count(), { timeout: 20_000 }).toBe(0);
    await check('journeys');

    expect(Object.keys(found)).toHaveLength(6);
    // one readable list per page: rule id (impact): element — what fails
    expect(found).toEqual({ dashboard: [], customers: [], 'customer profile': [], 'segment builder': [], campaigns: [], journeys: [] });
  });

  it('shows a viewer no create, edit or delete controls', async () => {
    const viewer = `viewer-${randomUUID().slice(0, 8)}@example.com`;
    // the admin creates the viewer's account in Settings → Users
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings', level: 2 }).waitFor();
    await page.getByRole('tab', { name: 'Users' }).click();
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('E-mail').fill(viewer);
    await form.getByLabel('Password (at least 8 characters)').fill(PASSWORD);
    await form.getByLabel('Role', { exact: true }).click();
    await page.getByRole('option', { name: 'Viewer' }).click();
    await form.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('table', { name: 'Users' }).getByRole('cell', { name: viewer, exact: true }).waitFor();
    const stored = await ctx.db.one<{ role: string }>(sql`SELECT role FROM users WHERE tenant_id = ${tenantId} AND email = ${viewer}`);
    expect(stored).toEqual({ role: 'viewer' });
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 2 }).waitFor();

    await page.getByRole('button', { name: 'User menu' }).click();
    await page.getByRole('menuitem', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.getByLabel('E-mail').fill(viewer);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 2 }).waitFor();

    await page.getByRole('link', { name: 'Segments' }).click();
    await page.getByRole('heading', { name: 'Segments', level: 2 }).waitFor();
    await page.getByRole('link', { name: 'Big spenders who come back' }).waitFor();
    expect(await page.getByRole('link', { name: 'New segment' }).count()).toBe(0);

    const someone = await ctx.db.one<{ id: string }>(sql`
      SELECT id FROM customers WHERE tenant_id = ${tenantId} AND erased_at IS NULL ORDER BY total_spend DESC LIMIT 1`);
    await page.goto(`${baseUrl}/admin/customers/${someone!.id}`);
    await page.getByRole('tab', { name: 'Interactions' }).click();
    await page.getByRole('tabpanel').getByText(/Backstage tour|No interactions logged yet/).first().waitFor();
    expect(await page.getByRole('form', { name: 'Log an interaction' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Erase customer' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Export data (GDPR)' }).count()).toBe(0);
  });

  it('shows an employee create and edit controls but no delete', async () => {
    const employee = `employee-${randomUUID().slice(0, 8)}@example.com`;
    await createUser(ctx.db, { tenantId, email: employee, password: PASSWORD, role: 'employee', name: 'Emil Employee' });
    await page.goto(`${baseUrl}/admin/`);
    await page.getByRole('button', { name: 'User menu' }).click();
    await page.getByRole('menuitem', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.getByLabel('E-mail').fill(employee);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard', level: 2 }).waitFor();

    const someone = await ctx.db.one<{ id: string }>(sql`
      SELECT id FROM customers WHERE tenant_id = ${tenantId} AND erased_at IS NULL AND merged_into IS NULL ORDER BY total_spend DESC LIMIT 1`);
    await page.goto(`${baseUrl}/admin/customers/${someone!.id}`);
    await page.getByRole('button', { name: 'Export data (GDPR)' }).waitFor();
    expect(await page.getByRole('button', { name: 'Erase customer' }).count()).toBe(0);
    await page.getByRole('tab', { name: 'Interactions' }).click();
    await page.getByRole('form', { name: 'Log an interaction' }).waitFor();
    await page.getByRole('link', { name: 'Segments' }).click();
    await page.getByRole('link', { name: 'New segment' }).waitFor();
    // the audit log is for administrators: not in the navigation; API keys are managed by them only
    expect(await page.getByRole('navigation').getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('tab', { name: 'API keys' }).click();
    await page.getByText('Only administrators can manage this.').first().waitFor();
    expect(await page.getByRole('button', { name: /Revoke/ }).count()).toBe(0);
  });
});
