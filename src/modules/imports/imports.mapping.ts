import { AppError } from '../../lib/errors.js';

/**
 * Column mapping and row conversion of imports: pure functions (no I/O), tested on their own.
 * A row becomes an ingestion event (customers: `customer.updated`, orders: `order.completed` or
 * `order.created`), or a rejection reason.
 */

export type ImportType = 'customers' | 'orders';

const IDENTITY_FIELDS = ['external_id', 'email', 'phone'] as const;

/** Fields of each import type, with the longest value accepted (the ingestion contract's limits). */
export const FIELD_LIMITS: Record<ImportType, Record<string, number>> = {
  customers: {
    external_id: 255, email: 320, phone: 64, first_name: 200, last_name: 200, company_name: 300,
    customer_type: 20, status: 20, date_of_birth: 40, gender: 50, city: 200, state: 200, country: 100,
    postal_code: 40, marketing_email: 10, marketing_sms: 10,
  },
  orders: {
    order_id: 255, external_id: 255, email: 320, phone: 64, first_name: 200, last_name: 200,
    total: 40, currency: 3, order_date: 64, status: 20, event_id: 255, event_name: 300, ticket_type: 100,
    quantity: 20, unit_price: 40, source: 100,
  },
};

/**
 * Header synonyms seen in real exports (English, Romanian; shop platforms, Excel, Mailchimp),
 * compared after normalizeHeader: lower case, no diacritics, letters and digits only.
 */
const SYNONYMS: Record<ImportType, Record<string, string[]>> = {
  customers: {
    external_id: ['externalid', 'customerid', 'clientid', 'userid', 'idclient', 'codclient', 'customerexternalid', 'uid', 'memberid', 'customernumber'],
    email: ['email', 'emailaddress', 'mail', 'adresaemail', 'adresademail', 'adresadeemail', 'emailul', 'adresademailul', 'emailaddr'],
    phone: ['phone', 'phonenumber', 'telefon', 'tel', 'mobile', 'mobil', 'nrtelefon', 'numartelefon', 'numardetelefon', 'cellphone', 'telephone', 'mobilephone', 'phonemobile', 'telefonmobil', 'nrdetelefon'],
    first_name: ['firstname', 'first', 'givenname', 'prenume', 'forename', 'fname'],
    last_name: ['lastname', 'last', 'surname', 'familyname', 'nume', 'numedefamilie', 'numefamilie', 'lname'],
    company_name: ['company', 'companyname', 'organization', 'organisation', 'firma', 'companie', 'societate', 'business'],
    customer_type: ['customertype', 'type', 'tip', 'tipclient'],
    status: ['status', 'customerstatus', 'stare'],
    date_of_birth: ['dateofbirth', 'birthdate', 'birthday', 'dob', 'datanasterii', 'datanastere', 'zidenastere'],
    gender: ['gender', 'sex', 'gen'],
    city: ['city', 'town', 'oras', 'localitate', 'municipiu'],
    state: ['state', 'county', 'region', 'judet', 'province', 'regiune'],
    country: ['country', 'tara', 'countrycode', 'countryiso'],
    postal_code: ['postalcode', 'zip', 'zipcode', 'postcode', 'codpostal'],
    marketing_email: ['marketingemail', 'emailconsent', 'consentemail', 'emailoptin', 'newsletter', 'optin', 'acceptemail', 'acordmarketing', 'acordemail', 'emailmarketing', 'consentmarketingemail'],
    marketing_sms: ['marketingsms', 'smsconsent', 'consentsms', 'smsoptin', 'acordsms', 'smsmarketing', 'consentmarketingsms'],
  },
  orders: {
    order_id: ['orderid', 'order', 'ordernumber', 'orderno', 'ordernr', 'idcomanda', 'comanda', 'nrcomanda', 'numarcomanda', 'transactionid', 'id'],
    external_id: ['externalid', 'customerid', 'clientid', 'userid', 'idclient', 'codclient', 'customerexternalid'],
    email: ['email', 'emailaddress', 'mail', 'adresaemail', 'customeremail', 'emailclient', 'buyeremail'],
    phone: ['phone', 'phonenumber', 'telefon', 'tel', 'mobile', 'mobil', 'customerphone'],
    first_name: ['firstname', 'first', 'givenname', 'prenume', 'billingfirstname'],
    last_name: ['lastname', 'last', 'surname', 'nume', 'billinglastname'],
    total: ['total', 'totalpaid', 'amount', 'ordertotal', 'totalamount', 'valoare', 'valoaretotala', 'suma', 'totalplatit', 'grandtotal', 'amountpaid', 'totalorder'],
    currency: ['currency', 'moneda', 'valuta', 'currencycode'],
    order_date: ['orderdate', 'date', 'completedat', 'purchasedate', 'datacomenzii', 'datacomanda', 'data', 'paidat', 'paymentdate', 'createdat', 'placedat', 'dataplatii'],
    status: ['status', 'orderstatus', 'starecomanda', 'stare'],
    event_id: ['eventid', 'showid', 'idspectacol', 'idveniment'],
    event_name: ['eventname', 'event', 'show', 'spectacol', 'eveniment'],
    ticket_type: ['tickettype', 'ticketcategory', 'categoriebilet', 'tipbilet', 'category'],
    quantity: ['quantity', 'qty', 'tickets', 'cantitate', 'nrbilete', 'numarbilete', 'bilete'],
    unit_price: ['unitprice', 'price', 'ticketprice', 'pretunitar', 'pret', 'pretbilet'],
    source: ['source', 'channel', 'sursa', 'canal'],
  },
};

