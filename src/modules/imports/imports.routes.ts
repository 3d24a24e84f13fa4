import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { AppError } from '../../lib/errors.js';
import { errorResponses, ErrorResponse, IdParams } from '../../lib/schemas.js';
import * as schemas from './imports.schemas.js';
import * as service from './imports.service.js';

const tags = ['imports'];

function parseMapping(text: string): Record<string, string | null> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('validation_failed', 'mapping must be a JSON object: {"column header": "field" or null}', { field: 'mapping' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)
    || Object.values(value).some((v) => v !== null && typeof v !== 'string')) {
    throw new AppError('validation_failed', 'mapping must be a JSON object: {"column header": "field" or null}', { field: 'mapping' });
  }
  return value as Record<string, string | null>;
}

function parseBool(text: string, field: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0' || t === '') return false;
  throw new AppError('validation_failed', `${field} must be true or false`, { field });
}

/** Streams the multipart upload to DATA_DIR/imports/<id> (never into memory) and reads the form fields. */
async function receiveUpload(req: FastifyRequest, deps: AppDeps) {
  if (!req.isMultipart()) {
    throw new AppError('unsupported_media_type', 'send the file as multipart/form-data in the field "file"');
  }
  const { id, filePath } = await service.newUploadPath(deps.config);
  let fileName: string | null = null;
  let mapping: Record<string, string | null> | undefined;
  let dryRun: boolean | undefined;
  try {
    for await (const part of req.parts({ limits: { fileSize: deps.config.importMaxFileBytes, files: 1, fields: 10, fieldSize: 1024 * 1024 } })) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file') {
          part.file.resume();
          throw new AppError('validation_failed', `unexpected file field "${part.fieldname}"; send the file in "file"`, { field: part.fieldname });
        }
        fileName = part.filename || null;
        await pipeline(part.file, fs.createWriteStream(filePath));
        if (part.file.truncated) throw new AppError('payload_too_large', `the file is larger than IMPORT_MAX_FILE_BYTES (${deps.config.importMaxFileBytes} bytes)`);
      } else if (part.fieldname === 'mapping') {
        mapping = parseMapping(String(part.value));
      } else if (part.fieldname === 'dry_run') {
        dryRun = parseBool(String(part.value), 'dry_run');
      } else {
        throw new AppError('validation_failed', `unknown form field "${part.fieldname}"; expected file, mapping, dry_run`, { field: part.fieldname });
      }
    }
    if (fileName === null && !fs.existsSync(filePath)) throw new AppError('validation_failed', 'the form has no file in the field "file"', { field: 'file' });
  } catch (err) {
    await fs.promises.rm(filePath, { force: true });
    const e = err as { code?: string; statusCode?: number };
    if (e.code === 'FST_REQ_FILE_TOO_LARGE') {
      throw new AppError('payload_too_large', `the file is larger than IMPORT_MAX_FILE_BYTES (${deps.config.importMaxFileBytes} bytes)`);
    }
    if (!(err instanceof AppError) && e.statusCode && e.statusCode < 500) {
      throw new AppError('validation_failed', `malformed multipart form: ${(err as Error).message}`);
    }
    throw err;
  }
  return { id, filePath, fileName, mapping, dryRun };
}

export default async function importRoutes(app: CrmApp, deps: AppDeps) {
  // multipart is parsed only by the routes of this scope
  await app.register(async (scope) => {
    await scope.register(multipart, { throwFileSizeLimit: true });
    const api = scope as unknown as CrmApp;

    api.post('/imports', {
      schema: {
        tags,
        summary: 'Upload a CSV or XLSX file of customers or orders; it is imported in the background',
        description:
          'multipart/form-data with the file in `file`, optional `mapping` (JSON: column header → field, null ignores a column) and ' +
          '`dry_run`. The file is checked at once (format, encoding, delimiter, header mapping): a binary file, a zip bomb, an ' +
          'unknown encoding or a header without an identifying column answers 4xx and nothing is stored. Then `202 {id, status}`; ' +
          'follow it with GET /imports/{id}. Customers are upserted by external id, then e-mail, then phone.',
        consumes: ['multipart/form-data'],
        querystring: schemas.ImportQuery,
        response: { 202: schemas.ImportAccepted, 413: ErrorResponse, 415: ErrorResponse, 422: ErrorResponse, ...errorResponses },
      },
    }, async (req, reply) => {
      const upload = await receiveUpload(req, deps);
      const created = await service.createImport(
        { db: deps.db, config: deps.config, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id, log: req.log, jobs: deps.jobs },
        {
          id: upload.id, type: req.query.type, filePath: upload.filePath, fileName: upload.fileName,
          dryRun: upload.dryRun ?? req.query.dry_run ?? false, mapping: upload.mapping, encoding: req.query.encoding, delimiter: req.query.delimiter,
        },
      );
      return reply.status(202).send({ id: created.id, status: created.status });
    });
  });

  app.get('/imports/:id', {
    schema: { tags, summary: 'Progress and outcome of an import', params: IdParams, response: { 200: schemas.ImportStatus, ...errorResponses } },
  }, async (req) => service.getImport({ db: deps.db, tenantId: req.auth.tenantId }, req.params.id));

  app.get('/imports/:id/errors', {
    schema: {
      tags, summary: 'The rejected rows as CSV: row number, reason, then the row as it was in the file',
      params: IdParams, produces: ['text/csv'],
      response: { 200: Type.String({ description: 'text/csv; charset=utf-8' }), ...errorResponses },
    },
  }, async (req, reply) => {
    const out = await service.importErrorsCsv({ db: deps.db, tenantId: req.auth.tenantId }, req.params.id);
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${out.fileName}"`)
      .header('cache-control', 'no-store')
      .send(out.stream as unknown as string);
  });
}
