import { useEffect, useState, type FormEvent } from 'react';
import { Alert, Badge, Button, Card, Code, Group, NumberInput, Select, Stack, Switch, Table, Tabs, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { del, get, patch, post, put, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n } from '../i18n';
import { useSession } from '../session';
import { DataTable, Empty, ErrorAlert, QueryView } from '../components/states';
import type { Role } from '../types';

export default function SettingsPage() {
  const { t } = useI18n();
  return (
    <Stack>
      <Title order={2}>{t('set.title')}</Title>
      <Tabs defaultValue="keys" keepMounted={false}>
        <Tabs.List style={{ overflowX: 'auto', flexWrap: 'nowrap' }}>
          <Tabs.Tab value="keys">{t('set.apiKeys')}</Tabs.Tab>
          <Tabs.Tab value="users">{t('set.users')}</Tabs.Tab>
          <Tabs.Tab value="webhooks">{t('set.webhooks')}</Tabs.Tab>
          <Tabs.Tab value="vip">{t('set.vip')}</Tabs.Tab>
          <Tabs.Tab value="tiers">{t('set.tiers')}</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="keys" pt="md">
          <AdminOnly>
            <ApiKeys />
          </AdminOnly>
        </Tabs.Panel>
        <Tabs.Panel value="users" pt="md">
          <AdminOnly>
            <Users />
          </AdminOnly>
        </Tabs.Panel>
        <Tabs.Panel value="webhooks" pt="md">
          <AdminOnly>
            <Webhooks />
          </AdminOnly>
        </Tabs.Panel>
        <Tabs.Panel value="vip" pt="md">
          <VipRule />
        </Tabs.Panel>
        <Tabs.Panel value="tiers" pt="md">
          <Tiers />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function AdminOnly({ children }: { children: React.ReactNode }) {
  const { can } = useSession();
  const { t } = useI18n();
  return can.admin ? <>{children}</> : <Alert color="gray">{t('set.adminOnly')}</Alert>;
}

interface ApiKey {
  id: string;
  name: string;
  role: Role;
  key_prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

function ApiKeys() {
  const { t } = useI18n();
  const f = useFormat();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['api-keys'], queryFn: () => get<{ data: ApiKey[] }>('/api-keys') });
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('employee');
  const [created, setCreated] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => post<ApiKey & { api_key: string }>('/api-keys', { name: name.trim(), role }),
    onSuccess: (k) => {
      setCreated(k.api_key);
      setName('');
      void qc.invalidateQueries({ queryKey: ['api-keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => del(`/api-keys/${id}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['api-keys'] }),
  });
  return (
    <Stack>
      <Card
        withBorder
        component="form"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Title order={3} size="h5" mb="xs">
          {t('set.newKey')}
        </Title>
        <Group align="end" wrap="wrap">
          <TextInput label={t('set.keyName')} required value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <Select
            label={t('set.keyRole')}
            value={role}
            allowDeselect={false}
            onChange={(v) => setRole((v ?? 'employee') as Role)}
            data={(['viewer', 'employee', 'admin'] as const).map((r) => ({ value: r, label: t(`user.role.${r}`) }))}
          />
          <Button type="submit" loading={create.isPending}>
            {t('common.create')}
          </Button>
        </Group>
        {create.error && <ErrorAlert error={create.error} />}
        {created && (
          <Alert color="teal" mt="sm" role="status">
            <Text size="sm">{t('set.keyShown')}</Text>
            <Code block>{created}</Code>
          </Alert>
        )}
      </Card>
      {revoke.error && <ErrorAlert error={revoke.error} />}
      <QueryView query={q}>
        {(d) => (
          <DataTable
            label={t('set.apiKeys')}
            rows={d.data}
            empty={t('set.noKeys')}
            head={
              <>
                <Table.Th>{t('set.keyName')}</Table.Th>
                <Table.Th>{t('set.keyRole')}</Table.Th>
                <Table.Th>{t('set.keyPrefix')}</Table.Th>
                <Table.Th>{t('common.created')}</Table.Th>
                <Table.Th>{t('set.lastUsed')}</Table.Th>
                <Table.Th>{t('common.actions')}</Table.Th>
              </>
            }
          >
            {(k) => (
              <Table.Tr key={k.id}>
                <Table.Td>{k.name}</Table.Td>
                <Table.Td>{t(`user.role.${k.role}`)}</Table.Td>
                <Table.Td>
                  <Code>{k.key_prefix}</Code>
                </Table.Td>
                <Table.Td>{f.date(k.created_at)}</Table.Td>
                <Table.Td>{f.dateTime(k.last_used_at)}</Table.Td>
                <Table.Td>
                  {k.revoked_at ? (
                    <Badge color="gray">{t('set.revoked')}</Badge>
                  ) : (
                    <Button size="xs" color="red" variant="light" onClick={() => revoke.mutate(k.id)} aria-label={`${t('set.revoke')} ${k.name}`}>
                      {t('set.revoke')}
                    </Button>
                  )}
                </Table.Td>
              </Table.Tr>
            )}
          </DataTable>
        )}
      </QueryView>
    </Stack>
  );
}

interface User {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  created_at: string;
  last_login_at: string | null;
  disabled_at: string | null;
}

const ROLE_OPTIONS = ['viewer', 'employee', 'admin'] as const;

function Users() {
  const { t } = useI18n();
  const f = useFormat();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['users'], queryFn: () => get<{ data: User[] }>('/users') });
  const [form, setForm] = useState({ email: '', name: '', password: '', role: 'employee' as Role });
  const create = useMutation({
    mutationFn: () => post<User>('/users', { email: form.email.trim(), password: form.password, role: form.role, name: form.name.trim() || null }),
    onSuccess: () => {
      setForm({ email: '', name: '', password: '', role: 'employee' });
      void qc.invalidateQueries({ queryKey: ['users'] });
    },
  });
  const update = useMutation({
    mutationFn: ({ id, body }: { id: string; body: { role?: Role; disabled?: boolean } }) => patch<User>(`/users/${id}`, body),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['users'] }),
  });
  const roleData = ROLE_OPTIONS.map((r) => ({ value: r, label: t(`user.role.${r}`) }));
  return (
    <Stack>
      <Card
        withBorder
        component="form"
        aria-label={t('set.newUser')}
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Title order={3} size="h5" mb="xs">
          {t('set.newUser')}
        </Title>
        <Group align="end" wrap="wrap">
          <TextInput label={t('set.userEmail')} type="email" required value={form.email} onChange={(e) => setForm({ ...form, email: e.currentTarget.value })} />
          <TextInput label={t('set.userName')} value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} />
          <TextInput
            label={t('set.userPassword')}
            type="password"
            required
            minLength={8}
            autoComplete="new-password"
            value={form.password}
            onChange={(e) => setForm({ ...form, password: e.currentTarget.value })}
          />
          <Select label={t('set.userRole')} value={form.role} allowDeselect={false} onChange={(v) => setForm({ ...form, role: (v ?? 'employee') as Role })} data={roleData} />
          <Button type="submit" loading={create.isPending}>
            {t('common.create')}
          </Button>
        </Group>
        {create.error && <ErrorAlert error={create.error} />}
      </Card>
      {update.error && <ErrorAlert error={update.error} />}
      <QueryView query={q}>
        {(d) => (
          <DataTable
            label={t('set.users')}
            rows={d.data}
            empty={t('set.noUsers')}
            head={
              <>
                <Table.Th>{t('set.userEmail')}</Table.Th>
                <Table.Th>{t('set.userName')}</Table.Th>
                <Table.Th>{t('set.userRole')}</Table.Th>
                <Table.Th>{t('set.lastLogin')}</Table.Th>
                <Table.Th>{t('common.actions')}</Table.Th>
              </>
            }
          >
            {(u) => (
              <Table.Tr key={u.id}>
                <Table.Td>
                  {u.email} {u.disabled_at && <Badge color="gray">{t('set.userDisabled')}</Badge>}
                </Table.Td>
                <Table.Td>{u.name ?? '—'}</Table.Td>
                <Table.Td>
                  <Select
                    aria-label={`${t('set.userRole')} ${u.email}`}
                    size="xs"
                    value={u.role}
                    allowDeselect={false}
                    data={roleData}
                    onChange={(v) => v && v !== u.role && update.mutate({ id: u.id, body: { role: v as Role } })}
                  />
                </Table.Td>
                <Table.Td>{f.dateTime(u.last_login_at)}</Table.Td>
                <Table.Td>
                  <Button
                    size="xs"
                    variant="light"
                    color={u.disabled_at ? 'teal' : 'red'}
                    onClick={() => update.mutate({ id: u.id, body: { disabled: !u.disabled_at } })}
                    aria-label={`${u.disabled_at ? t('set.enable') : t('set.disable')} ${u.email}`}
                  >
                    {u.disabled_at ? t('set.enable') : t('set.disable')}
                  </Button>
                </Table.Td>
              </Table.Tr>
            )}
          </DataTable>
        )}
      </QueryView>
    </Stack>
  );
}

