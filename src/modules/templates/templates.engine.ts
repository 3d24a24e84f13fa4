import { Liquid, Tag, TokenKind, type Template, type TagToken, type TopLevelToken } from 'liquidjs';
import mjml2html from 'mjml';
import { convert } from 'html-to-text';
import { AppError } from '../../lib/errors.js';

/**
 * Template compilation and rendering. User-written templates are untrusted: LiquidJS has no file
 * system here (include/render/layout are refused at parse time), reads own properties only (no
 * `constructor`/`__proto__`), rejects unknown filters, and every render is bounded in time and
 * memory. MJML is compiled to HTML once per template with strict validation; Liquid tags pass
 * through MJML as text and are rendered per recipient, so a 100k send renders Liquid, not MJML.
 */

export type TemplateFormat = 'mjml' | 'html' | 'text';

export interface TemplateSource {
  channel: 'email' | 'sms';
  subject?: string | null;
  preheader?: string | null;
  format: TemplateFormat;
  body: string;
}

export interface CompiledTemplate {
  channel: 'email' | 'sms';
  subject: Template[] | null;
  preheader: Template[] | null;
  /** HTML (e-mail, mjml/html formats); null for text-only. */
  html: Template[] | null;
  /** Text part; for HTML a text template derived from the HTML once, else rendered per recipient. */
  text: Template[] | null;
  /** MJML → HTML output (with Liquid still in it); stored so previews and sends skip MJML. */
  compiledHtml: string | null;
}

export interface RenderedContent {
  subject: string | null;
  preheader: string | null;
  html: string | null;
  text: string;
}

const PARSE_LIMIT = 300_000;
const RENDER_LIMIT_MS = 2_000;
const MEMORY_LIMIT = 20_000_000;

const noFs = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async (): Promise<string> => {
    throw new Error('templates cannot read files');
  },
  readFileSync: (): string => {
    throw new Error('templates cannot read files');
  },
  resolve: (_dir: string, file: string) => file,
  contains: async () => false,
  sep: '/',
  dirname: () => '',
};

class ForbiddenTag extends Tag {
  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid) {
    super(token, remain, liquid);
    throw new Error(`{% ${token.name} %} is not allowed in templates`);
  }

  *render(): Generator<unknown, void, unknown> {}
}

function makeLiquid(escapeHtml: boolean): Liquid {
  const liquid = new Liquid({
    fs: noFs,
    root: [],
    partials: [],
    layouts: [],
    relativeReference: false,
    dynamicPartials: false,
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    parseLimit: PARSE_LIMIT,
    renderLimit: RENDER_LIMIT_MS,
    memoryLimit: MEMORY_LIMIT,
    cache: false,
    ...(escapeHtml ? { outputEscape: 'escape' as const } : {}),
  });
  for (const tag of ['include', 'render', 'layout']) liquid.registerTag(tag, ForbiddenTag);
  return liquid;
}

const htmlLiquid = makeLiquid(true);
const textLiquid = makeLiquid(false);

export function templateError(field: string, message: string, line?: number, column?: number): AppError {
  return new AppError('template_invalid', `${field}: ${message}${line ? ` (line ${line})` : ''}`, {
    field, message, ...(line ? { line } : {}), ...(column ? { column } : {}),
  });
}

function parseLiquid(liquid: Liquid, field: string, source: string): Template[] {
  try {
    return liquid.parse(source);
  } catch (err) {
    const e = err as Error & { token?: { getPosition?: () => [number, number] } };
    const [line, column] = e.token?.getPosition?.() ?? [undefined, undefined];
    throw templateError(field, e.message.replace(/, line:\d+, col:\d+$/, ''), line, column);
  }
}

const TO_TEXT = {
  wordwrap: false as const,
  selectors: [
    { selector: 'h1', options: { uppercase: false } },
    { selector: 'h2', options: { uppercase: false } },
    { selector: 'h3', options: { uppercase: false } },
    { selector: 'h4', options: { uppercase: false } },
    { selector: 'h5', options: { uppercase: false } },
    { selector: 'h6', options: { uppercase: false } },
    { selector: 'img', format: 'skip' },
  ],
};

export function htmlToText(html: string): string {
  return convert(html, TO_TEXT).trim();
}

