import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Badge, Button, Card, Group, Modal, MultiSelect, NumberInput, Progress, SegmentedControl, Select, SimpleGrid, Stack, Switch, Table, Text, Textarea, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { AreaChart } from '@mantine/charts';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, post, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import { useSession } from '../session';
import { Empty, ErrorAlert, QueryView } from '../components/states';
import { LabeledSegmented } from '../components/LabeledSegmented';
import type { Segment } from '../types';
import TemplatesPanel from './TemplatesPanel';

type Status = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';
interface Campaign {
  id: string;
  name: string;
  channel: 'email' | 'sms';
  status: Status;
  segment_ids: string[];
  subject: string | null;
  ab_test: { subjects: string[]; split_percent: number; metric: string; wait_hours: number } | null;
  send_at: string | null;
  created_at: string;
}
type AbMetric = 'open' | 'click';
interface Figures {
  recipients: number;
  sent: number;
  delivered: number;
  unique_opens: number;
  unique_clicks: number;
  open_rate: number;
  ctr: number;
  unsubscribes: number;
}
interface Stats extends Figures {
  conversions: number;
  revenue: number;
  links: { url: string; clicks: number; unique_clicks: number }[];
  variants: (Figures & { variant: string; subject: string; winner: boolean; conversions: number })[];
  over_time: { bucket: string; sent: number; opens: number; clicks: number }[];
}
type Interval = 'hour' | 'day';
interface Message {
  id: string;
  to: string | null;
  status: string;
  reason: string | null;
  subject: string | null;
  created_at: string;
  sent_at: string | null;
}

const STATUS_COLOR: Record<Status, string> = { draft: 'gray', scheduled: 'blue', sending: 'orange', paused: 'yellow', sent: 'teal', cancelled: 'red' };

export default function CampaignsPage() {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  // While a campaign is sending, its status is polled so the list shows when it has finished.
  const q = useQuery({
    queryKey: ['campaigns'],
    queryFn: () => get<Page<Campaign>>('/campaigns', { limit: 100 }),
    refetchInterval: (query) => (query.state.data?.data.some((c) => c.status === 'sending') ? 3000 : false),
  });
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('camp.title')}</Title>
        {can.edit && !creating && <Button onClick={() => setCreating(true)}>{t('camp.new')}</Button>}
      </Group>
      {creating && <CampaignForm onDone={() => setCreating(false)} />}
      <QueryView query={q}>
        {(d) =>
          d.data.length === 0 ? (
            <Empty>{t('camp.empty')}</Empty>
          ) : (
            <Stack gap="xs">
              {d.data.map((c) => (
                <Card key={c.id} withBorder p="sm" component="section" aria-label={c.name}>
                  <Group justify="space-between" wrap="wrap">
                    <Stack gap={0}>
                      <Text fw={600}>{c.name}</Text>
                      <Text size="xs" c="dimmed">
                        {c.channel.toUpperCase()} · {c.subject ?? '—'} · {f.dateTime(c.created_at)}
                        {c.status === 'scheduled' && c.send_at ? ` · ${t('camp.scheduledFor', { when: f.dateTime(c.send_at) })}` : ''}
                      </Text>
                      {c.ab_test && (
                        <Text size="xs" c="dimmed">
                          {t('camp.abSummary', {
                            split: f.number(c.ab_test.split_percent),
                            metric: t(c.ab_test.metric === 'click' ? 'camp.metric.click' : 'camp.metric.open'),
                            hours: f.number(c.ab_test.wait_hours),
                          })}{' '}
                          · A: {c.ab_test.subjects[0]} · B: {c.ab_test.subjects[1]}
                        </Text>
                      )}
                    </Stack>
                    <Group gap="xs">
                      <Badge color={STATUS_COLOR[c.status]} variant="light" aria-label={`${t('common.status')}: ${t(`camp.status.${c.status}` as MessageKey)}`}>
                        {t(`camp.status.${c.status}` as MessageKey)}
                      </Badge>
                      <Button size="xs" variant="default" aria-expanded={open === c.id} onClick={() => setOpen(open === c.id ? null : c.id)}>
                        {t('camp.details')}
                      </Button>
                    </Group>
                  </Group>
                  {open === c.id && <CampaignDetail c={c} />}
                </Card>
              ))}
            </Stack>
          )
        }
      </QueryView>
      <TemplatesPanel />
    </Stack>
  );
}

