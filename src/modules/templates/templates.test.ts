import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError } from '../customers/customers.test-helpers.js';
import { renderTemplate } from './templates.service.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp({ PUBLIC_URL: 'https://crm.example.com' });
});
afterAll(async () => {
  await ctx.close();
});

const MJML = `<mjml>
  <mj-body>
    <mj-section><mj-column>
      <mj-text>Salut {{ customer.first_name }}! Ai cheltuit {{ metrics.total_spend }} lei.</mj-text>
      <mj-button href="https://tickets.example.com">Bilete</mj-button>
      <mj-text><a href="{{ unsubscribe_url }}">Dezabonare</a></mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>`;

describe('templates', () => {
  it('CRUD and preview for a customer (MJML → HTML, Liquid, text part)', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const cust = await api.create({ email: 'maria@example.com', first_name: 'Maria', consent: { marketing_email: true } });
    const created = await api.post('/templates', { name: 'Welcome', subject: 'Bun venit, {{ customer.first_name }}', preheader: 'Noutăți', body: MJML });
    expect(created.statusCode, created.body).toBe(201);
    const tpl = created.json();
    expect(tpl).toMatchObject({ name: 'Welcome', channel: 'email', format: 'mjml' });
    expect((await api.get(`/templates/${tpl.id}`)).json().body).toBe(MJML);
    expect((await api.get('/templates')).json().data.map((x: { id: string }) => x.id)).toEqual([tpl.id]);

    const preview = await api.post(`/templates/${tpl.id}/preview`, { customer_id: cust.id });
    expect(preview.statusCode, preview.body).toBe(200);
    const p = preview.json();
    expect(p.subject).toBe('Bun venit, Maria');
    expect(p.html).toContain('Salut Maria!');
    expect(p.html).toContain('https://crm.example.com/api/crm/track/unsubscribe/');
    expect(p.html).toContain('Noutăți');
    expect(p.text).toContain('Salut Maria! Ai cheltuit 0 lei.');
    expect(p.text).not.toContain('<');

    const put = await api.put(`/templates/${tpl.id}`, { name: 'Welcome 2', subject: 'Hi', format: 'html', body: '<p>{{ customer.first_name | upcase }}</p>' });
    expect(put.statusCode, put.body).toBe(200);
    expect((await api.post(`/templates/${tpl.id}/preview`, { customer_id: cust.id })).json().html).toContain('MARIA');
    expectError(await api.post('/templates', { name: 'welcome 2', subject: 'x', body: '<p>x</p>' }), 409, 'template_exists');

    const other = await createTestTenant(ctx.db);
    const foreign = client(ctx, other.headers);
    expectError(await foreign.get(`/templates/${tpl.id}`), 404, 'template_not_found');
    expectError(await foreign.post(`/templates/${tpl.id}/preview`, { customer_id: cust.id }), 404, 'template_not_found');
    const theirs = (await foreign.post('/templates', { name: 'T', subject: 'x', body: '<p>{{ customer.email }}</p>' })).json();
    expectError(await foreign.post(`/templates/${theirs.id}/preview`, { customer_id: cust.id }), 404, 'customer_not_found');
    expectError(await client(ctx, await t.keyFor('viewer')).post('/templates', { name: 'V', subject: 'x', body: '<p>x</p>' }), 403, 'forbidden');

    expect((await api.del(`/templates/${tpl.id}`)).statusCode).toBe(204);
    expectError(await api.get(`/templates/${tpl.id}`), 404, 'template_not_found');
  });

  it('previews a draft (unsaved subject and body) for a customer, checked like a save, within the tenant', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const cust = await api.create({ email: 'draft@example.com', first_name: 'Dana', consent: { marketing_email: true } });
    const mjml = await api.post('/templates/preview', { customer_id: cust.id, subject: 'Salut {{ customer.first_name }}', preheader: 'Noutăți', body: MJML });
    expect(mjml.statusCode, mjml.body).toBe(200);
    expect(mjml.json().subject).toBe('Salut Dana');
    expect(mjml.json().html).toContain('Salut Dana!');
    expect(mjml.json().html).toContain('https://crm.example.com/api/crm/track/unsubscribe/');
    expect(mjml.json().text).toContain('Salut Dana! Ai cheltuit 0 lei.');
    const html = await api.post('/templates/preview', { customer_id: cust.id, subject: 'x', format: 'html', body: '<p>{{ customer.first_name | upcase }}</p>' });
    expect(html.json()).toMatchObject({ subject: 'x', html: expect.stringContaining('<p>DANA</p>') });
    const sms = await api.post('/templates/preview', { customer_id: cust.id, channel: 'sms', body: 'Hi {{ customer.first_name }}' });
    expect(sms.json()).toMatchObject({ subject: null, html: null, text: 'Hi Dana' });
    // nothing was saved
    expect((await api.get('/templates')).json().data).toHaveLength(0);

    // the same checks and sandbox as a save
    const bad = await api.post('/templates/preview', { customer_id: cust.id, subject: 'x', body: '<p>ok</p>\n{{ customer.first_name | nosuchfilter }}' });
    expectError(bad, 400, 'template_invalid');
    expect(bad.json().error.details).toMatchObject({ field: 'body', line: 2 });
    expectError(await api.post('/templates/preview', { customer_id: cust.id, body: '<p>x</p>' }), 400, 'template_invalid');
    expectError(await api.post('/templates/preview', { customer_id: cust.id, channel: 'sms', format: 'mjml', body: '<mjml></mjml>' }), 400, 'template_invalid');
    const include = await api.post('/templates/preview', { customer_id: cust.id, subject: 'x', format: 'html', body: "{% include '/etc/passwd' %}" });
    expectError(include, 400, 'template_invalid');
    expect(include.body).not.toContain('root:');
    const runaway = await api.post('/templates/preview', { customer_id: cust.id, subject: 'x', format: 'html', body: '{% for i in (1..100000000) %}{{ i }}{% endfor %}' });
    expect([400, 422]).toContain(runaway.statusCode);
    expect(runaway.body.length).toBeLessThan(10_000);

    // another tenant's customer is not found; a viewer may not use it (as the saved-template preview)
    const other = await createTestTenant(ctx.db);
    expectError(await client(ctx, other.headers).post('/templates/preview', { customer_id: cust.id, subject: 'x', body: '<p>{{ customer.email }}</p>' }), 404, 'customer_not_found');
    expectError(await client(ctx, await t.keyFor('viewer')).post('/templates/preview', { customer_id: cust.id, subject: 'x', body: '<p>x</p>' }), 403, 'forbidden');
    expectError(await api.post('/templates/preview', { customer_id: cust.id, subject: 'x', body: '<p>x</p>', name: 'extra' }), 400, 'validation_failed');
  });

  it('reports syntax errors at save time with the line', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const liquid = await api.post('/templates', { name: 'Bad', subject: 'x', body: '<p>ok</p>\n<p>\n{{ customer.first_name | nosuchfilter }}</p>' });
    expectError(liquid, 400, 'template_invalid');
    expect(liquid.json().error.details).toMatchObject({ field: 'body', line: 3 });
    const unclosed = await api.post('/templates', { name: 'Bad', subject: 'x', body: 'a\n{% if x %}\nb' });
    expectError(unclosed, 400, 'template_invalid');
    expect(unclosed.json().error.details.line).toBe(2);
    const mjml = await api.post('/templates', { name: 'Bad', subject: 'x', body: '<mjml>\n<mj-body>\n<mj-section>\n<mj-bogus>x</mj-bogus>\n</mj-section></mj-body></mjml>' });
    expectError(mjml, 400, 'template_invalid');
    expect(mjml.json().error.details.line).toBe(4);
    const subject = await api.post('/templates', { name: 'Bad', subject: '{{ x', body: '<p>x</p>' });
    expectError(subject, 400, 'template_invalid');
    expect(subject.json().error.details.field).toBe('subject');
    expectError(await api.post('/templates', { name: 'NoSubject', body: '<p>x</p>' }), 400, 'template_invalid');
    expect((await api.get('/templates')).json().data).toHaveLength(0);
  });

  it('a template can neither read files nor run away', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    for (const body of [
      "{% include '/etc/passwd' %}",
      "{% render 'secrets' %}",
      "{% layout 'x' %}",
      '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>',
      '{% for i in (1..100000000) %}{{ i }}{% endfor %}',
      '{% for a in (1..10000) %}{% for b in (1..10000) %}x{% endfor %}{% endfor %}',
    ]) {
      const res = await api.post('/templates', { name: 'Evil', subject: 'x', format: body.startsWith('<mjml') ? 'mjml' : 'html', body });
      expectError(res, 400, 'template_invalid');
      expect(res.body).not.toContain('root:');
    }
    // own properties only: no prototype walking
    const r = await renderTemplate({ channel: 'email', subject: 's', format: 'html', body: '[{{ customer.constructor }}][{{ customer.__proto__ }}][{{ customer.first_name }}]' },
      { customer: { first_name: '<b>Ana</b>' } });
    expect(r.html).toBe('[][][&lt;b&gt;Ana&lt;/b&gt;]');
    expect((await api.get('/templates')).json().data).toHaveLength(0);
  });

  it('SMS templates are text; an MJML body for SMS is refused', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const ok = await api.post('/templates', { name: 'Sms', channel: 'sms', body: 'Salut {{ customer.first_name }}' });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json().format).toBe('text');
    expectError(await api.post('/templates', { name: 'Sms2', channel: 'sms', format: 'mjml', body: '<mjml></mjml>' }), 400, 'template_invalid');
  });
});
