import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PUBLISHED_EVENT_TYPES, TEST_EVENT_TYPE } from './outbox.events.js';

// Subscribers build against the README: every event the CRM publishes must be described there,
// with a row in the table and a JSON example.
const readme = fs.readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('### Published events'), readme.indexOf('### Publishing a new event'));
const examples = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);

describe('README: published events', () => {
  it.each([...PUBLISHED_EVENT_TYPES, TEST_EVENT_TYPE])('documents %s with a table row and a payload example', (type) => {
    expect(section).toContain(`| \`${type}\` |`);
    expect(examples.some((e) => e.includes(`"type": "${type}"`) && e.includes('"data"'))).toBe(true);
  });
});