function CampaignForm({ onDone }: { onDone: () => void }) {
  const { t } = useI18n();
  const f = useFormat();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [channel, setChannel] = useState<'email' | 'sms'>('email');
  const [segmentIds, setSegmentIds] = useState<string[]>([]);
  const [exclude, setExclude] = useState<string[]>([]);
  const [subject, setSubject] = useState('');
  // A/B subject test (e-mail only), as POST /campaigns takes it: two subjects, the share of the
  // audience in the test groups (2–100 %), the winner metric and the wait before it is picked.
  const [ab, setAb] = useState(false);
  const [subjectA, setSubjectA] = useState('');
  const [subjectB, setSubjectB] = useState('');
  const [split, setSplit] = useState<number | string>(20);
  const [metric, setMetric] = useState<AbMetric>('open');
  const [waitHours, setWaitHours] = useState<number | string>(4);
  const abOn = ab && channel === 'email';
  const splitOk = typeof split === 'number' && Number.isInteger(split) && split >= 2 && split <= 100;
  const waitOk = typeof waitHours === 'number' && waitHours >= 0 && waitHours <= 720;
  const abOk = !abOn || (subjectA.trim() !== '' && subjectB.trim() !== '' && splitOk && waitOk);
  const [content, setContent] = useState('<p>Hello {{ customer.first_name }},</p>\n<p>…</p>\n<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>');
  const segments = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }) });
  const all = segments.data?.data ?? [];
  const size = all.filter((s) => segmentIds.includes(s.id)).reduce((n, s) => n + s.customer_count, 0);
  const create = useMutation({
    mutationFn: () =>
      post<Campaign>('/campaigns', {
        name: name.trim(),
        channel,
        segment_ids: segmentIds,
        ...(exclude.length ? { exclude_segment_ids: exclude } : {}),
        ...(channel === 'email' && !abOn ? { subject: subject.trim() } : {}),
        ...(abOn
          ? { ab_test: { subjects: [subjectA.trim(), subjectB.trim()], split_percent: split as number, metric, wait_hours: waitHours as number } }
          : {}),
        content,
      }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['campaigns'] });
      onDone();
    },
  });
  const data = all.map((s) => ({ value: s.id, label: `${s.name} (${f.number(s.customer_count)})` }));
  return (
    <Card
      withBorder
      component="form"
      aria-label={t('camp.new')}
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <Stack>
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          <TextInput label={t('camp.name')} required value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <LabeledSegmented label={t('camp.channel')} value={channel} onChange={setChannel} data={[{ value: 'email', label: 'E-mail' }, { value: 'sms', label: 'SMS' }]} />
          <MultiSelect label={t('camp.audience')} required data={data} value={segmentIds} onChange={setSegmentIds} searchable />
          <MultiSelect label={t('camp.exclude')} data={data} value={exclude} onChange={setExclude} searchable />
        </SimpleGrid>
        {segmentIds.length > 0 && (
          <Text size="sm" c="dimmed">
            {t('camp.audienceSize', { n: f.number(size) })}
          </Text>
        )}
        {channel === 'email' && (
          <Switch label={t('camp.abTest')} checked={ab} onChange={(e) => setAb(e.currentTarget.checked)} />
        )}
        {channel === 'email' && !abOn && <TextInput label={t('camp.subject')} required value={subject} onChange={(e) => setSubject(e.currentTarget.value)} />}
        {abOn && (
          <Card withBorder p="sm" component="fieldset" aria-label={t('camp.abTest')} style={{ margin: 0 }}>
            <Text size="xs" c="dimmed" mb="xs">
              {t('camp.abHint')}
            </Text>
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <TextInput label={t('camp.subjectA')} required maxLength={500} value={subjectA} onChange={(e) => setSubjectA(e.currentTarget.value)} />
              <TextInput label={t('camp.subjectB')} required maxLength={500} value={subjectB} onChange={(e) => setSubjectB(e.currentTarget.value)} />
              <NumberInput
                label={t('camp.split')}
                description={t('camp.splitHint')}
                required
                min={2}
                max={100}
                step={5}
                allowDecimal={false}
                suffix=" %"
                value={split}
                onChange={setSplit}
                error={splitOk ? undefined : '2–100'}
              />
              <NumberInput
                label={t('camp.wait')}
                required
                min={0}
                max={720}
                value={waitHours}
                onChange={setWaitHours}
                error={waitOk ? undefined : '0–720'}
              />
              <LabeledSegmented
                label={t('camp.metric')}
                value={metric}
                onChange={setMetric}
                data={[
                  { value: 'open', label: t('camp.metric.open') },
                  { value: 'click', label: t('camp.metric.click') },
                ]}
              />
            </SimpleGrid>
          </Card>
        )}
        <Textarea label={t('camp.content')} required autosize minRows={5} value={content} onChange={(e) => setContent(e.currentTarget.value)} styles={{ input: { fontFamily: 'monospace' } }} />
        {create.error && <ErrorAlert error={create.error} />}
        <Group justify="end">
          <Button variant="default" onClick={onDone}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" loading={create.isPending} disabled={!segmentIds.length || !abOk}>
            {t('camp.saveDraft')}
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function CampaignDetail({ c }: { c: Campaign }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const qc = useQueryClient();
  const live = c.status === 'sending';
  const [interval, setStatsInterval] = useState<Interval>('hour');
  const stats = useQuery({
    queryKey: ['campaign', c.id, 'stats', interval],
    queryFn: () => get<Stats>(`/campaigns/${c.id}/stats`, { interval }),
    refetchInterval: live ? 3000 : false,
    placeholderData: keepPreviousData,
  });
  const [msgStatus, setMsgStatus] = useState<string | null>(null);
  const messages = useQuery({
    queryKey: ['campaign', c.id, 'messages', msgStatus],
    queryFn: () => get<Page<Message>>('/messages', { campaign_id: c.id, limit: 50, ...(msgStatus ? { status: msgStatus } : {}) }),
    refetchInterval: live ? 3000 : false,
  });
  const [viewing, setViewing] = useState<string | null>(null);
  // Polling stops when sending ends, so the last batch's figures and messages are fetched once more.
  const lastStatus = useRef(c.status);
  useEffect(() => {
    if (lastStatus.current !== c.status) void qc.invalidateQueries({ queryKey: ['campaign', c.id] });
    lastStatus.current = c.status;
  }, [c.status, c.id, qc]);
  const act = useMutation({
    mutationFn: (action: 'send' | 'pause' | 'resume' | 'cancel') => post(`/campaigns/${c.id}/${action}`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['campaigns'] });
      void qc.invalidateQueries({ queryKey: ['campaign', c.id] });
    },
  });
  const actions: { action: 'send' | 'pause' | 'resume' | 'cancel'; label: MessageKey; when: Status[]; color?: string }[] = [
    { action: 'send', label: 'camp.send', when: ['draft', 'scheduled'] },
    { action: 'pause', label: 'camp.pause', when: ['sending', 'scheduled'] },
    { action: 'resume', label: 'camp.resume', when: ['paused'] },
    { action: 'cancel', label: 'camp.cancel', when: ['draft', 'scheduled', 'paused', 'sending'], color: 'red' },
  ];
  return (
    <Stack mt="sm" gap="sm">
      {can.edit && (
        <Group gap="xs">
          {actions
            .filter((a) => a.when.includes(c.status))
            .map((a) => (
              <Button key={a.action} size="xs" variant={a.action === 'send' ? 'filled' : 'light'} color={a.color} loading={act.isPending && act.variables === a.action} onClick={() => act.mutate(a.action)}>
                {t(a.label)}
              </Button>
            ))}
        </Group>
      )}
      {act.error && <ErrorAlert error={act.error} />}
      {can.edit && c.status === 'draft' && <ScheduleForm id={c.id} />}
      <QueryView query={stats}>
        {(s) => (
          <>
            <Funnel s={s} />
            <SimpleGrid cols={{ base: 2, sm: 4 }} spacing="xs">
              {(
                [
                  ['camp.recipients', f.number(s.recipients)],
                  ['camp.openRate', f.percent(s.open_rate)],
                  ['camp.ctr', f.percent(s.ctr)],
                  ['camp.unsubscribes', f.number(s.unsubscribes)],
                ] as [MessageKey, string][]
              ).map(([label, value]) => (
                <Card key={label} withBorder p="xs">
                  <Text size="xs" c="dimmed">
                    {t(label)}
                  </Text>
                  <Text fw={700}>{value}</Text>
                </Card>
              ))}
            </SimpleGrid>
            <OverTime s={s} interval={interval} onInterval={setStatsInterval} />
            {s.variants.length > 0 && (
              <div className="table-scroll">
                <Table fz="sm" aria-label={t('camp.variants')}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>{t('camp.variant')}</Table.Th>
                      <Table.Th>{t('camp.subject')}</Table.Th>
                      <Table.Th ta="right">{t('camp.sent')}</Table.Th>
                      <Table.Th ta="right">{t('camp.opens')}</Table.Th>
                      <Table.Th ta="right">{t('camp.clicks')}</Table.Th>
                      <Table.Th ta="right">{t('camp.openRate')}</Table.Th>
                      <Table.Th ta="right">{t('camp.ctr')}</Table.Th>
                      <Table.Th ta="right">{t('camp.conversions')}</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {s.variants.map((v) => (
                      <Table.Tr key={v.variant}>
                        <Table.Td>
                          {v.variant}{' '}
                          {v.winner && (
                            <Badge size="xs" color="teal">
                              {t('camp.winner')}
                            </Badge>
                          )}
                        </Table.Td>
                        <Table.Td>{v.subject}</Table.Td>
                        <Table.Td ta="right">{f.number(v.sent)}</Table.Td>
                        <Table.Td ta="right">{f.number(v.unique_opens)}</Table.Td>
                        <Table.Td ta="right">{f.number(v.unique_clicks)}</Table.Td>
                        <Table.Td ta="right">{f.percent(v.open_rate)}</Table.Td>
                        <Table.Td ta="right">{f.percent(v.ctr)}</Table.Td>
                        <Table.Td ta="right">{f.number(v.conversions)}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </div>
            )}
            {s.links.length > 0 && (
              <div className="table-scroll">
                <Table fz="sm" aria-label={t('camp.links')}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>{t('camp.link')}</Table.Th>
                      <Table.Th ta="right">{t('camp.linkClicks')}</Table.Th>
                      <Table.Th ta="right">{t('camp.clicks')}</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {s.links.map((l) => (
                      <Table.Tr key={l.url}>
                        <Table.Td style={{ wordBreak: 'break-all' }}>{l.url}</Table.Td>
                        <Table.Td ta="right">{f.number(l.clicks)}</Table.Td>
                        <Table.Td ta="right">{f.number(l.unique_clicks)}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </div>
            )}
          </>
        )}
      </QueryView>
      <Group justify="space-between" align="end" wrap="wrap">
        <Title order={4} size="h6">
          {t('camp.messages')}
        </Title>
        <Select
          size="xs"
          label={t('camp.messageStatus')}
          placeholder={t('common.all')}
          clearable
          value={msgStatus}
          onChange={setMsgStatus}
          data={['sent', 'queued', 'sending', 'failed', 'suppressed', 'skipped']}
          w={160}
        />
      </Group>
      <QueryView query={messages}>
        {(m) =>
          m.data.length === 0 ? (
            <Empty>{t('camp.noMessages')}</Empty>
          ) : (
            <div className="table-scroll">
              <Table striped fz="sm" aria-label={t('camp.messages')}>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t('camp.to')}</Table.Th>
                    <Table.Th>{t('camp.subject')}</Table.Th>
                    <Table.Th>{t('common.status')}</Table.Th>
                    <Table.Th>{t('common.created')}</Table.Th>
                    <Table.Th />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {m.data.map((msg) => (
                    <Table.Tr key={msg.id}>
                      <Table.Td>{msg.to ?? '—'}</Table.Td>
                      <Table.Td>{msg.subject ?? '—'}</Table.Td>
                      <Table.Td title={msg.reason ?? undefined}>{msg.status}</Table.Td>
                      <Table.Td>{f.dateTime(msg.sent_at ?? msg.created_at)}</Table.Td>
                      <Table.Td>
                        <Button size="compact-xs" variant="subtle" onClick={() => setViewing(msg.id)}>
                          {t('camp.view')}
                        </Button>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </div>
          )
        }
      </QueryView>
      {viewing && <MessageView id={viewing} onClose={() => setViewing(null)} />}
    </Stack>
  );
}

/** One message as the recipient got it; the HTML renders in a sandboxed frame (no scripts, no same-origin). */
function MessageView({ id, onClose }: { id: string; onClose: () => void }) {
  const { t } = useI18n();
  const q = useQuery({ queryKey: ['message', id], queryFn: () => get<Message & { html: string | null; text: string | null }>(`/messages/${id}`) });
  return (
    <Modal opened onClose={onClose} size="xl" title={q.data?.subject ?? t('camp.messages')}>
      <QueryView query={q}>
        {(m) =>
          m.html ? (
            <iframe title={m.subject ?? 'message'} sandbox="" srcDoc={m.html} style={{ width: '100%', height: '60vh', border: '1px solid #ddd' }} />
          ) : (
            <Text style={{ whiteSpace: 'pre-wrap' }}>{m.text ?? '—'}</Text>
          )
        }
      </QueryView>
    </Modal>
  );
}

/** Messages sent, opens and clicks (every one, not only the first per recipient) per hour or day. */
function OverTime({ s, interval, onInterval }: { s: Stats; interval: Interval; onInterval: (i: Interval) => void }) {
  const { t } = useI18n();
  const f = useFormat();
  const label = (iso: string) => (interval === 'hour' ? f.dateTime(iso) : f.date(iso));
  const rows = s.over_time.map((b) => ({ when: label(b.bucket), sent: b.sent, opens: b.opens, clicks: b.clicks }));
  return (
    <Card withBorder p="xs" component="section" aria-label={t('camp.overTime')}>
      <Group justify="space-between" gap="xs" mb="xs" wrap="wrap">
        <Title order={4} size="h6">
          {t('camp.overTime')}
        </Title>
        <SegmentedControl
          size="xs"
          aria-label={t('camp.interval')}
          value={interval}
          onChange={(v) => onInterval(v as Interval)}
          data={[
            { value: 'hour', label: t('camp.byHour') },
            { value: 'day', label: t('camp.byDay') },
          ]}
        />
      </Group>
      {rows.length === 0 ? (
        <Empty>{t('camp.noActivity')}</Empty>
      ) : (
        <>
          <div aria-hidden>
            <AreaChart
              h={200}
              data={rows}
              dataKey="when"
              series={[
                { name: 'sent', label: t('camp.sent'), color: 'gray.6' },
                { name: 'opens', label: t('camp.allOpens'), color: 'indigo.6' },
                { name: 'clicks', label: t('camp.allClicks'), color: 'teal.6' },
              ]}
              withLegend
              valueFormatter={(v) => f.number(v)}
              yAxisProps={{ allowDecimals: false, width: 40 }}
            />
          </div>
          {/* the chart's figures for screen readers */}
          <VisuallyHidden>
            <Table aria-label={t('camp.overTime')}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('camp.interval')}</Table.Th>
                  <Table.Th>{t('camp.sent')}</Table.Th>
                  <Table.Th>{t('camp.allOpens')}</Table.Th>
                  <Table.Th>{t('camp.allClicks')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((r) => (
                  <Table.Tr key={r.when}>
                    <Table.Td>{r.when}</Table.Td>
                    <Table.Td>{f.number(r.sent)}</Table.Td>
                    <Table.Td>{f.number(r.opens)}</Table.Td>
                    <Table.Td>{f.number(r.clicks)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </VisuallyHidden>
        </>
      )}
    </Card>
  );
}

/** sent → delivered → opened → clicked → converted, each bar relative to the messages sent. */
function Funnel({ s }: { s: Stats }) {
  const { t } = useI18n();
  const f = useFormat();
  const steps: [MessageKey, number][] = [
    ['camp.sent', s.sent],
    ['camp.delivered', s.delivered],
    ['camp.opens', s.unique_opens],
    ['camp.clicks', s.unique_clicks],
    ['camp.conversions', s.conversions],
  ];
  return (
    <Stack gap={4} role="list" aria-label={t('camp.funnel')}>
      {steps.map(([label, n]) => {
        const share = s.sent > 0 ? n / s.sent : 0;
        return (
          <div key={label} role="listitem" aria-label={`${t(label)}: ${f.number(n)}`}>
            <Group justify="space-between" gap="xs" wrap="nowrap">
              <Text size="sm">{t(label)}</Text>
              <Text size="sm" fw={600}>
                {f.number(n)} <span style={{ fontWeight: 400, color: 'var(--mantine-color-dimmed)' }}>{f.percent(share)}</span>
              </Text>
            </Group>
            <Progress value={share * 100} size="sm" aria-hidden />
          </div>
        );
      })}
    </Stack>
  );
}

/** Schedules a draft for a local date and time (converted to an instant by the browser). */
function ScheduleForm({ id }: { id: string }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [when, setWhen] = useState('');
  const schedule = useMutation({
    mutationFn: () => post(`/campaigns/${id}/schedule`, { send_at: new Date(when).toISOString() }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['campaigns'] }),
  });
  return (
    <form
      aria-label={t('camp.schedule')}
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        if (when) schedule.mutate();
      }}
    >
      <Group gap="xs" align="end" wrap="wrap">
        <TextInput type="datetime-local" label={t('camp.sendAt')} required value={when} onChange={(e) => setWhen(e.currentTarget.value)} size="xs" />
        <Button type="submit" size="xs" variant="light" loading={schedule.isPending} disabled={!when}>
          {t('camp.schedule')}
        </Button>
      </Group>
      {schedule.error && <ErrorAlert error={schedule.error} />}
    </form>
  );
}
