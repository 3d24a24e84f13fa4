import { useState } from 'react';
import { Button, Code, Collapse, Group, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useInfiniteQuery } from '@tanstack/react-query';
import { get, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n } from '../i18n';
import { Empty, ErrorAlert, Loading } from '../components/states';

interface AuditEntry {
  id: string;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: unknown;
  after: unknown;
  created_at: string;
}

const FILTERS = ['actor', 'action', 'entity_type', 'entity_id', 'from', 'to'] as const;
type Filter = (typeof FILTERS)[number];

export default function AuditPage() {
  const { t } = useI18n();
  const f = useFormat();
  const [filters, setFilters] = useState<Record<Filter, string>>({ actor: '', action: '', entity_type: '', entity_id: '', from: '', to: '' });
  const [debounced] = useDebouncedValue(filters, 400);
  const [open, setOpen] = useState<string | null>(null);
  const query = Object.fromEntries(
    FILTERS.filter((k) => debounced[k].trim()).map((k) => [k, k === 'from' || k === 'to' ? new Date(debounced[k]).toISOString() : debounced[k].trim()]),
  );
  const q = useInfiniteQuery({
    queryKey: ['audit', query],
    queryFn: ({ pageParam }) => get<Page<AuditEntry>>('/audit', { ...query, limit: 50, cursor: pageParam ?? undefined }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    retry: false,
  });
  const set = (k: Filter, v: string) => setFilters({ ...filters, [k]: v });
  const items = q.data?.pages.flatMap((p) => p.data) ?? [];
  const labels: Record<Filter, Parameters<typeof t>[0]> = {
    actor: 'audit.actor', action: 'audit.action', entity_type: 'audit.entityType', entity_id: 'audit.entityId', from: 'audit.from', to: 'audit.to',
  };
  return (
    <Stack>
      <Title order={2}>{t('audit.title')}</Title>
      <SimpleGrid cols={{ base: 1, sm: 3 }} spacing="sm">
        {FILTERS.map((k) => (
          <TextInput key={k} label={t(labels[k])} type={k === 'from' || k === 'to' ? 'datetime-local' : 'text'} value={filters[k]} onChange={(e) => set(k, e.currentTarget.value)} />
        ))}
      </SimpleGrid>
      {q.isPending ? (
        <Loading />
      ) : q.error ? (
        <ErrorAlert error={q.error} onRetry={() => void q.refetch()} />
      ) : items.length === 0 ? (
        <Empty>{t('audit.empty')}</Empty>
      ) : (
        <div className="table-scroll">
          <Table striped aria-label={t('audit.title')}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('audit.when')}</Table.Th>
                <Table.Th>{t('audit.actor')}</Table.Th>
                <Table.Th>{t('audit.action').split(' (')[0]}</Table.Th>
                <Table.Th>{t('audit.entity')}</Table.Th>
                <Table.Th>{t('audit.changes')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((e) => (
                <Table.Tr key={e.id}>
                  <Table.Td style={{ whiteSpace: 'nowrap' }}>{f.dateTime(e.created_at)}</Table.Td>
                  <Table.Td>
                    <Code>{e.actor}</Code>
                  </Table.Td>
                  <Table.Td>{e.action}</Table.Td>
                  <Table.Td>
                    <Text size="sm">{e.entity_type}</Text>
                    <Text size="xs" c="dimmed">
                      {e.entity_id}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Button size="xs" variant="subtle" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
                      {t('audit.show')}
                    </Button>
                    <Collapse in={open === e.id}>
                      <Group align="start" grow wrap="wrap">
                        <div>
                          <Text size="xs" fw={600}>
                            {t('audit.before')}
                          </Text>
                          <Code block>{JSON.stringify(e.before, null, 2)}</Code>
                        </div>
                        <div>
                          <Text size="xs" fw={600}>
                            {t('audit.after')}
                          </Text>
                          <Code block>{JSON.stringify(e.after, null, 2)}</Code>
                        </div>
                      </Group>
                    </Collapse>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
      {q.hasNextPage && (
        <Button variant="default" onClick={() => void q.fetchNextPage()} loading={q.isFetchingNextPage} style={{ alignSelf: 'center' }}>
          {t('prof.loadMore')}
        </Button>
      )}
    </Stack>
  );
}
