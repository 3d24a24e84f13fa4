import { useState, type FormEvent } from 'react';
import { Anchor, Badge, Button, Card, Checkbox, Group, Paper, Progress, Select, SimpleGrid, Stack, Table, Tabs, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { get, post, type Page } from '../api';
import { useFormat } from '../format';
import { isMessageKey, useI18n, type MessageKey } from '../i18n';
import { useSession } from '../session';
import { Empty, ErrorAlert, Loading, QueryView } from '../components/states';
import type { Customer, Interaction, Segment } from '../types';
import RecommendationsTab from './RecommendationsTab';
import { ConsentTab, DuplicatesTab, GdprActions } from './CustomerPrivacy';

interface Scores {
  rfm_segment: string | null;
  lifecycle_stage: string | null;
  churn_risk: number | null;
  p_alive: number | null;
  predicted_clv: number | null;
}
interface Clv {
  p_alive: number;
  predicted_clv: number;
}

export default function CustomerProfilePage() {
  const { id = '' } = useParams();
  const { t } = useI18n();
  const customer = useQuery({ queryKey: ['customer', id], queryFn: () => get<Customer>(`/customers/${id}`) });
  return (
    <Stack gap="md">
      <Anchor component={Link} to="/customers" size="sm">
        ← {t('prof.back')}
      </Anchor>
      <QueryView query={customer}>
        {(c) => (
          <>
            <Header c={c} />
            <ProfileTabs c={c} />
          </>
        )}
      </QueryView>
    </Stack>
  );
}

function Header({ c }: { c: Customer }) {
  const { t } = useI18n();
  const f = useFormat();
  const scores = useQuery({ queryKey: ['customer', c.id, 'scores'], queryFn: () => get<Scores>(`/customers/${c.id}/scores`) });
  // The model fit needs repeat buyers; without enough data the header shows the stored scores only.
  const clv = useQuery({ queryKey: ['customer', c.id, 'clv'], queryFn: () => get<Clv>(`/customers/${c.id}/clv`), retry: false });
  const pAlive = clv.data?.p_alive ?? scores.data?.p_alive ?? null;
  const churn = scores.data?.churn_risk ?? (pAlive == null ? null : 1 - pAlive);
  const name = c.name || c.company_name || c.email || c.external_id || c.id;
  return (
    <Card withBorder>
      <Group justify="space-between" align="start" wrap="wrap">
        <Stack gap={4}>
          <Title order={2}>{name}</Title>
          <Group gap={6}>
            <Badge variant="light" color={c.status === 'active' ? 'teal' : 'gray'}>
              {t(`status.${c.status}`)}
            </Badge>
            {c.is_vip && <Badge color="yellow.8">{t('prof.vip')}</Badge>}
            {c.loyalty_tier && <Badge color="grape.8">{t('prof.tier', { tier: c.loyalty_tier })}</Badge>}
            {scores.data?.lifecycle_stage && <Badge color="blue.8">{t('prof.lifecycle', { stage: isMessageKey(`stage.${scores.data.lifecycle_stage}`) ? t(`stage.${scores.data.lifecycle_stage}` as MessageKey) : scores.data.lifecycle_stage })}</Badge>}
            {scores.data?.rfm_segment && (
              <Badge variant="outline" color="indigo">
                {isMessageKey(`rfm.${scores.data.rfm_segment}`) ? t(`rfm.${scores.data.rfm_segment}` as MessageKey) : scores.data.rfm_segment}
              </Badge>
            )}
          </Group>
          <Text size="sm" c="dimmed">
            {[c.email, c.phone, [c.city, c.country].filter(Boolean).join(', ')].filter(Boolean).join(' · ')}
          </Text>
          <Text size="xs" c="dimmed">
            {t('prof.since')}: {f.date(c.created_at)}
            {c.source ? ` · ${t('prof.source')}: ${c.source}` : ''}
          </Text>
        </Stack>
        <GdprActions c={c} />
      </Group>
      <SimpleGrid cols={{ base: 2, sm: 4, lg: 8 }} mt="md" spacing="xs">
        <Metric label={t('prof.totalSpend')} value={f.money(c.metrics.total_spend)} />
        <Metric label={t('prof.orders')} value={f.number(c.metrics.total_orders)} />
        <Metric label={t('prof.attended')} value={f.number(c.metrics.events_attended)} />
        <Metric label={t('prof.aov')} value={f.money(c.metrics.average_order_value)} />
        <Metric label={t('prof.ltv')} value={f.money(c.metrics.lifetime_value)} />
        <Metric label={t('prof.points')} value={f.number(c.loyalty_points)} />
        <Metric label={t('prof.pAlive')} value={pAlive == null ? t('prof.notEnoughData') : f.percent(pAlive, 0)} />
        <Metric label={t('prof.churnRisk')} value={churn == null ? t('prof.notEnoughData') : f.percent(churn, 0)} tone={churn != null && churn >= 0.6 ? 'red' : undefined} />
      </SimpleGrid>
    </Card>
  );
}

function Metric({ label, value, tone }: { label: string; value: string; tone?: string }) {
  return (
    <Paper withBorder p="xs">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={700} c={tone} size={value.length > 16 ? 'xs' : undefined}>
        {value}
      </Text>
    </Paper>
  );
}

function ProfileTabs({ c }: { c: Customer }) {
  const { t } = useI18n();
  return (
    <Tabs defaultValue="timeline" keepMounted={false}>
      <Tabs.List style={{ overflowX: 'auto', flexWrap: 'nowrap' }}>
        <Tabs.Tab value="timeline">{t('prof.tab.timeline')}</Tabs.Tab>
        <Tabs.Tab value="orders">{t('prof.tab.orders')}</Tabs.Tab>
        <Tabs.Tab value="attendance">{t('prof.tab.attendance')}</Tabs.Tab>
        <Tabs.Tab value="interactions">{t('prof.tab.interactions')}</Tabs.Tab>
        <Tabs.Tab value="notes">{t('prof.tab.notes')}</Tabs.Tab>
        <Tabs.Tab value="segments">{t('prof.tab.segments')}</Tabs.Tab>
        <Tabs.Tab value="loyalty">{t('prof.tab.loyalty')}</Tabs.Tab>
        <Tabs.Tab value="consent">{t('prof.tab.consent')}</Tabs.Tab>
        <Tabs.Tab value="duplicates">{t('prof.tab.duplicates')}</Tabs.Tab>
        <Tabs.Tab value="recommendations">{t('prof.tab.recommendations')}</Tabs.Tab>
      </Tabs.List>
      <Tabs.Panel value="timeline" pt="md">
        <TimelineTab id={c.id} />
      </Tabs.Panel>
      <Tabs.Panel value="orders" pt="md">
        <OrdersTab id={c.id} />
      </Tabs.Panel>
      <Tabs.Panel value="attendance" pt="md">
        <AttendanceTab id={c.id} />
      </Tabs.Panel>
      <Tabs.Panel value="interactions" pt="md">
        <InteractionsTab id={c.id} />
      </Tabs.Panel>
      <Tabs.Panel value="notes" pt="md">
        <NotesTab id={c.id} />
      </Tabs.Panel>
      <Tabs.Panel value="segments" pt="md">
        <SegmentsTab c={c} />
      </Tabs.Panel>
      <Tabs.Panel value="loyalty" pt="md">
        <LoyaltyTab id={c.id} />
      </Tabs.Panel>
      <Tabs.Panel value="consent" pt="md">
        <ConsentTab id={c.id} />
      </Tabs.Panel>
      <Tabs.Panel value="duplicates" pt="md">
        <DuplicatesTab id={c.id} />
      </Tabs.Panel>
      <Tabs.Panel value="recommendations" pt="md">
        <RecommendationsTab id={c.id} />
      </Tabs.Panel>
    </Tabs>
  );
}

/** A cursor-paged list with "load more", shared by every tab. */
function usePaged<T>(key: unknown[], path: string, query: Record<string, string | number | undefined> = {}) {
  return useInfiniteQuery({
    queryKey: key,
    queryFn: ({ pageParam }) => get<Page<T>>(path, { ...query, limit: 25, cursor: pageParam ?? undefined }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
}

function PagedList<T>({ q, empty, render }: { q: ReturnType<typeof usePaged<T>>; empty: MessageKey; render: (items: T[]) => React.ReactNode }) {
  const { t } = useI18n();
  if (q.isPending) return <Loading />;
  if (q.error) return <ErrorAlert error={q.error} onRetry={() => void q.refetch()} />;
  const items = q.data.pages.flatMap((p) => p.data);
  if (items.length === 0) return <Empty>{t(empty)}</Empty>;
  return (
    <Stack gap="sm">
      {render(items)}
      {q.hasNextPage && (
        <Button variant="default" onClick={() => void q.fetchNextPage()} loading={q.isFetchingNextPage} style={{ alignSelf: 'center' }}>
          {t('prof.loadMore')}
        </Button>
      )}
    </Stack>
  );
}

interface TimelineEntry {
  id: string;
  type: string;
  occurred_at: string;
  summary: string | null;
}
function TimelineTab({ id }: { id: string }) {
  const f = useFormat();
  const q = usePaged<TimelineEntry>(['customer', id, 'timeline'], `/customers/${id}/timeline`);
  return (
    <PagedList
      q={q}
      empty="prof.noTimeline"
      render={(items) => (
        <Stack gap={6} component="ol" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
          {items.map((e) => (
            <Paper key={e.id} withBorder p="xs" component="li">
              <Group justify="space-between" wrap="nowrap" gap="xs">
                <Text size="sm">
                  <Badge size="xs" variant="light" mr={6}>
                    {e.type}
                  </Badge>
                  {e.summary}
                </Text>
                <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
                  {f.dateTime(e.occurred_at)}
                </Text>
              </Group>
            </Paper>
          ))}
        </Stack>
      )}
    />
  );
}

interface Order {
  id: string;
  status: string;
  total: number;
  refunded_amount: number;
  placed_at: string;
  items: { event_id: string; event_name: string | null; ticket_type: string | null; quantity: number; unit_price: number }[];
}
function OrdersTab({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const q = usePaged<Order>(['customer', id, 'orders'], `/customers/${id}/orders`);
  return (
    <PagedList
      q={q}
      empty="prof.noOrders"
      render={(orders) =>
        orders.map((o) => (
          <Paper key={o.id} withBorder p="sm">
            <Group justify="space-between">
              <Text fw={600} size="sm">
                {t('prof.order', { id: o.id })} · {f.dateTime(o.placed_at)}
              </Text>
              <Group gap={6}>
                <Badge variant="light">{o.status}</Badge>
                <Text fw={700}>{f.money(o.total)}</Text>
              </Group>
            </Group>
            {o.refunded_amount > 0 && (
              <Text size="xs" c="red.8">
                {t('prof.refunded', { amount: f.money(o.refunded_amount) })}
              </Text>
            )}
            <Table mt={4} fz="sm">
              <Table.Tbody>
                {o.items.map((it, i) => (
                  <Table.Tr key={i}>
                    <Table.Td>{it.event_name ?? it.event_id}</Table.Td>
                    <Table.Td>{it.ticket_type}</Table.Td>
                    <Table.Td ta="right">
                      {it.quantity} × {f.money(it.unit_price)}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Paper>
        ))
      }
    />
  );
}

interface Attendance {
  event_id: string;
  ticket_id: string | null;
  checked_in_at: string;
  event_name: string | null;
  venue: string | null;
  city: string | null;
}
function AttendanceTab({ id }: { id: string }) {
  const f = useFormat();
  const q = usePaged<Attendance>(['customer', id, 'attendance'], `/customers/${id}/attendance`);
  return (
    <PagedList
      q={q}
      empty="prof.noAttendance"
      render={(items) => (
        <div className="table-scroll">
          <Table striped>
            <Table.Tbody>
              {items.map((a, i) => (
                <Table.Tr key={`${a.event_id}-${a.ticket_id ?? i}`}>
                  <Table.Td>{a.event_name ?? a.event_id}</Table.Td>
                  <Table.Td>{[a.venue, a.city].filter(Boolean).join(', ')}</Table.Td>
                  <Table.Td>{f.dateTime(a.checked_in_at)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
    />
  );
}

const INTERACTION_TYPES = ['call', 'meeting', 'follow_up', 'email', 'support', 'sale', 'other'] as const;
const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;

function InteractionsTab({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const q = usePaged<Interaction>(['customer', id, 'interactions'], `/customers/${id}/interactions`);
  return (
    <Stack>
      {can.edit && <InteractionForm id={id} />}
      <PagedList
        q={q}
        empty="prof.noInteractions"
        render={(items) => (
          <Stack gap={6} component="ul" style={{ listStyle: 'none', padding: 0, margin: 0 }} aria-label={t('prof.tab.interactions')}>
            {items.map((i) => (
              <Paper key={i.id} withBorder p="xs" component="li">
                <Group justify="space-between" wrap="wrap" gap="xs">
                  <Group gap={6}>
                    <Badge variant="light">{t(`int.type.${i.type}` as MessageKey)}</Badge>
                    <Text size="sm" fw={600}>
                      {i.subject || '—'}
                    </Text>
                  </Group>
                  <Group gap={6}>
                    <Badge color={i.priority === 'urgent' || i.priority === 'high' ? 'red.8' : 'gray'} variant="outline">
                      {t(`int.priority.${i.priority}`)}
                    </Badge>
                    <Badge color={i.status === 'pending' ? 'orange.8' : 'teal.8'} variant="light">
                      {t(`int.status.${i.status}`)}
                    </Badge>
                    <Text size="xs" c="dimmed">
                      {f.dateTime(i.occurred_at)}
                    </Text>
                  </Group>
                </Group>
                {i.description && <Text size="sm">{i.description}</Text>}
                {i.follow_up_at && (
                  <Text size="xs" c="dimmed">
                    {t('int.due', { date: f.dateTime(i.follow_up_at) })}
                  </Text>
                )}
              </Paper>
            ))}
          </Stack>
        )}
      />
    </Stack>
  );
}

function InteractionForm({ id }: { id: string }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [type, setType] = useState<string>('call');
  const [subject, setSubject] = useState('');
  const [description, setDescription] = useState('');
  const [priority, setPriority] = useState<string>('medium');
  const [due, setDue] = useState('');
  const create = useMutation({
    mutationFn: () =>
      post<Interaction>(`/customers/${id}/interactions`, {
        type,
        subject: subject.trim() || undefined,
        description: description.trim() || undefined,
        priority,
        ...(due ? { follow_up_at: new Date(due).toISOString(), status: 'pending' } : {}),
      }),
    onSuccess: () => {
      setSubject('');
      setDescription('');
      setDue('');
      void qc.invalidateQueries({ queryKey: ['customer', id] });
      void qc.invalidateQueries({ queryKey: ['stats'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <Card withBorder component="form" onSubmit={submit} aria-labelledby="int-form-title">
      <Title order={3} size="h5" id="int-form-title" mb="xs">
        {t('int.add')}
      </Title>
      <SimpleGrid cols={{ base: 1, sm: 2, md: 4 }} spacing="sm">
        <Select label={t('int.type')} value={type} onChange={(v) => setType(v ?? 'call')} allowDeselect={false} data={INTERACTION_TYPES.map((x) => ({ value: x, label: t(`int.type.${x}`) }))} />
        <TextInput label={t('int.subject')} value={subject} onChange={(e) => setSubject(e.currentTarget.value)} required maxLength={500} />
        <Select label={t('int.priority')} value={priority} onChange={(v) => setPriority(v ?? 'medium')} allowDeselect={false} data={PRIORITIES.map((x) => ({ value: x, label: t(`int.priority.${x}`) }))} />
        <TextInput label={t('int.dueDate')} type="datetime-local" value={due} onChange={(e) => setDue(e.currentTarget.value)} />
      </SimpleGrid>
      <Textarea label={t('int.description')} mt="sm" autosize minRows={2} value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
      {create.error && <ErrorAlert error={create.error} />}
      <Group justify="end" mt="sm">
        <Button type="submit" loading={create.isPending}>
          {t('int.add')}
        </Button>
      </Group>
    </Card>
  );
}

interface Note {
  id: string;
  body: string;
  pinned: boolean;
  created_by: string | null;
  created_at: string;
}
function NotesTab({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const qc = useQueryClient();
  const q = usePaged<Note>(['customer', id, 'notes'], `/customers/${id}/notes`);
  const [body, setBody] = useState('');
  const [pinned, setPinned] = useState(false);
  const add = useMutation({
    mutationFn: () => post<Note>(`/customers/${id}/notes`, { body: body.trim(), pinned }),
    onSuccess: () => {
      setBody('');
      setPinned(false);
      void qc.invalidateQueries({ queryKey: ['customer', id, 'notes'] });
    },
  });
  return (
    <Stack>
      {can.edit && (
        <Card
          withBorder
          component="form"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            if (body.trim()) add.mutate();
          }}
        >
          <Textarea label={t('note.body')} required autosize minRows={2} value={body} onChange={(e) => setBody(e.currentTarget.value)} />
          <Group justify="space-between" mt="sm">
            <Checkbox label={t('note.pin')} checked={pinned} onChange={(e) => setPinned(e.currentTarget.checked)} />
            <Button type="submit" loading={add.isPending}>
              {t('note.add')}
            </Button>
          </Group>
          {add.error && <ErrorAlert error={add.error} />}
        </Card>
      )}
      <PagedList
        q={q}
        empty="prof.noNotes"
        render={(notes) =>
          notes.map((n) => (
            <Paper key={n.id} withBorder p="sm">
              <Group justify="space-between">
                <Text size="xs" c="dimmed">
                  {f.dateTime(n.created_at)} · {n.created_by}
                </Text>
                {n.pinned && <Badge size="xs">{t('note.pinned')}</Badge>}
              </Group>
              <Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>
                {n.body}
              </Text>
            </Paper>
          ))
        }
      />
    </Stack>
  );
}

function SegmentsTab({ c }: { c: Customer }) {
  const { t } = useI18n();
  const segments = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }) });
  if (c.segments.length === 0) return <Empty>{t('prof.noSegments')}</Empty>;
  const byId = new Map((segments.data?.data ?? []).map((s) => [s.id, s]));
  return (
    <Group gap="xs">
      {c.segments.map((sid) => {
        const s = byId.get(sid);
        return (
          <Badge key={sid} size="lg" variant="light" component={Link} to={`/segments/${sid}`} style={{ cursor: 'pointer' }}>
            {s?.name ?? sid}
          </Badge>
        );
      })}
    </Group>
  );
}

interface Loyalty {
  tier: string | null;
  points: number;
  points_earned: number;
  next_tier: string | null;
  points_to_next_tier: number | null;
  ledger: { id: string; points: number; reason: string; note: string | null; created_at: string }[];
}
function LoyaltyTab({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const q = useQuery({ queryKey: ['customer', id, 'loyalty'], queryFn: () => get<Loyalty>(`/customers/${id}/loyalty`) });
  return (
    <QueryView query={q}>
      {(l) => (
        <Stack>
          <SimpleGrid cols={{ base: 1, sm: 3 }}>
            <Metric label={t('loy.tier')} value={l.tier ?? '—'} />
            <Metric label={t('loy.points')} value={f.number(l.points)} />
            <Metric label={t('loy.earned')} value={f.number(l.points_earned)} />
          </SimpleGrid>
          {l.next_tier && l.points_to_next_tier != null ? (
            <div>
              <Text size="sm">{t('loy.next', { points: f.number(l.points_to_next_tier), tier: l.next_tier })}</Text>
              <Progress value={(100 * l.points_earned) / (l.points_earned + l.points_to_next_tier || 1)} aria-label={t('loy.next', { points: l.points_to_next_tier, tier: l.next_tier })} />
            </div>
          ) : (
            <Text size="sm">{t('loy.top')}</Text>
          )}
          <Title order={3} size="h5">
            {t('loy.ledger')}
          </Title>
          {l.ledger.length === 0 ? (
            <Empty>{t('prof.noLoyalty')}</Empty>
          ) : (
            <div className="table-scroll">
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t('common.created')}</Table.Th>
                    <Table.Th>{t('loy.reason')}</Table.Th>
                    <Table.Th ta="right">{t('loy.points')}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {l.ledger.map((e) => (
                    <Table.Tr key={e.id}>
                      <Table.Td>{f.dateTime(e.created_at)}</Table.Td>
                      <Table.Td>{e.note ? `${e.reason}: ${e.note}` : e.reason}</Table.Td>
                      <Table.Td ta="right">{e.points > 0 ? `+${f.number(e.points)}` : f.number(e.points)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </div>
          )}
        </Stack>
      )}
    </QueryView>
  );
}