async function mjmlToHtml(body: string): Promise<string> {
  if (/<mj-include\b/i.test(body)) {
    const line = body.slice(0, body.search(/<mj-include\b/i)).split('\n').length;
    throw templateError('body', '<mj-include> is not allowed in templates', line);
  }
  try {
    const out = await mjml2html(body, { validationLevel: 'strict', ignoreIncludes: true, keepComments: false, useMjmlConfigOptions: false });
    return out.html;
  } catch (err) {
    const e = err as { details?: { line?: number; message?: string }[]; errors?: { line?: number; message?: string }[] };
    const details = e.details ?? e.errors;
    if (Array.isArray(details) && details.length) {
      throw new AppError('template_invalid', `body: ${details[0].message}${details[0].line ? ` (line ${details[0].line})` : ''}`, {
        field: 'body', message: details[0].message, line: details[0].line,
        errors: details.map((d) => ({ line: d.line, message: d.message })),
      });
    }
    throw templateError('body', `MJML could not be compiled: ${(err as Error).message}`);
  }
}

/**
 * Validates and compiles a template; errors are `template_invalid` (400) with details.line.
 * `compiledHtml` may be given (stored from an earlier compile) to skip MJML.
 */
export async function compileTemplate(src: TemplateSource, compiledHtml?: string | null): Promise<CompiledTemplate> {
  if (src.channel === 'email' && !src.subject?.trim()) throw templateError('subject', 'an e-mail template needs a subject');
  if (src.channel === 'sms' && src.format !== 'text') throw templateError('format', 'an SMS template is plain text (format "text")');
  const subject = src.subject ? parseLiquid(textLiquid, 'subject', src.subject) : null;
  const preheader = src.preheader ? parseLiquid(textLiquid, 'preheader', src.preheader) : null;
  if (src.format === 'text') {
    return { channel: src.channel, subject, preheader, html: null, text: parseLiquid(textLiquid, 'body', src.body), compiledHtml: null };
  }
  // Liquid is checked on the source first, so its errors carry the author's line numbers.
  parseLiquid(htmlLiquid, 'body', src.body);
  const htmlSource = src.format === 'mjml' ? (compiledHtml ?? (await mjmlToHtml(src.body))) : src.body;
  const html = parseLiquid(htmlLiquid, 'body', htmlSource);
  let text: Template[] | null = null;
  try {
    text = textLiquid.parse(htmlToText(htmlSource));
  } catch {
    text = null; // html-to-text mangled a tag: the text part is derived from each rendered HTML instead
  }
  return { channel: src.channel, subject, preheader, html, text, compiledHtml: src.format === 'mjml' ? htmlSource : null };
}

// ---------------------------------------------------------------------------------------------
// Fast personalization. Most marketing templates are literal text with plain variable outputs
// (`{{ customer.first_name }}`). Such a part is turned once into literal pieces and property
// paths, so a 100k send concatenates strings per recipient instead of running the Liquid
// interpreter three times. The result is the same as Liquid's (own properties only, nil → '',
// HTML-escaped like the `escape` filter); whenever a value is anything but a string, number,
// boolean or nil (an array, a date, a function…) the part is rendered by Liquid instead.

type FastPiece = string | readonly string[];
const fastParts = new WeakMap<Template[], FastPiece[] | null>();
// Liquid reads these specially (arrays, strings, drops): always the interpreter's job.
const SPECIAL_PROPS = new Set(['size', 'first', 'last']);
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
// what Liquid's `escape` filter writes: the same but for the double quote
const LIQUID_ESCAPES: Record<string, string> = { ...HTML_ESCAPES, '"': '&#34;' };

interface OutputNode {
  value?: { filters?: { handler?: unknown }[]; initial?: { postfix?: { kind?: number; props?: { kind?: number; content?: unknown }[]; variable?: unknown }[] } };
  str?: unknown;
  token?: { kind?: number };
}

