import { useState, type FormEvent } from 'react';
import { Badge, Button, Card, Group, Modal, MultiSelect, SegmentedControl, SimpleGrid, Stack, Table, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, post, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import { useSession } from '../session';
import { Empty, ErrorAlert, QueryView } from '../components/states';
import type { Segment } from '../types';

type Status = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';
interface Campaign {
  id: string;
  name: string;
  channel: 'email' | 'sms';
  status: Status;
  segment_ids: string[];
  subject: string | null;
  created_at: string;
}
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
  links: { url: string; clicks: number; unique_clicks: number }[];
}
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
  const q = useQuery({ queryKey: ['campaigns'], queryFn: () => get<Page<Campaign>>('/campaigns', { limit: 100 }) });
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
                      </Text>
                    </Stack>
                    <Group gap="xs">
                      <Badge color={STATUS_COLOR[c.status]} variant="light">
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
        ...(channel === 'email' ? { subject: subject.trim() } : {}),
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
          <div>
            <Text size="sm" fw={500} mb={4} id="camp-channel">
              {t('camp.channel')}
            </Text>
            <SegmentedControl aria-labelledby="camp-channel" value={channel} onChange={(v) => setChannel(v as 'email' | 'sms')} data={[{ value: 'email', label: 'E-mail' }, { value: 'sms', label: 'SMS' }]} />
          </div>
          <MultiSelect label={t('camp.audience')} required data={data} value={segmentIds} onChange={setSegmentIds} searchable />
          <MultiSelect label={t('camp.exclude')} data={data} value={exclude} onChange={setExclude} searchable />
        </SimpleGrid>
        {segmentIds.length > 0 && (
          <Text size="sm" c="dimmed">
            {t('camp.audienceSize', { n: f.number(size) })}
          </Text>
        )}
        {channel === 'email' && <TextInput label={t('camp.subject')} required value={subject} onChange={(e) => setSubject(e.currentTarget.value)} />}
        <Textarea label={t('camp.content')} required autosize minRows={5} value={content} onChange={(e) => setContent(e.currentTarget.value)} styles={{ input: { fontFamily: 'monospace' } }} />
        {create.error && <ErrorAlert error={create.error} />}
        <Group justify="end">
          <Button variant="default" onClick={onDone}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" loading={create.isPending} disabled={!segmentIds.length}>
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
  const stats = useQuery({ queryKey: ['campaign', c.id, 'stats'], queryFn: () => get<Stats>(`/campaigns/${c.id}/stats`), refetchInterval: live ? 3000 : false });
  const messages = useQuery({ queryKey: ['campaign', c.id, 'messages'], queryFn: () => get<Page<Message>>('/messages', { campaign_id: c.id, limit: 50 }), refetchInterval: live ? 3000 : false });
  const [viewing, setViewing] = useState<string | null>(null);
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
      <QueryView query={stats}>
        {(s) => (
          <>
            <SimpleGrid cols={{ base: 2, sm: 4, lg: 8 }} spacing="xs">
              {(
                [
                  ['camp.recipients', f.number(s.recipients)],
                  ['camp.sent', f.number(s.sent)],
                  ['camp.delivered', f.number(s.delivered)],
                  ['camp.opens', f.number(s.unique_opens)],
                  ['camp.clicks', f.number(s.unique_clicks)],
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
            {s.links.length > 0 && (
              <Table aria-label={t('camp.links')} fz="sm">
                <Table.Tbody>
                  {s.links.map((l) => (
                    <Table.Tr key={l.url}>
                      <Table.Td style={{ wordBreak: 'break-all' }}>{l.url}</Table.Td>
                      <Table.Td ta="right">{f.number(l.unique_clicks)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </>
        )}
      </QueryView>
      <Title order={4} size="h6">
        {t('camp.messages')}
      </Title>
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
