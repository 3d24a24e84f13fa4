import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, OPENAPI_JSON, openApiJsonText, SCHEMA_TS, schemaTypesText } from '../../../scripts/openapi.js';

/**
 * The committed openapi.json and src/schema.d.ts must be what `npm run sdk:generate` makes from the
 * routes as they are now: a route or schema change without regenerating fails here.
 */
describe('generated SDK schema', () => {
  it('is up to date with the API (run `npm run sdk:generate` when this fails)', async () => {
    const doc = await buildOpenApiDocument();
    const committedJson = await readFile(OPENAPI_JSON, 'utf8');
    expect(JSON.parse(committedJson), 'packages/client/openapi.json is stale: run `npm run sdk:generate`').toEqual(doc);
    expect(committedJson).toBe(openApiJsonText(doc));
    const committedTypes = await readFile(SCHEMA_TS, 'utf8');
    expect(committedTypes === (await schemaTypesText(doc)), 'packages/client/src/schema.d.ts is stale: run `npm run sdk:generate`').toBe(true);
  });
});