/** The pieces of a part made only of literal text and filter-less variable outputs; null otherwise. */
function fastPieces(tpl: Template[], escape: Liquid['options']['outputEscape']): FastPiece[] | null {
  let pieces = fastParts.get(tpl);
  if (pieces !== undefined) return pieces;
  pieces = [];
  for (const node of tpl as unknown as OutputNode[]) {
    const kind = node.token?.kind;
    if (kind === TokenKind.HTML && typeof node.str === 'string') {
      pieces.push(node.str);
      continue;
    }
    const filters = node.value?.filters ?? [];
    const postfix = node.value?.initial?.postfix ?? [];
    const plainFilters = escape ? filters.length === 1 && filters[0].handler === escape : filters.length === 0;
    const access = postfix.length === 1 && postfix[0].kind === TokenKind.PropertyAccess && !postfix[0].variable ? postfix[0].props ?? [] : [];
    const path = access.every((p) => p.kind === TokenKind.Word && typeof p.content === 'string' && !SPECIAL_PROPS.has(p.content))
      ? access.map((p) => p.content as string) : [];
    if (kind !== TokenKind.Output || !plainFilters || path.length === 0 || path.length !== access.length) {
      pieces = null;
      break;
    }
    pieces.push(path);
  }
  fastParts.set(tpl, pieces);
  return pieces;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** The part rendered from its pieces, or undefined when a value needs the interpreter. */
function renderFast(pieces: readonly FastPiece[], context: object, escape: boolean): string | undefined {
  let out = '';
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      out += piece;
      continue;
    }
    let v: unknown = context;
    for (const key of piece) {
      if (v === null || v === undefined) break;
      if (!isPlainObject(v)) return undefined;
      v = Object.prototype.hasOwnProperty.call(v, key) ? v[key] : undefined;
    }
    if (v === null || v === undefined) continue;
    let str: string;
    if (typeof v === 'string') str = v;
    else if (typeof v === 'number' || typeof v === 'boolean') str = String(v);
    else return undefined;
    out += escape ? str.replace(/[&<>"']/g, (ch) => LIQUID_ESCAPES[ch]) : str;
  }
  // past the interpreter's memory limit: let it report the error
  return out.length > MEMORY_LIMIT ? undefined : out;
}

async function renderPart(liquid: Liquid, field: string, tpl: Template[], context: object): Promise<string> {
  // the HTML engine escapes outputs (outputEscape: the escape filter); the text engine does not
  const escape = liquid.options.outputEscape;
  const pieces = fastPieces(tpl, escape);
  if (pieces) {
    const fast = renderFast(pieces, context, !!escape);
    if (fast !== undefined) return fast;
  }
  try {
    // no async filter or tag exists here (no file system, no custom filters): the sync renderer is equivalent and cheaper
    return liquid.renderSync(tpl, context);
  } catch (err) {
    const e = err as Error & { token?: { getPosition?: () => [number, number] } };
    const [line, column] = e.token?.getPosition?.() ?? [undefined, undefined];
    throw new AppError('template_render_failed', `${field}: ${e.message.replace(/, line:\d+, col:\d+$/, '')}`, {
      field, ...(line ? { line } : {}), ...(column ? { column } : {}),
    });
  }
}

/** Preheader: hidden preview text at the top of the HTML body. */
function withPreheader(html: string, preheader: string | null): string {
  if (!preheader) return html;
  const hidden = `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">${escapeHtml(preheader)}</div>`;
  const at = html.search(/<body[^>]*>/i);
  if (at < 0) return hidden + html;
  const end = html.indexOf('>', at) + 1;
  return html.slice(0, end) + hidden + html.slice(end);
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

/** Renders a compiled template for one recipient. Errors: template_render_failed (limits, bad data). */
export async function renderCompiled(tpl: CompiledTemplate, context: object): Promise<RenderedContent> {
  const subject = tpl.subject ? (await renderPart(textLiquid, 'subject', tpl.subject, context)).replace(/\s+/g, ' ').trim() : null;
  const preheader = tpl.preheader ? (await renderPart(textLiquid, 'preheader', tpl.preheader, context)).trim() : null;
  if (!tpl.html) {
    return { subject, preheader, html: null, text: (await renderPart(textLiquid, 'body', tpl.text!, context)).trim() };
  }
  const html = withPreheader(await renderPart(htmlLiquid, 'body', tpl.html, context), preheader);
  const text = tpl.text ? (await renderPart(textLiquid, 'body', tpl.text, context)).trim() : htmlToText(html);
  return { subject, preheader, html, text };
}