interface Webhook {
  id: string;
  url: string;
  event_types: string[];
  active: boolean;
  description: string | null;
  created_at: string;
}
interface Delivery {
  id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
}

function Webhooks() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['webhooks'], queryFn: () => get<Page<Webhook>>('/webhooks', { limit: 200 }) });
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () =>
      post<Webhook & { secret: string }>('/webhooks', {
        url: url.trim(),
        event_types: events
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      }),
    onSuccess: (w) => {
      setSecret(w.secret);
      setUrl('');
      setEvents('');
      void qc.invalidateQueries({ queryKey: ['webhooks'] });
    },
  });
  const toggle = useMutation({
    mutationFn: (w: Webhook) => patch<Webhook>(`/webhooks/${w.id}`, { active: !w.active }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['webhooks'] }),
  });
  return (
    <Stack>
      <Card
        withBorder
        component="form"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Group align="end" wrap="wrap">
          <TextInput label={t('set.webhookUrl')} type="url" required placeholder="https://…" value={url} onChange={(e) => setUrl(e.currentTarget.value)} style={{ flex: '1 1 260px' }} />
          <TextInput label={t('set.webhookEvents')} value={events} onChange={(e) => setEvents(e.currentTarget.value)} style={{ flex: '1 1 260px' }} />
          <Button type="submit" loading={create.isPending}>
            {t('common.create')}
          </Button>
        </Group>
        {create.error && <ErrorAlert error={create.error} />}
        {secret && (
          <Alert color="teal" mt="sm" role="status">
            {t('set.webhookSecret', { secret })}
          </Alert>
        )}
      </Card>
      {toggle.error && <ErrorAlert error={toggle.error} />}
      <QueryView query={q}>
        {(d) =>
          d.data.length === 0 ? (
            <Empty>{t('set.noWebhooks')}</Empty>
          ) : (
            <Stack gap="xs">
              {d.data.map((w) => (
                <Card key={w.id} withBorder p="sm">
                  <Group justify="space-between" wrap="wrap">
                    <Stack gap={2}>
                      <Text fw={600} style={{ wordBreak: 'break-all' }}>
                        {w.url}
                      </Text>
                      <Text size="xs" c="dimmed">
                        {w.event_types.length ? w.event_types.join(', ') : t('common.all')}
                      </Text>
                    </Stack>
                    <Group gap="sm">
                      <Switch label={t('set.webhookActive')} checked={w.active} onChange={() => toggle.mutate(w)} />
                      <Button size="xs" variant="default" onClick={() => setOpen(open === w.id ? null : w.id)} aria-expanded={open === w.id}>
                        {t('set.deliveries')}
                      </Button>
                    </Group>
                  </Group>
                  {open === w.id && <Deliveries id={w.id} />}
                </Card>
              ))}
            </Stack>
          )
        }
      </QueryView>
    </Stack>
  );
}

