import { useMemo, useState, type FormEvent } from 'react';
import { Alert, Anchor, Badge, Button, Card, Checkbox, Group, Loader, SimpleGrid, Stack, Table, Text, Textarea, TextInput, Title } from '@mantine/core';
import { AreaChart } from '@mantine/charts';
import { useDebouncedValue } from '@mantine/hooks';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { API_BASE, ApiError, get, post, put, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n } from '../i18n';
import { useSession } from '../session';
import { Empty, ErrorAlert, Loading, QueryView } from '../components/states';
import { RuleBuilder } from '../segments/RuleBuilder';
import { fromApiRules, hasEmptyGroup, hasMissingValue, newGroup, newLeaf, toApiRules, type GroupNode } from '../segments/fields';
import type { Customer, Segment } from '../types';

export default function SegmentPage() {
  const { id } = useParams();
  const segment = useQuery({ queryKey: ['segment', id], queryFn: () => get<Segment>(`/segments/${id}`), enabled: !!id });
  if (!id) return <SegmentEditor />;
  return <QueryView query={segment}>{(s) => <SegmentDetail segment={s} />}</QueryView>;
}

function SegmentDetail({ segment }: { segment: Segment }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const [editing, setEditing] = useState(false);
  return (
    <Stack>
      <Anchor component={Link} to="/segments" size="sm">
        ← {t('seg.title')}
      </Anchor>
      <Group justify="space-between">
        <Stack gap={2}>
          <Title order={2}>{segment.name}</Title>
          {segment.description && <Text c="dimmed">{segment.description}</Text>}
        </Stack>
        <Group gap="xs">
          <Badge variant="light">{t(`seg.type.${segment.type}`)}</Badge>
          <Badge size="lg">{t('seg.matches', { n: f.number(segment.customer_count) })}</Badge>
          {can.edit && (
            <Button component="a" variant="default" href={`${API_BASE}/segments/${segment.id}/export`} download>
              {t('seg.export')}
            </Button>
          )}
          {can.edit && segment.type === 'dynamic' && !editing && (
            <Button variant="light" onClick={() => setEditing(true)}>
              {t('seg.edit')}
            </Button>
          )}
        </Group>
      </Group>
      {editing ? <SegmentEditor existing={segment} onDone={() => setEditing(false)} /> : segment.type === 'dynamic' && <ReadOnlyRules segment={segment} />}
      <SizeChart segment={segment} />
      <Members segment={segment} />
    </Stack>
  );
}

function ReadOnlyRules({ segment }: { segment: Segment }) {
  const { t } = useI18n();
  const segments = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }) });
  const tree = useMemo(() => fromApiRules(segment.rules), [segment.rules]);
  return (
    <Card withBorder>
      <Title order={3} size="h5" mb="xs">
        {t('seg.rules')}
      </Title>
      <RuleBuilder value={tree} onChange={() => undefined} segments={segments.data?.data ?? []} readOnly />
    </Card>
  );
}

function SegmentEditor({ existing, onDone }: { existing?: Segment; onDone?: () => void }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState(existing?.name ?? '');
  const [description, setDescription] = useState(existing?.description ?? '');
  const [autoUpdate, setAutoUpdate] = useState(existing?.auto_update ?? true);
  const [tree, setTree] = useState<GroupNode>(() => (existing ? fromApiRules(existing.rules) : newGroup('and', [newLeaf('total_spend')])));
  const segments = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }) });
  const rules = useMemo(() => toApiRules(tree), [tree]);
  const [debouncedRules] = useDebouncedValue(rules, 400);
  const incomplete = hasEmptyGroup(tree);
  const missingValue = hasMissingValue(tree);
  const preview = useQuery({
    queryKey: ['segments', 'preview', debouncedRules],
    queryFn: () => post<{ count: number; sample: Customer[] }>('/segments/preview', { rules: debouncedRules }),
    enabled: !incomplete && !missingValue,
    retry: false,
    staleTime: 10_000,
  });
  const save = useMutation({
    mutationFn: () => {
      const body = { name: name.trim(), description: description.trim() || null, type: 'dynamic', rules, auto_update: autoUpdate };
      return existing ? put<Segment>(`/segments/${existing.id}`, body) : post<Segment>('/segments', body);
    },
    onSuccess: (s) => {
      void qc.invalidateQueries({ queryKey: ['segments'] });
      void qc.invalidateQueries({ queryKey: ['segment', s.id] });
      if (existing) onDone?.();
      else navigate(`/segments/${s.id}`);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!incomplete) save.mutate();
  };
  const previewError = preview.error instanceof ApiError ? preview.error : null;
  return (
    <Stack component="form" onSubmit={submit}>
      {!existing && <Title order={2}>{t('seg.new')}</Title>}
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <TextInput label={t('seg.name')} required maxLength={200} value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <Textarea label={t('seg.description')} autosize minRows={1} value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
      </SimpleGrid>
      <Checkbox label={t('seg.autoUpdate')} checked={autoUpdate} onChange={(e) => setAutoUpdate(e.currentTarget.checked)} />
      <Title order={3} size="h5">
        {t('seg.rules')}
      </Title>
      <RuleBuilder value={tree} onChange={setTree} segments={(segments.data?.data ?? []).filter((s) => s.id !== existing?.id)} />
      <Card withBorder aria-live="polite" aria-label={t('seg.preview')}>
        <Group justify="space-between">
          <Title order={3} size="h5">
            {t('seg.preview')}
          </Title>
          {preview.isFetching ? (
            <Group gap={6}>
              <Loader size="xs" />
              <Text size="sm">{t('seg.previewing')}</Text>
            </Group>
          ) : (
            preview.data &&
            !incomplete &&
            !missingValue && (
              <Badge size="lg" data-testid="segment-preview-count">
                {t('seg.matches', { n: f.number(preview.data.count) })}
              </Badge>
            )
          )}
        </Group>
        {(incomplete || missingValue) && (
          <Text size="sm" c="dimmed" mt="xs">
            {t(incomplete ? 'rule.emptyGroup' : 'seg.fillValues')}
          </Text>
        )}
        {previewError && !incomplete && !missingValue && (
          <Alert color="orange" mt="xs" role="alert">
            {previewError.message}
          </Alert>
        )}
        {preview.data && !incomplete && !missingValue && preview.data.sample.length > 0 && (
          <Text size="sm" mt="xs">
            {t('seg.sample')}:{' '}
            {preview.data.sample.map((c, i) => (
              <span key={c.id}>
                {i > 0 && ', '}
                <Anchor component={Link} to={`/customers/${c.id}`} size="sm">
                  {c.name || c.email || c.id}
                </Anchor>
              </span>
            ))}
          </Text>
        )}
      </Card>
      {save.error && <ErrorAlert error={save.error} />}
      {can.edit && (
        <Group justify="end">
          {existing && (
            <Button variant="default" onClick={onDone}>
              {t('common.cancel')}
            </Button>
          )}
          <Button type="submit" loading={save.isPending} disabled={incomplete || !name.trim()}>
            {t('common.save')}
          </Button>
        </Group>
      )}
    </Stack>
  );
}

