import { useEffect, useMemo, useState } from 'react';
import { Anchor, Badge, Button, Checkbox, Collapse, Group, NumberInput, Popover, Select, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router-dom';
import { get, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import { Empty, ErrorAlert, Loading } from '../components/states';
import { useSession } from '../session';
import { BulkActions, type BulkTarget } from './BulkActions';
import type { Customer, Segment } from '../types';

const COLUMNS = ['name', 'email', 'phone', 'status', 'tier', 'city', 'orders', 'spend', 'ltv', 'lastPurchase', 'created', 'tags'] as const;
type Column = (typeof COLUMNS)[number];
const DEFAULT_COLUMNS: Column[] = ['name', 'email', 'status', 'tier', 'spend', 'lastPurchase'];
const COLUMNS_KEY = 'crm.customers.columns';

const SORTS = ['-created_at', 'created_at', 'name', '-name', '-total_spend', 'total_spend', '-lifetime_value', '-last_purchase', 'last_purchase'] as const;
const FILTER_KEYS = ['search', 'status', 'customer_type', 'loyalty_tier', 'segment_id', 'tags', 'city', 'country', 'created_after', 'created_before', 'last_purchase_after', 'last_purchase_before', 'min_ltv', 'sort'] as const;
type FilterKey = (typeof FILTER_KEYS)[number];
const PAGE_SIZE = 25;

function loadColumns(): Column[] {
  try {
    const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY) ?? 'null') as unknown;
    if (Array.isArray(saved)) {
      const cols = saved.filter((c): c is Column => (COLUMNS as readonly string[]).includes(c));
      if (cols.length) return cols;
    }
  } catch {
    // ignore a corrupt preference
  }
  return DEFAULT_COLUMNS;
}

