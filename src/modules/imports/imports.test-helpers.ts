import { crc32 } from 'node:zlib';
import zlib from 'node:zlib';
import { expect } from 'vitest';
import type { CrmApp } from '../../app.js';

/** A multipart/form-data body with a file in `file` and optional text fields. */
export function multipart(file: { name: string; data: Buffer | string; type?: string } | null, fields: Record<string, string> = {}) {
  const boundary = `----crmtest${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  }
  if (file) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: ${file.type ?? 'text/csv'}\r\n\r\n`));
    parts.push(Buffer.isBuffer(file.data) ? file.data : Buffer.from(file.data));
    parts.push(Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export async function postImport(
  app: CrmApp,
  headers: Record<string, string>,
  query: string,
  file: { name: string; data: Buffer | string; type?: string } | null,
  fields: Record<string, string> = {},
) {
  const body = multipart(file, fields);
  return app.inject({ method: 'POST', url: `/api/crm/imports?${query}`, headers: { ...headers, ...body.headers }, payload: body.payload });
}

/** Polls GET /imports/{id} until the import is completed or failed. */
export async function waitForImport(app: CrmApp, headers: Record<string, string>, id: string): Promise<any> {
  // no timing assertion: a bound only so that a hung import fails the test instead of the run
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const res = await app.inject({ method: 'GET', url: `/api/crm/imports/${id}`, headers });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    if (body.status === 'completed' || body.status === 'failed') return body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`import ${id} did not finish`);
}

/** Uploads and waits: the finished import's status. */
export async function importFile(
  app: CrmApp,
  headers: Record<string, string>,
  query: string,
  file: { name: string; data: Buffer | string; type?: string },
  fields: Record<string, string> = {},
) {
  const res = await postImport(app, headers, query, file, fields);
  expect(res.statusCode, res.body).toBe(202);
  expect(res.json().status).toBe('queued');
  return waitForImport(app, headers, res.json().id);
}

// Windows-1250 bytes of the Romanian letters (cedilla forms, as legacy Windows exports write them).
const CP1250: Record<string, number> = { 'ă': 0xe3, 'Ă': 0xc3, 'â': 0xe2, 'Â': 0xc2, 'î': 0xee, 'Î': 0xce, 'ş': 0xba, 'Ş': 0xaa, 'ţ': 0xfe, 'Ţ': 0xde };
export function encodeCp1250(text: string): Buffer {
  return Buffer.from([...text].map((ch) => {
    const code = ch.charCodeAt(0);
    if (code < 0x80) return code;
    const b = CP1250[ch];
    if (b === undefined) throw new Error(`no Windows-1250 byte for ${ch}`);
    return b;
  }));
}

/** A zip archive; `declaredSize` lets an entry lie about its expanded size (a crafted zip bomb). */
export function makeZip(entries: { name: string; data: Buffer; declaredSize?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const compressed = zlib.deflateRawSync(e.data);
    const size = e.declaredSize ?? e.data.length;
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, compressed);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(8, 10);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(compressed.length, 20);
    dir.writeUInt32LE(size, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(offset, 42);
    central.push(dir, name);
    offset += 30 + name.length + compressed.length;
  }
  const dirBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dirBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dirBuf, end]);
}