interface SegmentAnalytics {
  series: { date: string; size: number; entered: number; exited: number }[];
}
function SizeChart({ segment }: { segment: Segment }) {
  const { t } = useI18n();
  const f = useFormat();
  const q = useQuery({ queryKey: ['segment', segment.id, 'analytics'], queryFn: () => get<SegmentAnalytics>(`/segments/${segment.id}/analytics`, { days: 90 }) });
  return (
    <Card withBorder>
      <Title order={3} size="h5" mb="sm">
        {t('seg.size')}
      </Title>
      <QueryView query={q}>
        {(d) =>
          d.series.length === 0 ? (
            <Empty />
          ) : (
            <AreaChart
              h={200}
              data={d.series.map((p) => ({ date: f.date(p.date), size: p.size, entered: p.entered, exited: p.exited }))}
              dataKey="date"
              series={[
                { name: 'size', label: t('seg.count'), color: 'indigo.6' },
                { name: 'entered', label: t('dash.entered'), color: 'teal.6' },
                { name: 'exited', label: t('dash.exited'), color: 'red.6' },
              ]}
              withDots={false}
              valueFormatter={(v) => f.number(v)}
            />
          )
        }
      </QueryView>
    </Card>
  );
}

function Members({ segment }: { segment: Segment }) {
  const { t } = useI18n();
  const f = useFormat();
  const q = useInfiniteQuery({
    queryKey: ['segment', segment.id, 'members'],
    queryFn: ({ pageParam }) => get<Page<Customer>>(`/segments/${segment.id}/customers`, { limit: 25, cursor: pageParam ?? undefined }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const items = q.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <Card withBorder>
      <Title order={3} size="h5" mb="sm">
        {t('seg.members')}
      </Title>
      {q.isPending ? (
        <Loading />
      ) : q.error ? (
        <ErrorAlert error={q.error} onRetry={() => void q.refetch()} />
      ) : items.length === 0 ? (
        <Empty>{t('seg.noMembers')}</Empty>
      ) : (
        <div className="table-scroll">
          <Table striped aria-label={t('seg.members')}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('cust.col.name')}</Table.Th>
                <Table.Th>{t('cust.col.email')}</Table.Th>
                <Table.Th ta="right">{t('cust.col.spend')}</Table.Th>
                <Table.Th>{t('cust.col.lastPurchase')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((c) => (
                <Table.Tr key={c.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/customers/${c.id}`}>
                      {c.name || c.email || c.id}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>{c.email ?? '—'}</Table.Td>
                  <Table.Td ta="right">{f.money(c.metrics.total_spend)}</Table.Td>
                  <Table.Td>{f.date(c.metrics.last_purchase)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
      {q.hasNextPage && (
        <Group justify="center" mt="sm">
          <Button variant="default" onClick={() => void q.fetchNextPage()} loading={q.isFetchingNextPage}>
            {t('prof.loadMore')}
          </Button>
        </Group>
      )}
    </Card>
  );
}