export default function CustomersPage() {
  const { t } = useI18n();
  const f = useFormat();
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => Object.fromEntries(FILTER_KEYS.map((k) => [k, params.get(k) ?? ''])) as Record<FilterKey, string>, [params]);
  const [search, setSearch] = useState(filters.search);
  const [debouncedSearch] = useDebouncedValue(search, 300);
  const [showFilters, setShowFilters] = useState(() => FILTER_KEYS.some((k) => k !== 'search' && k !== 'sort' && filters[k]));
  const [columns, setColumns] = useState<Column[]>(loadColumns);
  // Cursor pagination: the stack holds the cursor of every page before the current one.
  const [cursors, setCursors] = useState<string[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const { can } = useSession();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [allMatching, setAllMatching] = useState(false);

  const setFilter = (key: FilterKey, value: string | null) => {
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (value) next.set(key, value);
        else next.delete(key);
        return next;
      },
      { replace: true },
    );
  };
  useEffect(() => {
    if (debouncedSearch !== filters.search) setFilter('search', debouncedSearch.trim() || null);
  }, [debouncedSearch]);
  const filterKey = params.toString();
  useEffect(() => {
    setCursors([]);
    setCursor(null);
    setSelected(new Set());
    setAllMatching(false);
  }, [filterKey]);
  useEffect(() => {
    localStorage.setItem(COLUMNS_KEY, JSON.stringify(columns));
  }, [columns]);

  const segments = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }) });
  const tiers = useQuery({ queryKey: ['loyalty', 'tiers'], queryFn: () => get<{ tiers: { name: string }[] }>('/loyalty/tiers') });
  const list = useQuery({
    queryKey: ['customers', filterKey, cursor],
    queryFn: () =>
      get<Page<Customer>>('/customers', {
        ...Object.fromEntries(FILTER_KEYS.filter((k) => filters[k]).map((k) => [k, filters[k]])),
        limit: PAGE_SIZE,
        cursor,
      }),
    placeholderData: keepPreviousData,
  });

  const activeFilters = Object.fromEntries(FILTER_KEYS.filter((k) => k !== 'sort' && filters[k]).map((k) => [k, filters[k]])) as Record<string, string>;
  const bulkTarget: BulkTarget = allMatching
    ? { filter: Object.fromEntries(Object.entries(activeFilters).map(([k, v]) => [k, k === 'min_ltv' ? Number(v) : v])) }
    : { ids: [...selected] };
  const pageIds = list.data?.data.map((c) => c.id) ?? [];
  const pageAllSelected = pageIds.length > 0 && pageIds.every((id) => selected.has(id));
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
    setAllMatching(false);
  };
  const clear = () => {
    setSearch('');
    setParams(new URLSearchParams(), { replace: true });
  };
  const pageNo = cursors.length + 1;
  const cell = (c: Customer, col: Column) => {
    switch (col) {
      case 'name':
        return (
          <Anchor component={Link} to={`/customers/${c.id}`}>
            {c.name || c.company_name || c.email || c.external_id || c.id}
          </Anchor>
        );
      case 'email':
        return c.email ?? '—';
      case 'phone':
        return c.phone ?? '—';
      case 'status':
        return (
          <Group gap={4} wrap="nowrap">
            <Badge variant="light" color={c.status === 'active' ? 'teal' : 'gray'}>
              {t(`status.${c.status}`)}
            </Badge>
            {c.is_vip && <Badge color="yellow.8">{t('prof.vip')}</Badge>}
          </Group>
        );
      case 'tier':
        return c.loyalty_tier ?? '—';
      case 'city':
        return [c.city, c.country].filter(Boolean).join(', ') || '—';
      case 'orders':
        return f.number(c.metrics.total_orders);
      case 'spend':
        return f.money(c.metrics.total_spend);
      case 'ltv':
        return f.money(c.metrics.lifetime_value);
      case 'lastPurchase':
        return f.date(c.metrics.last_purchase);
      case 'created':
        return f.date(c.created_at);
      case 'tags':
        return c.tags.join(', ') || '—';
    }
  };
  const numeric = (col: Column) => col === 'orders' || col === 'spend' || col === 'ltv';

  return (
    <Stack gap="md">
      <Title order={2}>{t('cust.title')}</Title>
      <Group align="end" wrap="wrap" gap="sm">
        <TextInput
          label={t('cust.search')}
          placeholder={t('cust.searchPlaceholder')}
          type="search"
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          style={{ flex: '1 1 240px' }}
        />
        <Select
          label={t('cust.sort')}
          data={SORTS.map((s) => ({ value: s, label: t(`sort.${s}` as MessageKey) }))}
          value={filters.sort || '-created_at'}
          onChange={(v) => setFilter('sort', v === '-created_at' ? null : v)}
          allowDeselect={false}
          w={190}
        />
        <Button variant="default" onClick={() => setShowFilters((s) => !s)} aria-expanded={showFilters} aria-controls="customer-filters">
          {t('cust.filters')}
        </Button>
        <Popover position="bottom-end" withinPortal trapFocus>
          <Popover.Target>
            <Button variant="default">{t('cust.columns')}</Button>
          </Popover.Target>
          <Popover.Dropdown>
            <Checkbox.Group label={t('cust.columns')} value={columns} onChange={(v) => setColumns(COLUMNS.filter((c) => v.includes(c)))}>
              <Stack gap={4} mt="xs">
                {COLUMNS.map((c) => (
                  <Checkbox key={c} value={c} label={t(`cust.col.${c}` as MessageKey)} disabled={c === 'name'} />
                ))}
              </Stack>
            </Checkbox.Group>
          </Popover.Dropdown>
        </Popover>
      </Group>
      <Collapse in={showFilters} id="customer-filters">
        <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }} spacing="sm">
          <Select
            label={t('cust.status')}
            clearable
            value={filters.status || null}
            onChange={(v) => setFilter('status', v)}
            data={(['active', 'inactive', 'prospect'] as const).map((s) => ({ value: s, label: t(`status.${s}`) }))}
          />
          <Select
            label={t('cust.type')}
            clearable
            value={filters.customer_type || null}
            onChange={(v) => setFilter('customer_type', v)}
            data={(['individual', 'business'] as const).map((s) => ({ value: s, label: t(`type.${s}`) }))}
          />
          <Select label={t('cust.tier')} clearable value={filters.loyalty_tier || null} onChange={(v) => setFilter('loyalty_tier', v)} data={(tiers.data?.tiers ?? []).map((x) => x.name)} />
          <Select
            label={t('cust.segment')}
            clearable
            searchable
            value={filters.segment_id || null}
            onChange={(v) => setFilter('segment_id', v)}
            data={(segments.data?.data ?? []).map((s) => ({ value: s.id, label: s.name }))}
          />
          <DeferredText label={t('cust.tags')} value={filters.tags} onCommit={(v) => setFilter('tags', v)} />
          <DeferredText label={t('cust.city')} value={filters.city} onCommit={(v) => setFilter('city', v)} />
          <DeferredText label={t('cust.country')} value={filters.country} onCommit={(v) => setFilter('country', v)} />
          <NumberInput label={t('cust.minLtv')} min={0} value={filters.min_ltv === '' ? '' : Number(filters.min_ltv)} onChange={(v) => setFilter('min_ltv', v === '' ? null : String(v))} />
          <TextInput label={t('cust.createdAfter')} type="date" value={filters.created_after} onChange={(e) => setFilter('created_after', e.currentTarget.value || null)} />
          <TextInput label={t('cust.createdBefore')} type="date" value={filters.created_before} onChange={(e) => setFilter('created_before', e.currentTarget.value || null)} />
          <TextInput label={t('cust.lastPurchaseAfter')} type="date" value={filters.last_purchase_after} onChange={(e) => setFilter('last_purchase_after', e.currentTarget.value || null)} />
          <TextInput label={t('cust.lastPurchaseBefore')} type="date" value={filters.last_purchase_before} onChange={(e) => setFilter('last_purchase_before', e.currentTarget.value || null)} />
          <Button variant="subtle" onClick={clear} style={{ alignSelf: 'end' }}>
            {t('cust.clearFilters')}
          </Button>
        </SimpleGrid>
      </Collapse>
      {can.edit && (selected.size > 0 || allMatching) && (
        <>
          <Checkbox label={t('bulk.allMatching')} checked={allMatching} onChange={(e) => setAllMatching(e.currentTarget.checked)} />
          <BulkActions
            target={bulkTarget}
            count={allMatching ? t('bulk.allMatching') : f.number(selected.size)}
            exportQuery={activeFilters}
            onDone={() => undefined}
            onClear={() => {
              setSelected(new Set());
              setAllMatching(false);
            }}
          />
        </>
      )}
      {list.error && <ErrorAlert error={list.error} onRetry={() => void list.refetch()} />}
      {list.isPending ? (
        <Loading />
      ) : list.data && list.data.data.length === 0 ? (
        <Empty>{t('cust.empty')}</Empty>
      ) : (
        list.data && (
          <div className="table-scroll">
            <Table striped highlightOnHover aria-label={t('cust.title')} aria-busy={list.isFetching}>
              <Table.Thead>
                <Table.Tr>
                  {can.edit && (
                    <Table.Th w={36}>
                      <Checkbox
                        aria-label={t('bulk.selectPage')}
                        checked={pageAllSelected}
                        indeterminate={!pageAllSelected && pageIds.some((id) => selected.has(id))}
                        onChange={() => {
                          const next = new Set(selected);
                          pageIds.forEach((id) => (pageAllSelected ? next.delete(id) : next.add(id)));
                          setSelected(next);
                          setAllMatching(false);
                        }}
                      />
                    </Table.Th>
                  )}
                  {columns.map((col) => (
                    <Table.Th key={col} scope="col" ta={numeric(col) ? 'right' : undefined}>
                      {t(`cust.col.${col}` as MessageKey)}
                    </Table.Th>
                  ))}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.data.map((c) => (
                  <Table.Tr key={c.id}>
                    {can.edit && (
                      <Table.Td>
                        <Checkbox aria-label={t('bulk.selectRow', { name: c.name || c.email || c.id })} checked={allMatching || selected.has(c.id)} onChange={() => toggle(c.id)} />
                      </Table.Td>
                    )}
                    {columns.map((col) => (
                      <Table.Td key={col} ta={numeric(col) ? 'right' : undefined}>
                        {cell(c, col)}
                      </Table.Td>
                    ))}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        )
      )}
      <Group justify="space-between">
        <Button
          variant="default"
          disabled={cursors.length === 0}
          onClick={() => {
            const prev = [...cursors];
            const c = prev.pop() ?? null;
            setCursors(prev);
            setCursor(c === '' ? null : c);
          }}
        >
          {t('common.previous')}
        </Button>
        <Text size="sm" c="dimmed" aria-live="polite">
          {t('cust.page', { n: pageNo })}
        </Text>
        <Button
          variant="default"
          disabled={!list.data?.next_cursor}
          onClick={() => {
            setCursors([...cursors, cursor ?? '']);
            setCursor(list.data?.next_cursor ?? null);
          }}
        >
          {t('common.next')}
        </Button>
      </Group>
    </Stack>
  );
}

/** A text filter that applies on Enter or when focus leaves, not on every key. */
function DeferredText({ label, value, onCommit }: { label: string; value: string; onCommit: (v: string | null) => void }) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const commit = () => {
    if (draft.trim() !== value) onCommit(draft.trim() || null);
  };
  return (
    <TextInput
      label={label}
      value={draft}
      onChange={(e) => setDraft(e.currentTarget.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === 'Enter') commit();
      }}
    />
  );
}