export function normalizeHeader(header: string): string {
  return header.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase().replace(/[^a-z0-9]+/g, '');
}

export interface ResolvedMapping {
  /** field of each column (null = ignored), in column order */
  columns: (string | null)[];
  /** header → field, for the report */
  mapping: Record<string, string | null>;
  ignored: string[];
}

/**
 * Maps headers to fields: the explicit override first (`{ "Header": "field" }`, `null` ignores a
 * column), then the synonyms; a field is taken by the first column that claims it. Rejects the
 * file (import_header_unmappable) when the columns that identify a row are missing.
 */
export function resolveMapping(type: ImportType, headers: string[], override: Record<string, string | null> = {}): ResolvedMapping {
  const fields = FIELD_LIMITS[type];
  for (const [h, f] of Object.entries(override)) {
    if (f !== null && !Object.hasOwn(fields, f)) {
      throw new AppError('validation_failed', `mapping: "${f}" is not a field of a ${type} import`, { field: 'mapping', header: h, allowed: Object.keys(fields) });
    }
    if (!headers.includes(h)) {
      throw new AppError('validation_failed', `mapping: the file has no column "${h}"`, { field: 'mapping', header: h, headers });
    }
  }
  const byNormalized = new Map<string, string>();
  for (const [field, names] of Object.entries(SYNONYMS[type])) {
    byNormalized.set(normalizeHeader(field), field);
    for (const n of names) if (!byNormalized.has(n)) byNormalized.set(n, field);
  }
  const taken = new Set<string>(Object.values(override).filter((f): f is string => f !== null));
  const columns: (string | null)[] = headers.map((h) => {
    if (Object.hasOwn(override, h)) return override[h];
    const f = byNormalized.get(normalizeHeader(h));
    if (!f || taken.has(f)) return null;
    taken.add(f);
    return f;
  });
  const mapping: Record<string, string | null> = {};
  headers.forEach((h, i) => {
    if (h !== '' && !Object.hasOwn(mapping, h)) mapping[h] = columns[i];
  });
  const ignored = headers.filter((h, i) => h !== '' && columns[i] === null);
  const has = (f: string) => columns.includes(f);
  if (!IDENTITY_FIELDS.some(has)) {
    throw new AppError('import_header_unmappable', `no column identifies the ${type === 'orders' ? 'buyer' : 'customer'}: map one to external_id, email or phone`, {
      headers, mapping, hint: 'pass mapping, e.g. {"Adresa de e-mail": "email"}',
    });
  }
  if (type === 'orders') {
    const missing = ['order_id', 'order_date'].filter((f) => !has(f));
    if (!has('total') && !has('unit_price')) missing.push('total');
    if (missing.length) {
      throw new AppError('import_header_unmappable', `orders need the column(s) ${missing.join(', ')}`, { headers, mapping, missing });
    }
  }
  return { columns, mapping, ignored };
}

// ---------------------------------------------------------------------------------------------
// Values

