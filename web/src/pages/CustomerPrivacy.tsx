import { useState, type FormEvent } from 'react';
import { Alert, Badge, Button, Card, Checkbox, Group, Menu, Modal, Radio, Select, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router-dom';
import { API_BASE, get, post, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import { useSession } from '../session';
import { Empty, ErrorAlert, QueryView } from '../components/states';
import type { Customer } from '../types';

const CHANNELS = ['email', 'sms', 'phone', 'push'] as const;
const PURPOSES = ['marketing', 'transactional', 'profiling'] as const;

interface ConsentEvent {
  id: string;
  channel: string;
  purpose: string;
  granted: boolean;
  source: string;
  text_version: string | null;
  occurred_at: string;
  recorded_by: string | null;
}
interface Consent {
  current: ConsentEvent[];
  ledger: ConsentEvent[];
}

export function ConsentTab({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['customer', id, 'consent'], queryFn: () => get<Consent>(`/customers/${id}/consent`) });
  const [channel, setChannel] = useState<string>('email');
  const [purpose, setPurpose] = useState<string>('marketing');
  const [granted, setGranted] = useState('true');
  const [version, setVersion] = useState('');
  const record = useMutation({
    mutationFn: () =>
      post<Consent>(`/customers/${id}/consent`, { channel, purpose, granted: granted === 'true', source: 'admin_ui', ...(version.trim() ? { text_version: version.trim() } : {}) }),
    onSuccess: (d) => {
      qc.setQueryData(['customer', id, 'consent'], d);
      void qc.invalidateQueries({ queryKey: ['customer', id], exact: true });
      setVersion('');
    },
  });
  const label = (e: ConsentEvent) => `${t(`channel.${e.channel}` as MessageKey)} · ${t(`purpose.${e.purpose}` as MessageKey)}`;
  return (
    <Stack>
      {can.edit && (
        <Card
          withBorder
          component="form"
          aria-label={t('consent.record')}
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            record.mutate();
          }}
        >
          <Title order={3} size="h5" mb="xs">
            {t('consent.record')}
          </Title>
          <SimpleGrid cols={{ base: 1, sm: 2, md: 4 }}>
            <Select label={t('consent.channel')} value={channel} allowDeselect={false} onChange={(v) => setChannel(v ?? 'email')} data={CHANNELS.map((c) => ({ value: c, label: t(`channel.${c}`) }))} />
            <Select label={t('consent.purpose')} value={purpose} allowDeselect={false} onChange={(v) => setPurpose(v ?? 'marketing')} data={PURPOSES.map((p) => ({ value: p, label: t(`purpose.${p}`) }))} />
            <Radio.Group label={t('common.status')} value={granted} onChange={setGranted}>
              <Group mt={6}>
                <Radio value="true" label={t('consent.granted')} />
                <Radio value="false" label={t('consent.withdrawn')} />
              </Group>
            </Radio.Group>
            <TextInput label={t('consent.textVersion')} value={version} onChange={(e) => setVersion(e.currentTarget.value)} />
          </SimpleGrid>
          {record.error && <ErrorAlert error={record.error} />}
          <Group justify="end" mt="sm">
            <Button type="submit" loading={record.isPending}>
              {t('common.save')}
            </Button>
          </Group>
        </Card>
      )}
      <QueryView query={q}>
        {(d) =>
          d.ledger.length === 0 ? (
            <Empty>{t('consent.none')}</Empty>
          ) : (
            <>
              <Title order={3} size="h5">
                {t('consent.state')}
              </Title>
              <Group gap="xs">
                {d.current.map((e) => (
                  <Badge key={e.id} color={e.granted ? 'teal.8' : 'red.8'} variant="light" size="lg">
                    {label(e)}: {e.granted ? t('consent.granted') : t('consent.withdrawn')}
                  </Badge>
                ))}
              </Group>
              <Title order={3} size="h5">
                {t('consent.ledger')}
              </Title>
              <div className="table-scroll">
                <Table striped aria-label={t('consent.ledger')}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>{t('common.created')}</Table.Th>
                      <Table.Th>{t('consent.channel')}</Table.Th>
                      <Table.Th>{t('common.status')}</Table.Th>
                      <Table.Th>{t('consent.source')}</Table.Th>
                      <Table.Th>{t('consent.textVersion')}</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {d.ledger.map((e) => (
                      <Table.Tr key={e.id}>
                        <Table.Td>{f.dateTime(e.occurred_at)}</Table.Td>
                        <Table.Td>{label(e)}</Table.Td>
                        <Table.Td>{e.granted ? t('consent.granted') : t('consent.withdrawn')}</Table.Td>
                        <Table.Td title={e.recorded_by ? t('consent.by', { who: e.recorded_by }) : undefined}>{e.source}</Table.Td>
                        <Table.Td>{e.text_version ?? '—'}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </div>
            </>
          )
        }
      </QueryView>
    </Stack>
  );
}

/** Right of access (employees and admins) and right to erasure (admins, after confirmation). */
export function GdprActions({ c }: { c: Customer }) {
  const { t } = useI18n();
  const { can } = useSession();
  const [erasing, setErasing] = useState(false);
  if (!can.edit) return null;
  return (
    <Group gap="xs">
      <Menu withinPortal position="bottom-end">
        <Menu.Target>
          <Button variant="default" size="xs">
            {t('gdpr.export')}
          </Button>
        </Menu.Target>
        <Menu.Dropdown>
          <Menu.Item component="a" href={`${API_BASE}/customers/${c.id}/export?format=json`} download={`customer-${c.id}.json`}>
            {t('gdpr.exportJson')}
          </Menu.Item>
          <Menu.Item component="a" href={`${API_BASE}/customers/${c.id}/export?format=zip`} download={`customer-${c.id}.zip`}>
            {t('gdpr.exportZip')}
          </Menu.Item>
        </Menu.Dropdown>
      </Menu>
      {can.delete && (
        <Button color="red" variant="light" size="xs" onClick={() => setErasing(true)}>
          {t('gdpr.erase')}
        </Button>
      )}
      {erasing && <EraseModal c={c} onClose={() => setErasing(false)} />}
    </Group>
  );
}

function EraseModal({ c, onClose }: { c: Customer; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [sure, setSure] = useState(false);
  const [reason, setReason] = useState('');
  const erase = useMutation({
    mutationFn: () => post(`/customers/${c.id}/erase`, { confirm: true, reason: reason.trim() || null }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['customers'] });
      qc.removeQueries({ queryKey: ['customer', c.id] });
      navigate('/customers');
    },
  });
  return (
    <Modal opened onClose={onClose} title={t('gdpr.eraseTitle')} centered>
      <Stack>
        <Alert color="red">{t('gdpr.eraseWarning')}</Alert>
        <TextInput label={t('gdpr.eraseReason')} value={reason} onChange={(e) => setReason(e.currentTarget.value)} maxLength={500} />
        <Checkbox label={t('gdpr.eraseConfirm')} checked={sure} onChange={(e) => setSure(e.currentTarget.checked)} />
        {erase.error && <ErrorAlert error={erase.error} />}
        <Group justify="end">
          <Button variant="default" onClick={onClose}>
            {t('common.cancel')}
          </Button>
          <Button color="red" disabled={!sure} loading={erase.isPending} onClick={() => erase.mutate()}>
            {t('gdpr.erase')}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

export interface Summary {
  id: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  phone: string | null;
  city: string | null;
  date_of_birth: string | null;
}
export interface Duplicate {
  id: string;
  score: number;
  reasons: string[];
  customers: Summary[];
}
const MERGE_FIELDS = ['first_name', 'last_name', 'email', 'phone', 'city', 'date_of_birth'] as const;

/** Candidate duplicates of this customer; merging keeps this profile and takes chosen fields from the other. */
export function DuplicatesTab({ id }: { id: string }) {
  const { t } = useI18n();
  const [notice, setNotice] = useState<string | null>(null);
  const q = useQuery({ queryKey: ['customer', id, 'duplicates'], queryFn: () => get<Page<Duplicate>>('/duplicates', { customer_id: id, status: 'open', limit: 20 }) });
  return (
    <Stack>
      {notice && (
        <Alert color="teal" role="status">
          {notice}
        </Alert>
      )}
      <QueryView query={q}>
        {(d) =>
          d.data.length === 0 ? (
            <Empty>{t('dup.none')}</Empty>
          ) : (
            <Stack>
              {d.data.map((dup) => (
                <DuplicateCard key={dup.id} id={id} dup={dup} onMerged={setNotice} />
              ))}
            </Stack>
          )
        }
      </QueryView>
    </Stack>
  );
}

/** onMerged gets the message to show: the card itself leaves the list once the pair is merged. */
export function DuplicateCard({ id, dup, onMerged }: { id: string; dup: Duplicate; onMerged: (message: string) => void }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const qc = useQueryClient();
  const self = dup.customers.find((c) => c.id === id) ?? dup.customers[0];
  const other = dup.customers.find((c) => c.id !== self.id) ?? dup.customers[1];
  const [choice, setChoice] = useState<Record<string, string>>({});
  const merge = useMutation({
    mutationFn: () => {
      const fields = Object.fromEntries(Object.entries(choice).filter(([, who]) => who === other.id));
      return post<{ moved: Record<string, number> }>(`/customers/${self.id}/merge`, { merge_ids: [other.id], ...(Object.keys(fields).length ? { fields } : {}) });
    },
    onSuccess: (r) => {
      onMerged(t('dup.merged', { n: Object.values(r.moved).reduce((a, b) => a + b, 0) }));
      void qc.invalidateQueries({ queryKey: ['customer', id] });
      void qc.invalidateQueries({ queryKey: ['duplicates'] });
      void qc.invalidateQueries({ queryKey: ['customers'] });
    },
  });
  const dismiss = useMutation({
    mutationFn: () => post(`/duplicates/${dup.id}/dismiss`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['customer', id, 'duplicates'] });
      void qc.invalidateQueries({ queryKey: ['duplicates'] });
    },
  });
  const name = (c: Summary) => [c.first_name, c.last_name].filter(Boolean).join(' ') || c.email || c.id;
  return (
    <Card withBorder aria-label={`${t('dup.otherRecord')}: ${name(other)}`} component="section">
      <Group justify="space-between" mb="xs">
        <Group gap={6}>
          <Badge>{t('dup.score', { score: f.percent(dup.score, 0) })}</Badge>
          {dup.reasons.map((r) => (
            <Badge key={r} variant="outline" size="sm">
              {t(`dup.reason.${r}` as MessageKey)}
            </Badge>
          ))}
        </Group>
      </Group>
      <div className="table-scroll">
        <Table>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('dup.field')}</Table.Th>
              <Table.Th>{t('dup.thisRecord')}</Table.Th>
              <Table.Th>{t('dup.otherRecord')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {MERGE_FIELDS.map((field) => {
              const a = self[field];
              const b = other[field];
              const differs = a !== b && b != null;
              const chosen = choice[field] ?? self.id;
              const fieldName = t(`field.${field}` as MessageKey);
              return (
                <Table.Tr key={field}>
                  <Table.Th scope="row">{fieldName}</Table.Th>
                  {[self, other].map((c, i) => (
                    <Table.Td key={c.id}>
                      {differs && can.edit ? (
                        <Radio
                          name={`${dup.id}-${field}`}
                          checked={chosen === c.id}
                          onChange={() => setChoice({ ...choice, [field]: c.id })}
                          label={(i === 0 ? a : b) ?? '—'}
                          aria-label={t('dup.keep', { which: i === 0 ? t('dup.thisRecord') : t('dup.otherRecord'), field: fieldName })}
                        />
                      ) : (
                        <Text size="sm">{c[field] ?? '—'}</Text>
                      )}
                    </Table.Td>
                  ))}
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </div>
      {(merge.error || dismiss.error) && <ErrorAlert error={merge.error ?? dismiss.error} />}
      {can.edit && (
        <Group justify="end" mt="sm">
          <Button variant="default" onClick={() => dismiss.mutate()} loading={dismiss.isPending}>
            {t('dup.dismiss')}
          </Button>
          <Button onClick={() => merge.mutate()} loading={merge.isPending}>
            {t('dup.merge')}
          </Button>
        </Group>
      )}
    </Card>
  );
}
