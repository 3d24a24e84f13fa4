import { Liquid } from 'liquidjs';
import { describe, expect, it } from 'vitest';
import { compileTemplate, renderCompiled } from './templates.engine.js';

// The engine renders literal text with plain `{{ a.b }}` outputs without the Liquid interpreter
// (a campaign renders one template per recipient); whatever it does must equal Liquid's output.
const reference = {
  html: new Liquid({ outputEscape: 'escape', ownPropertyOnly: true, strictFilters: true }),
  text: new Liquid({ ownPropertyOnly: true, strictFilters: true }),
};

const BODIES = [
  // only literal text and plain outputs (the fast form)
  '<p>Salut {{ customer.first_name }}!</p> {{- metrics.events_attended }}|{{ customer.missing.deeper }}|{{ customer.score }}|{{ customer.vip }}' +
    '|{{ customer.none.x }}|{{ constructor }}|{{ customer.constructor }}|{{ toString }}|{{customer.first_name}} -}} !',
  // values the fast form leaves to Liquid: objects, arrays, dates, functions
  '{{ customer.obj }}|{{ customer.list }}|{{ customer.when }}|{{ customer.fn }}',
  // filters, tags, size/first/last, brackets: Liquid itself
  '{{ customer.tags.size }} {{ customer.tags.first }} {{ customer.first_name | upcase }} {% if customer.vip %}VIP{% endif %} {{ customer["first_name"] }}',
  'no Liquid at all & <b>bold</b>',
];

const CONTEXTS: Record<string, unknown>[] = [
  {
    customer: {
      first_name: `Ana <&> "O'Neil"`, score: 3.5, vip: true, none: null, obj: { a: 1 }, list: ['x', 2, null], when: new Date(0),
      fn: () => 'called', tags: ['rock', 'jazz'],
    },
    metrics: { events_attended: 0 },
  },
  { customer: { first_name: null, score: -0, vip: false, tags: [] }, metrics: Object.create(null) },
  { customer: 'a string', metrics: 7 },
  {},
];

describe('template rendering', () => {
  it('renders exactly as Liquid does, fast form or not, in subject, HTML and text parts', async () => {
    for (const body of BODIES) {
      const tpl = await compileTemplate({ channel: 'email', subject: body, format: 'html', body: `<html><body>${body}</body></html>` });
      const textTpl = await compileTemplate({ channel: 'sms', format: 'text', body });
      for (const context of CONTEXTS) {
        const got = await renderCompiled(tpl, context);
        expect(got.subject).toBe((await reference.text.parseAndRender(body, context)).replace(/\s+/g, ' ').trim());
        expect(got.html).toBe(await reference.html.parseAndRender(`<html><body>${body}</body></html>`, context));
        expect((await renderCompiled(textTpl, context)).text).toBe((await reference.text.parseAndRender(body, context)).trim());
      }
    }
  });

  it('escapes personal data in HTML and leaves it as is in text', async () => {
    const tpl = await compileTemplate({ channel: 'email', subject: 'Hi {{ customer.first_name }}', format: 'html', body: '<p>{{ customer.first_name }}</p>' });
    const out = await renderCompiled(tpl, { customer: { first_name: '<script>"x" & \'y\'</script>' } });
    expect(out.subject).toBe('Hi <script>"x" & \'y\'</script>');
    expect(out.html).toBe('<p>&lt;script&gt;&#34;x&#34; &amp; &#39;y&#39;&lt;/script&gt;</p>');
  });
});