const TRUE = new Set(['true', 'yes', 'y', '1', 'da', 'x', 'on', 'subscribed', 'opted in', 'optin', 'granted']);
const FALSE = new Set(['false', 'no', 'n', '0', 'nu', 'off', 'unsubscribed', 'opted out', 'optout', 'revoked']);

export function parseBoolean(v: string): boolean | undefined {
  const t = v.trim().toLowerCase();
  if (TRUE.has(t)) return true;
  if (FALSE.has(t)) return false;
  return undefined;
}

/** "1.234,56", "1,234.56", "150", "150,00 RON", "lei 99.9" → number with two decimals; undefined when not a number. */
export function parseMoney(v: string): number | undefined {
  let t = v.trim().replace(/[\s\u00a0']/g, '').replace(/^[A-Za-z$€£]+|[A-Za-z$€£.]+$/g, '');
  if (t === '' || !/^-?[\d.,]+$/.test(t)) return undefined;
  const lastComma = t.lastIndexOf(',');
  const lastDot = t.lastIndexOf('.');
  if (lastComma >= 0 && lastDot >= 0) {
    const dec = lastComma > lastDot ? ',' : '.';
    t = t.replaceAll(dec === ',' ? '.' : ',', '').replace(dec, '.');
  } else if (lastComma >= 0) {
    // "150,5" / "150,50" is a decimal comma; "1,500" a thousands separator
    t = /,\d{1,2}$/.test(t) && t.indexOf(',') === lastComma ? t.replace(',', '.') : t.replaceAll(',', '');
  } else if (lastDot >= 0 && t.indexOf('.') !== lastDot) {
    t = t.replaceAll('.', '');
  }
  const n = Number(t);
  if (!Number.isFinite(n)) return undefined;
  return Math.round(n * 100) / 100;
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * Dates as spreadsheets and shops write them: ISO 8601 (with or without time or zone), and
 * day-first `DD.MM.YYYY` / `DD/MM/YYYY` / `DD-MM-YYYY` with optional `HH:MM[:SS]` (Romanian and most
 * European exports). A time without zone is UTC. Answers ISO 8601 (date-only when `dateOnly`).
 */
export function parseDate(v: string, dateOnly = false): string | undefined {
  const t = v.trim();
  // an Excel serial day number (a date cell without its date format): days since 1899-12-30
  if (/^\d{5}(\.\d+)?$/.test(t) && Number(t) < 110_000) {
    const date = new Date(Date.UTC(1899, 11, 30) + Math.round(Number(t) * 86_400_000));
    return dateOnly ? date.toISOString().slice(0, 10) : date.toISOString();
  }
  let y: number, mo: number, d: number, h = 0, mi = 0, s = 0;
  let m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$/.exec(t);
  if (m) {
    if (m[7] && !dateOnly) {
      const iso = new Date(t.replace(' ', 'T'));
      return Number.isNaN(iso.getTime()) ? undefined : iso.toISOString();
    }
    [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  } else {
    m = /^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(t);
    if (!m) return undefined;
    [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
    [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  }
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  if (y < 1900 || y > 2200) return undefined;
  return dateOnly ? `${y}-${pad(mo)}-${pad(d)}` : date.toISOString();
}

// ---------------------------------------------------------------------------------------------
// Rows → events

export type Converted =
  | { ok: true; event: Record<string, unknown>; email: string | null; phone: string | null; orderId?: string }
  | { ok: false; reason: string };

/** The row's cells by field (trimmed, blank cells left out). */
function fieldsOf(columns: (string | null)[], cells: string[]): Map<string, string> {
  const out = new Map<string, string>();
  columns.forEach((f, i) => {
    if (f === null) return;
    let v = (cells[i] ?? '').trim();
    // our own exports prefix formula-like text with ' (lib/csv.ts): read it back as it was
    if (/^'[=+\-@\t\r]/.test(v)) v = v.slice(1);
    if (v !== '' && !out.has(f)) out.set(f, v);
  });
  return out;
}

function checkRow(type: ImportType, columns: (string | null)[], cells: string[], headerCount: number | null): string | null {
  // headerCount null: spreadsheets end a row at its last filled cell, so only CSV rows must be as wide as the header
  if (headerCount !== null && (cells.length < headerCount || cells.slice(headerCount).some((c) => c.trim() !== ''))) {
    return `the row has ${cells.length} cells, the header ${headerCount} (ragged row: a delimiter or quote out of place?)`;
  }
  const limits = FIELD_LIMITS[type];
  for (let i = 0; i < columns.length; i++) {
    const f = columns[i];
    const v = cells[i];
    if (f === null || v === undefined) continue;
    if (v.length > limits[f]) return `${f} is ${v.length} characters long; at most ${limits[f]} are accepted`;
    if (v.includes('\uFFFD')) return `${f} holds bytes that are not valid in the file's encoding`;
  }
  return null;
}

const CUSTOMER_TYPES: Record<string, string> = {
  individual: 'individual', person: 'individual', persoana: 'individual', persoanafizica: 'individual', pf: 'individual', b2c: 'individual',
  business: 'business', company: 'business', companie: 'business', firma: 'business', persoanajuridica: 'business', pj: 'business', b2b: 'business',
};
const STATUSES = new Set(['active', 'inactive', 'prospect']);

export interface ConvertContext {
  /** event id prefix: rows of one import never collide with platform events or other imports */
  importId: string;
  /** occurred_at of customer rows (the import's start) */
  at: string;
  /** CSV: the header's width (rows must match); XLSX: null */
  headerCount: number | null;
}

/** A customer row → customer.updated (upsert: identity resolution finds or creates the customer; the row's values overwrite). */
export function customerEvent(ctx: ConvertContext, columns: (string | null)[], row: { rowNumber: number; cells: string[] }): Converted {
  const bad = checkRow('customers', columns, row.cells, ctx.headerCount);
  if (bad) return { ok: false, reason: bad };
  const f = fieldsOf(columns, row.cells);
  const externalId = f.get('external_id') ?? null;
  const email = f.get('email') ?? null;
  const phone = f.get('phone') ?? null;
  if (!externalId && !email && !phone) return { ok: false, reason: 'no external_id, email or phone: the row identifies nobody' };
  const changes: Record<string, unknown> = {};
  for (const k of ['first_name', 'last_name', 'email', 'phone', 'company_name', 'gender', 'city', 'state', 'postal_code'] as const) {
    const v = f.get(k);
    if (v !== undefined) changes[k] = v;
  }
  const country = f.get('country');
  if (country !== undefined) changes.country = /^[a-z]{2}$/i.test(country) ? country.toUpperCase() : country;
  const dob = f.get('date_of_birth');
  if (dob !== undefined) {
    const d = parseDate(dob, true);
    if (!d) return { ok: false, reason: `date_of_birth "${dob}" is not a date (YYYY-MM-DD or DD.MM.YYYY)` };
    changes.date_of_birth = d;
  }
  const ct = f.get('customer_type');
  if (ct !== undefined) {
    const t = CUSTOMER_TYPES[normalizeHeader(ct)];
    if (!t) return { ok: false, reason: `customer_type "${ct}" is not individual or business` };
    changes.customer_type = t;
  }
  const st = f.get('status');
  if (st !== undefined) {
    if (!STATUSES.has(st.toLowerCase())) return { ok: false, reason: `status "${st}" is not active, inactive or prospect` };
    changes.status = st.toLowerCase();
  }
  const consent: Record<string, boolean> = {};
  for (const k of ['marketing_email', 'marketing_sms'] as const) {
    const v = f.get(k);
    if (v === undefined) continue;
    const b = parseBoolean(v);
    if (b === undefined) return { ok: false, reason: `${k} "${v}" is not yes/no` };
    consent[k] = b;
  }
  if (Object.keys(consent).length) changes.consent = consent;
  const event: Record<string, unknown> = {
    id: `import:${ctx.importId}:${row.rowNumber}`,
    type: 'customer.updated',
    occurred_at: ctx.at,
    customer: {
      external_id: externalId, email, phone,
      ...(f.has('first_name') ? { first_name: f.get('first_name') } : {}),
      ...(f.has('last_name') ? { last_name: f.get('last_name') } : {}),
    },
    data: { changes },
  };
  if (Object.keys(changes).length === 0) {
    // only an external id: nothing to overwrite, the customer is found or created
    event.type = 'user.registered';
    event.data = {};
  }
  return { ok: true, event, email, phone };
}

const COMPLETED = new Set(['completed', 'complete', 'paid', 'platit', 'platita', 'finalizat', 'finalizata', 'livrat', 'fulfilled', 'processing', 'confirmed', 'confirmata']);
const PENDING = new Set(['pending', 'inasteptare', 'neplatit', 'neplatita', 'onhold', 'awaitingpayment']);

/** An order row → order.completed (or order.created for pending ones); the idempotency key is the order id. */
export function orderEvent(ctx: ConvertContext & { currency: string }, columns: (string | null)[], row: { rowNumber: number; cells: string[] }): Converted {
  const bad = checkRow('orders', columns, row.cells, ctx.headerCount);
  if (bad) return { ok: false, reason: bad };
  const f = fieldsOf(columns, row.cells);
  const externalId = f.get('external_id') ?? null;
  const email = f.get('email') ?? null;
  const phone = f.get('phone') ?? null;
  if (!externalId && !email && !phone) return { ok: false, reason: 'no external_id, email or phone: the row identifies no buyer' };
  const orderId = f.get('order_id');
  if (!orderId) return { ok: false, reason: 'order_id is empty' };
  const dateText = f.get('order_date');
  if (!dateText) return { ok: false, reason: 'order_date is empty' };
  const at = parseDate(dateText);
  if (!at) return { ok: false, reason: `order_date "${dateText}" is not a date` };
  const status = normalizeHeader(f.get('status') ?? 'completed');
  const type = COMPLETED.has(status) ? 'order.completed' : PENDING.has(status) ? 'order.created' : null;
  if (!type) return { ok: false, reason: `status "${f.get('status')}" is not imported: only completed (paid) and pending orders are` };
  const currency = (f.get('currency') ?? ctx.currency).toUpperCase();
  const data: Record<string, unknown> = { order_id: orderId, currency };
  const totalText = f.get('total');
  if (totalText !== undefined) {
    const total = parseMoney(totalText);
    if (total === undefined || total < 0) return { ok: false, reason: `total "${totalText}" is not an amount` };
    data.total = total;
  }
  const eventId = f.get('event_id');
  const unitText = f.get('unit_price');
  if (eventId || unitText !== undefined) {
    const qtyText = f.get('quantity') ?? '1';
    const quantity = Number(qtyText);
    if (!Number.isInteger(quantity) || quantity < 1) return { ok: false, reason: `quantity "${qtyText}" is not a whole number of at least 1` };
    let unit = unitText !== undefined ? parseMoney(unitText) : undefined;
    if (unitText !== undefined && (unit === undefined || unit < 0)) return { ok: false, reason: `unit_price "${unitText}" is not an amount` };
    if (unit === undefined) unit = Math.round(((data.total as number) / quantity) * 100) / 100;
    if (eventId) {
      data.items = [{
        event_id: eventId,
        ...(f.has('event_name') ? { event_name: f.get('event_name') } : {}),
        ...(f.has('ticket_type') ? { ticket_type: f.get('ticket_type') } : {}),
        quantity, unit_price: unit,
      }];
    } else if (data.total === undefined) {
      data.total = Math.round(unit * quantity * 100) / 100;
    }
  }
  if (data.total === undefined && !data.items) return { ok: false, reason: 'total is empty' };
  if (f.has('source')) data.source = f.get('source');
  return {
    ok: true,
    orderId,
    email,
    phone,
    event: {
      id: `import-order:${orderId}${type === 'order.created' ? ':created' : ''}`,
      type,
      occurred_at: at,
      customer: {
        external_id: externalId, email, phone,
        ...(f.has('first_name') ? { first_name: f.get('first_name') } : {}),
        ...(f.has('last_name') ? { last_name: f.get('last_name') } : {}),
      },
      data,
    },
  };
}

/** The raw cells of a rejected row for import_errors, by header, each cut to 1000 characters. */
export function rawOf(headers: string[], cells: string[]): Record<string, string> {
  const raw: Record<string, string> = {};
  const n = Math.max(headers.length, cells.length);
  for (let i = 0; i < n && i < 100; i++) {
    const key = headers[i] && !Object.hasOwn(raw, headers[i]) ? headers[i] : `column_${i + 1}`;
    const v = cells[i] ?? '';
    raw[key] = v.length > 1000 ? `${v.slice(0, 1000)}…` : v;
  }
  return raw;
}
