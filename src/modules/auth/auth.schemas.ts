import { Type } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../lib/schemas.js';
import { ROLES } from './auth.types.js';

export const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));

export const LoginBody = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    tenant_id: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);

export const Me = Type.Object({
  tenant_id: Uuid,
  role: Role,
  actor: Type.String(),
  user: Nullable(Type.Object({ id: Uuid, email: Type.String(), name: Nullable(Type.String()), role: Role })),
  api_key_id: Nullable(Uuid),
});

export const LoginResponse = Type.Object({
  user: Type.Object({ id: Uuid, email: Type.String(), name: Nullable(Type.String()), role: Role }),
  tenant_id: Uuid,
  expires_at: DateTime,
});

export const ApiKey = Type.Object({
  id: Uuid,
  name: Type.String(),
  role: Role,
  key_prefix: Type.String({ description: 'first characters of the key, to tell keys apart' }),
  created_by: Nullable(Type.String()),
  created_at: DateTime,
  last_used_at: Nullable(DateTime),
  revoked_at: Nullable(DateTime),
});

export const User = Type.Object({
  id: Uuid,
  email: Type.String(),
  name: Nullable(Type.String()),
  role: Role,
  created_at: DateTime,
  last_login_at: Nullable(DateTime),
  disabled_at: Nullable(DateTime),
}, { title: 'User' });

export const CreateUserBody = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 254 }),
    password: Type.String({ minLength: 8, maxLength: 200, description: 'at least 8 characters' }),
    role: Role,
    name: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()])),
  },
  { additionalProperties: false },
);

export const UpdateUserBody = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
    role: Type.Optional(Role),
    disabled: Type.Optional(Type.Boolean({ description: 'a disabled user cannot log in; their sessions end' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const CreateApiKeyBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }), role: Role },
  { additionalProperties: false },
);

export const CreatedApiKey = Type.Composite([ApiKey, Type.Object({ api_key: Type.String({ description: 'the secret; shown only now' }) })]);