function Deliveries({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const q = useQuery({ queryKey: ['webhooks', id, 'deliveries'], queryFn: () => get<Page<Delivery>>(`/webhooks/${id}/deliveries`, { limit: 50 }) });
  return (
    <QueryView query={q}>
      {(d) =>
        d.data.length === 0 ? (
          <Empty>{t('set.noDeliveries')}</Empty>
        ) : (
          <div className="table-scroll">
            <Table mt="sm" fz="sm" aria-label={t('set.deliveries')}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('set.event')}</Table.Th>
                  <Table.Th>{t('common.status')}</Table.Th>
                  <Table.Th>{t('set.attempts')}</Table.Th>
                  <Table.Th>{t('set.code')}</Table.Th>
                  <Table.Th>{t('common.created')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {d.data.map((x) => (
                  <Table.Tr key={x.id}>
                    <Table.Td>{x.event_type}</Table.Td>
                    <Table.Td title={x.last_error ?? undefined}>
                      <Badge color={x.status === 'succeeded' ? 'teal' : x.status === 'pending' ? 'gray' : 'red'} variant="light">
                        {x.status}
                      </Badge>
                    </Table.Td>
                    <Table.Td>{x.attempts}</Table.Td>
                    <Table.Td>{x.last_status_code ?? '—'}</Table.Td>
                    <Table.Td>{f.dateTime(x.created_at)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        )
      }
    </QueryView>
  );
}

interface Vip {
  top_percent: number | null;
  min_total_spend: number | null;
  vip_customers: number;
  rules?: unknown;
}

function VipRule() {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['vip-rule'], queryFn: () => get<Vip>('/analytics/vip-rule') });
  const [top, setTop] = useState<number | ''>('');
  const [min, setMin] = useState<number | ''>('');
  useEffect(() => {
    if (q.data) {
      setTop(q.data.top_percent ?? '');
      setMin(q.data.min_total_spend ?? '');
    }
  }, [q.data]);
  const save = useMutation({
    mutationFn: () => put<Vip>('/analytics/vip-rule', { top_percent: top === '' ? 0 : top, min_total_spend: min === '' ? null : min }),
    onSuccess: (v) => qc.setQueryData(['vip-rule'], v),
  });
  return (
    <QueryView query={q}>
      {(v) => (
        <Card
          withBorder
          component="form"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <Text mb="sm">{t('set.vipCount', { n: f.number(v.vip_customers) })}</Text>
          <Group align="end" wrap="wrap">
            <NumberInput label={t('set.vipTop')} min={0} max={50} decimalScale={2} value={top} onChange={(x) => setTop(x === '' ? '' : Number(x))} readOnly={!can.admin} />
            <NumberInput label={t('set.vipMin')} min={0} decimalScale={2} value={min} onChange={(x) => setMin(x === '' ? '' : Number(x))} readOnly={!can.admin} />
            {can.admin && (
              <Button type="submit" loading={save.isPending}>
                {t('common.save')}
              </Button>
            )}
          </Group>
          {save.error && <ErrorAlert error={save.error} />}
          {save.isSuccess && (
            <Text size="sm" c="teal.8" mt="xs" role="status">
              {t('common.saved')}
            </Text>
          )}
        </Card>
      )}
    </QueryView>
  );
}

interface Tier {
  name: string;
  min_points: number;
  benefits: string[];
}

function Tiers() {
  const { t } = useI18n();
  const { can } = useSession();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['loyalty', 'tiers'], queryFn: () => get<{ tiers: Tier[] }>('/loyalty/tiers') });
  const [tiers, setTiers] = useState<Tier[]>([]);
  useEffect(() => {
    if (q.data) setTiers(q.data.tiers);
  }, [q.data]);
  const save = useMutation({
    mutationFn: () => put<{ tiers: Tier[] }>('/loyalty/tiers', { tiers }),
    onSuccess: (d) => qc.setQueryData(['loyalty', 'tiers'], { tiers: d.tiers }),
  });
  const set = (i: number, patchTier: Partial<Tier>) => setTiers(tiers.map((x, j) => (j === i ? { ...x, ...patchTier } : x)));
  return (
    <QueryView query={q}>
      {() => (
        <Card
          withBorder
          component="form"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <Stack gap="xs">
            {tiers.length === 0 && <Empty />}
            {tiers.map((tier, i) => (
              <Group key={i} align="end" wrap="wrap">
                <TextInput label={t('set.tierName')} required value={tier.name} readOnly={!can.admin} onChange={(e) => set(i, { name: e.currentTarget.value })} />
                <NumberInput label={t('set.tierMin')} min={0} required value={tier.min_points} readOnly={!can.admin} onChange={(v) => set(i, { min_points: Number(v) || 0 })} />
                {can.admin && (
                  <Button variant="subtle" color="red" onClick={() => setTiers(tiers.filter((_, j) => j !== i))} aria-label={`${t('rule.remove')} ${tier.name}`}>
                    {t('rule.remove')}
                  </Button>
                )}
              </Group>
            ))}
          </Stack>
          {can.admin && (
            <Group mt="sm">
              <Button variant="default" onClick={() => setTiers([...tiers, { name: '', min_points: 0, benefits: [] }])}>
                {t('set.addTier')}
              </Button>
              <Button type="submit" loading={save.isPending}>
                {t('common.save')}
              </Button>
            </Group>
          )}
          {save.error && <ErrorAlert error={save.error} />}
          {save.isSuccess && (
            <Text size="sm" c="teal.8" mt="xs" role="status">
              {t('common.saved')}
            </Text>
          )}
        </Card>
      )}
    </QueryView>
  );
}
