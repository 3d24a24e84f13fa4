import { simpleParser, type ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { describe, expect, it } from 'vitest';
import { simpleSender, writeSimpleEmail, type SimpleEmail } from './messaging.mime.js';

const TRACKED = 'https://crm.example.com/api/crm/track/click/AQHxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxx?u=https://tickets.example.com/show/1?utm_source=crm';

const campaignLike: SimpleEmail = {
  from: 'Encore <news@encore.example>',
  to: 'r1@bench.example',
  subject: 'Stagiunea nouă, Ana — 🎉 and a subject long enough to be folded over more than one header line',
  html: `<html><body><p>Salut Ană!</p>\n<a href="${TRACKED}">Cumpără bilete</a>   \n.a line that starts with a dot\n\tends in a tab\t\n</body></html>`,
  text: `Salut Ană!\n.dot\nCumpără bilete [${TRACKED}]  \r\nend`,
  messageId: '<0b6f1c1e-2f0a-4a8e-9d7e-7a1c4a2f9b11@encore.example>',
  headers: {
    'List-Unsubscribe': '<https://crm.example.com/api/crm/track/unsubscribe/AQHxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxx>, <mailto:u@encore.example?subject=unsubscribe-1>',
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    'X-Campaign-Id': '6c1d2e3f-0000-4000-8000-000000000001',
  },
};

const view = (p: ParsedMail) => ({
  subject: p.subject, from: p.from?.text, to: Array.isArray(p.to) ? p.to.map((a) => a.text) : p.to?.text, messageId: p.messageId,
  html: p.html, text: p.text, listUnsubscribe: p.headers.get('list-unsubscribe'), listUnsubscribePost: p.headers.get('list-unsubscribe-post'),
  campaign: p.headers.get('x-campaign-id'), mime: p.headers.get('mime-version'),
});

/** What nodemailer's own composer makes of the same fields, as a reader sees it. */
async function composed(m: SimpleEmail) {
  return view(await simpleParser(await new MailComposer({ ...m, html: m.html ?? undefined }).compile().build()));
}

describe('writeSimpleEmail', () => {
  it.each([
    ['a campaign-like message (non-ASCII, long lines, dots, trailing blanks)', campaignLike],
    ['a text-only message', { ...campaignLike, html: null, subject: 'Plain', text: 'short\nascii' }],
    ['an ASCII message with short lines (7bit)', { ...campaignLike, from: 'news@encore.example', subject: 'Hi', html: '<b>hi</b>', text: 'hi', headers: {} }],
  ])('reads back the same as nodemailer’s composer: %s', async (_name, m) => {
    const raw = writeSimpleEmail(m)!;
    expect(raw).not.toBeNull();
    expect(view(await simpleParser(raw))).toEqual(await composed(m));
    // CRLF line ends only, and every line within SMTP's limit
    expect(/(^|[^\r])\n/.test(raw)).toBe(false);
    expect(Math.max(...raw.split('\r\n').map((l) => l.length))).toBeLessThanOrEqual(998);
  });

  it('encodes the bodies: 7bit only for short ASCII lines, otherwise quoted-printable', () => {
    const raw = writeSimpleEmail(campaignLike)!;
    expect(raw.match(/Content-Transfer-Encoding: quoted-printable/g)).toHaveLength(2);
    expect(raw).toContain('Salut An=C4=83!');
    expect(writeSimpleEmail({ ...campaignLike, html: null, text: 'ascii only' })).toContain('Content-Transfer-Encoding: 7bit\r\n\r\nascii only');
  });

  it('leaves anything but the simple case to the composer (null)', () => {
    expect(writeSimpleEmail({ ...campaignLike, from: '"Encore, Inc." <news@encore.example>' })).toBeNull();
    expect(writeSimpleEmail({ ...campaignLike, from: 'Operă <news@encore.example>' })).toBeNull();
    expect(writeSimpleEmail({ ...campaignLike, to: 'ană@example.ro' })).toBeNull();
    expect(writeSimpleEmail({ ...campaignLike, to: 'a@b.example, c@d.example' })).toBeNull();
    expect(writeSimpleEmail({ ...campaignLike, headers: { 'X-Note': 'line\r\nBcc: x@evil.example' } })).toBeNull();
    expect(writeSimpleEmail({ ...campaignLike, headers: { 'X-Note': 'ă' } })).toBeNull();
    expect(writeSimpleEmail({ ...campaignLike, headers: { Subject: 'twice' } })).toBeNull();
    expect(writeSimpleEmail({ ...campaignLike, headers: { 'Bad Key': 'x' } })).toBeNull();
  });

  it('a subject cannot add header lines', async () => {
    const raw = writeSimpleEmail({ ...campaignLike, subject: 'Hi\r\nBcc: x@evil.example' })!;
    const parsed = await simpleParser(raw);
    expect(parsed.bcc).toBeUndefined();
    expect(parsed.subject).toBe('Hi Bcc: x@evil.example');
  });

  it('answers the envelope sender of a From it can take', () => {
    expect(simpleSender('Encore <news@encore.example>')).toBe('news@encore.example');
    expect(simpleSender('news@encore.example')).toBe('news@encore.example');
    expect(simpleSender('"Encore, Inc." <news@encore.example>')).toBeNull();
  });
});
