import crypto from 'node:crypto';
import { encodeWords, foldLines } from 'nodemailer/lib/mime-funcs';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';
import type { OutgoingEmail } from './messaging.transport.js';

/**
 * The whole RFC 5322 text of a plain marketing e-mail (text + HTML alternatives, a few headers),
 * written in one string with nodemailer's own encoders (quoted-printable, encoded words, folding).
 *
 * Why: composing through nodemailer's MIME tree costs more CPU per message than everything else a
 * campaign does (a stream pipeline per part, header parsing and re-normalization, one socket
 * write per piece). Handed over as `raw`, the message leaves in one write. The output is what
 * nodemailer would write for the same fields, up to the boundary and the order of the headers.
 *
 * Only for the simple case: printable-ASCII addresses and header values (the subject may be
 * anything: it is encoded). Anything else answers null and goes through nodemailer's composer.
 */
export type SimpleEmail = Pick<OutgoingEmail, 'from' | 'to' | 'subject' | 'html' | 'text' | 'messageId'> & {
  headers?: Record<string, string>;
  date?: Date;
};

const ADDR = '[A-Za-z0-9.!#$%&\'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+';
const BARE_ADDRESS = new RegExp(`^${ADDR}$`);
// a display name of plain words (no quotes, commas or other specials), then <address>
const NAMED_ADDRESS = new RegExp(`^([A-Za-z0-9 ._-]*[A-Za-z0-9._-])\\s*<(${ADDR})>$`);
const HEADER_KEY = /^[A-Za-z0-9-]+$/;
const PRINTABLE = /^[\x20-\x7e]*$/;
// set by this writer; a custom header with one of these names goes the composer's way
const OWN_HEADERS = new Set(['from', 'to', 'subject', 'message-id', 'date', 'mime-version', 'content-type', 'content-transfer-encoding']);

/** The envelope sender of a From value this writer can take, or null. */
export function simpleSender(from: string): string | null {
  if (BARE_ADDRESS.test(from)) return from;
  const m = NAMED_ADDRESS.exec(from);
  return m ? m[2] : null;
}

function part(contentType: string, body: string): string {
  const crlf = body.replace(/\r?\n|\r/g, '\r\n');
  // 7bit when it already is (ASCII, short lines), as nodemailer decides
  if (/^[\t\r\n\x20-\x7e]*$/.test(crlf) && !/[^\r\n]{77}/.test(crlf)) {
    return `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${crlf}`;
  }
  return `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qpWrap(qpEncode(crlf), 76)}`;
}

/** The message as one string, or null when it is not a simple one (see above). */
export function writeSimpleEmail(m: SimpleEmail): string | null {
  return simpleEmail(m)?.raw ?? null;
}

/** The message as one string with its envelope sender, or null when it is not a simple one (see above). */
export function simpleEmail(m: SimpleEmail): { raw: string; sender: string } | null {
  const sender = simpleSender(m.from);
  if (!sender || !BARE_ADDRESS.test(m.to) || !PRINTABLE.test(m.messageId) || !/^<[^<>\s]+>$/.test(m.messageId)) return null;
  let head = '';
  for (const [key, value] of Object.entries(m.headers ?? {})) {
    if (!HEADER_KEY.test(key) || !PRINTABLE.test(value) || OWN_HEADERS.has(key.toLowerCase())) return null;
    head += `${foldLines(`${key}: ${value}`, 76)}\r\n`;
  }
  const subject = m.subject.replace(/[\r\n\t]+/g, ' ');
  head =
    `From: ${m.from}\r\nTo: ${m.to}\r\n${foldLines(`Subject: ${encodeWords(subject, 'Q', 52)}`, 76)}\r\n` +
    `Message-ID: ${m.messageId}\r\nDate: ${(m.date ?? new Date()).toUTCString().replace(/GMT/, '+0000')}\r\nMIME-Version: 1.0\r\n` + head;
  if (m.html === null) return { raw: `${head}${part('text/plain', m.text)}\r\n`, sender };
  const boundary = `--_Encore-${crypto.randomBytes(12).toString('hex')}`;
  const raw =
    `${head}Content-Type: multipart/alternative;\r\n boundary="${boundary}"\r\n\r\n` +
    `--${boundary}\r\n${part('text/plain', m.text)}\r\n` +
    `--${boundary}\r\n${part('text/html', m.html)}\r\n` +
    `--${boundary}--\r\n`;
  return { raw, sender };
}
