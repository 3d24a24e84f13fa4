import { Type, type Static } from '@sinclair/typebox';
import { DateTime, DateTimeInput, Nullable, Page, PageQuery } from '../../lib/schemas.js';

export const AuditListQuery = Type.Object(
  {
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: '"key:<id>", "user:<id>", "cli", "job:<name>", "system"' })),
    action: Type.Optional(Type.String({
      minLength: 1, maxLength: 100, pattern: '^[a-z0-9_.]+(\\.\\*)?$',
      description: 'exact action (customer.update) or a family (customer.*)',
    })),
    entity_type: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    entity_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    from: Type.Optional(DateTimeInput),
    to: Type.Optional(DateTimeInput),
    ...PageQuery,
  },
  { additionalProperties: false },
);
export type AuditListQuery = Static<typeof AuditListQuery>;

export const AuditEntry = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    actor: Type.String(),
    action: Type.String(),
    entity_type: Type.String(),
    entity_id: Nullable(Type.String()),
    before: Type.Unknown({ description: 'snapshot before the change (null for creations)' }),
    after: Type.Unknown({ description: 'snapshot after the change (null for deletions)' }),
    request_id: Nullable(Type.String()),
    created_at: DateTime,
    chain_seq: Nullable(Type.Integer({ description: 'position in the tenant hash chain' })),
    hash: Nullable(Type.String({ description: 'sha256(previous hash || canonical JSON of the entry), hex' })),
    redacted_at: Nullable(DateTime),
  },
  { title: 'AuditEntry' },
);

export const AuditPage = Page(AuditEntry);

export const AuditVerifyResult = Type.Object(
  {
    ok: Type.Boolean(),
    checked: Type.Integer({ description: 'entries whose links were recomputed' }),
    unsealed: Type.Integer({ description: 'entries written after the check started (not chained yet)' }),
    head_chain_seq: Nullable(Type.Integer()),
    first_broken: Nullable(Type.Object({
      chain_seq: Type.Integer(),
      entry_id: Nullable(Type.String()),
      problem: Type.Union([Type.Literal('hash_mismatch'), Type.Literal('missing_entry'), Type.Literal('head_mismatch')]),
      message: Type.String(),
    })),
  },
  { title: 'AuditVerifyResult' },
);
