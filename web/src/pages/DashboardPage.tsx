import { Alert, Badge, Card, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { AreaChart, BarChart } from '@mantine/charts';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import type { ReactNode } from 'react';
import { ApiError, get, type Page } from '../api';
import type { Customer } from '../types';
import { useFormat } from '../format';
import { isMessageKey, useI18n, type MessageKey } from '../i18n';
import { DataTable, Empty, ErrorAlert, Loading, QueryView } from '../components/states';

interface Overview {
  customers: { total: number; buyers: number };
  active: { last_30_days: number; last_60_days: number; last_90_days: number };
  churn: { threshold_days: number; churned_buyers: number; rate: number | null };
  average_ltv: number;
  ltv_distribution: { customers: number; mean: number; median: number; buckets: Bucket[] };
  segments: { id: string; name: string; customers: number; entered_30_days: number; exited_30_days: number; growth_rate_30_days: number | null }[];
}
interface Stats {
  orders: { revenue: number; refunds_total: number };
  interactions: { pending_follow_ups: number; overdue_follow_ups: number };
}
interface Cohorts {
  cohorts: { cohort: string; customers: number; values: number[] }[];
}
interface RfmGrid {
  customers: number;
  cells: { recency: number; frequency: number; customers: number; revenue: number; segment: string }[];
}
interface Bucket {
  min: number;
  max: number | null;
  count: number;
}
interface Ltv {
  distribution: { buckets: Bucket[]; mean: number; median: number };
  top_customers: { customer_id: string; name: string | null; email: string | null; p_alive: number; predicted_clv: number; historic_clv: number }[];
}

export default function DashboardPage() {
  const { t } = useI18n();
  const f = useFormat();
  const overview = useQuery({ queryKey: ['analytics', 'overview'], queryFn: () => get<Overview>('/analytics/overview') });
  const stats = useQuery({ queryKey: ['stats'], queryFn: () => get<Stats>('/stats') });
  return (
    <Stack gap="lg">
      <Title order={2}>{t('dash.title')}</Title>
      {overview.error && <ErrorAlert error={overview.error} onRetry={() => void overview.refetch()} />}
      {stats.error && <ErrorAlert error={stats.error} onRetry={() => void stats.refetch()} />}
      {overview.isPending || stats.isPending ? (
        <Loading />
      ) : (
        overview.data &&
        stats.data && (
          <SimpleGrid cols={{ base: 2, sm: 3, lg: 5 }} spacing="sm">
            <Stat label={t('dash.customers')} value={f.number(overview.data.customers.total)} hint={t('dash.buyers', { n: f.number(overview.data.customers.buyers) })} />
            <Stat label={t('dash.active30')} value={f.number(overview.data.active.last_30_days)} />
            <Stat label={t('dash.active60')} value={f.number(overview.data.active.last_60_days)} />
            <Stat label={t('dash.active90')} value={f.number(overview.data.active.last_90_days)} />
            <Stat label={t('dash.churn')} value={f.percent(overview.data.churn.rate)} hint={t('dash.churnHint', { n: overview.data.churn.threshold_days })} />
            <Stat label={t('dash.avgLtv')} value={f.money(overview.data.average_ltv)} />
            <Stat label={t('dash.revenue')} value={f.money(stats.data.orders.revenue)} />
            <Stat
              label={t('dash.followUps')}
              value={f.number(stats.data.interactions.pending_follow_ups)}
              hint={stats.data.interactions.overdue_follow_ups ? t('dash.overdue', { n: stats.data.interactions.overdue_follow_ups }) : undefined}
            />
          </SimpleGrid>
        )
      )}
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <AcquisitionAndRevenue />
        <Section title={t('dash.rfm')}>
          <RfmHeatMap />
        </Section>
        <Section title={t('dash.cohorts')}>
          <CohortHeatMap />
        </Section>
        <LtvSection />
        <Section title={t('dash.segmentGrowth')}>
          {overview.data && <SegmentGrowth segments={overview.data.segments} />}
        </Section>
      </SimpleGrid>
    </Stack>
  );
}

function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <Paper withBorder p="sm" component="section" aria-label={label}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Paper>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Card withBorder component="section" aria-label={title}>
      <Title order={3} size="h5" mb="sm">
        {title}
      </Title>
      {children}
    </Card>
  );
}

function AcquisitionAndRevenue() {
  const { t } = useI18n();
  const f = useFormat();
  const retention = useQuery({ queryKey: ['analytics', 'cohorts', 'retention'], queryFn: () => get<Cohorts>('/analytics/cohorts', { period: 'month', metric: 'retention', cohorts: 12 }) });
  const revenue = useQuery({ queryKey: ['analytics', 'cohorts', 'revenue'], queryFn: () => get<Cohorts>('/analytics/cohorts', { period: 'month', metric: 'revenue', cohorts: 104 }) });
  return (
    <>
      <Section title={t('dash.acquisition')}>
        <QueryView query={retention}>
          {(d) =>
            d.cohorts.length === 0 ? (
              <Empty>{t('dash.noData')}</Empty>
            ) : (
              <BarChart
                h={220}
                data={[...d.cohorts].sort((a, b) => a.cohort.localeCompare(b.cohort)).map((c) => ({ month: f.month(c.cohort), buyers: c.customers }))}
                dataKey="month"
                series={[{ name: 'buyers', label: t('dash.newBuyers'), color: 'indigo.6' }]}
                valueFormatter={(v) => f.number(v)}
              />
            )
          }
        </QueryView>
      </Section>
      <Section title={t('dash.revenueByMonth')}>
        <QueryView query={revenue}>
          {(d) => {
            const months = revenueByMonth(d);
            return months.length === 0 ? (
              <Empty>{t('dash.noData')}</Empty>
            ) : (
              <AreaChart
                h={220}
                data={months.map((m) => ({ month: f.month(m.month), revenue: m.revenue }))}
                dataKey="month"
                series={[{ name: 'revenue', label: t('dash.revenue'), color: 'teal.7' }]}
                valueFormatter={(v) => f.money(v)}
                yAxisProps={{ tickFormatter: (v: number) => f.compact(v), width: 48 }}
                withDots={false}
              />
            );
          }}
        </QueryView>
      </Section>
    </>
  );
}

/** Cohort k's values[j] is revenue in calendar month cohort + j: summing along diagonals gives revenue per month. */
export function revenueByMonth(d: Cohorts, last = 12): { month: string; revenue: number }[] {
  const byMonth = new Map<string, number>();
  for (const c of d.cohorts) {
    const start = new Date(`${c.cohort}T00:00:00Z`);
    c.values.forEach((v, j) => {
      const m = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + j, 1)).toISOString().slice(0, 10);
      byMonth.set(m, (byMonth.get(m) ?? 0) + v);
    });
  }
  return [...byMonth.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(-last)
    .map(([month, revenue]) => ({ month, revenue: Math.round(revenue * 100) / 100 }));
}

/** Light → dark indigo by share of the maximum; text switches to white where the background gets dark. */
function heat(share: number): { background: string; color: string } {
  const lightness = 96 - share * 60;
  return { background: `hsl(231 60% ${lightness}%)`, color: lightness < 60 ? 'white' : '#1a1b1e' };
}

function RfmHeatMap() {
  const { t } = useI18n();
  const f = useFormat();
  const grid = useQuery({ queryKey: ['dashboard', 'rfm-grid'], queryFn: () => get<RfmGrid>('/dashboard/rfm-grid') });
  // the API names cells with the English RFM segment names; they are shown translated
  const rfmName = (name: string) => (isMessageKey(`rfm.${name}`) ? t(`rfm.${name}` as MessageKey) : name);
  return (
    <QueryView query={grid}>
      {(d) => {
        if (d.cells.length === 0) return <Empty>{t('dash.noData')}</Empty>;
        const max = Math.max(...d.cells.map((c) => c.customers));
        const cell = (r: number, fr: number) => d.cells.find((c) => c.recency === r && c.frequency === fr);
        return (
          // the heat maps scroll sideways on a phone and hold no link or button: focusable, so the keyboard can scroll them
          <div className="table-scroll" tabIndex={0}>
            <Table withTableBorder={false} verticalSpacing={2} horizontalSpacing={2} aria-label={t('dash.rfm')}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">
                    <Text size="xs">
                      {t('dash.rfmFrequency')} → / {t('dash.rfmRecency')} ↓
                    </Text>
                  </Table.Th>
                  {[1, 2, 3, 4, 5].map((fr) => (
                    <Table.Th key={fr} scope="col" ta="center">
                      F{fr}
                    </Table.Th>
                  ))}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {[5, 4, 3, 2, 1].map((r) => (
                  <Table.Tr key={r}>
                    <Table.Th scope="row">R{r}</Table.Th>
                    {[1, 2, 3, 4, 5].map((fr) => {
                      const c = cell(r, fr);
                      const style = heat(c ? c.customers / max : 0);
                      return (
                        <Table.Td key={fr} className="heat-cell" style={style} title={c ? `${rfmName(c.segment)}: ${f.number(c.customers)} · ${f.money(c.revenue)}` : undefined}>
                          {c ? (
                            <>
                              <div style={{ fontWeight: 700 }}>{f.number(c.customers)}</div>
                              <div style={{ fontSize: 10, lineHeight: 1.1 }}>{rfmName(c.segment)}</div>
                            </>
                          ) : (
                            '·'
                          )}
                        </Table.Td>
                      );
                    })}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        );
      }}
    </QueryView>
  );
}

function CohortHeatMap() {
  const { t } = useI18n();
  const f = useFormat();
  const q = useQuery({ queryKey: ['analytics', 'cohorts', 'retention'], queryFn: () => get<Cohorts>('/analytics/cohorts', { period: 'month', metric: 'retention', cohorts: 12 }) });
  return (
    <QueryView query={q}>
      {(d) => {
        if (d.cohorts.length === 0) return <Empty>{t('dash.noData')}</Empty>;
        const cohorts = [...d.cohorts].sort((a, b) => a.cohort.localeCompare(b.cohort));
        const width = Math.min(12, Math.max(...cohorts.map((c) => c.values.length)));
        return (
          <div className="table-scroll" tabIndex={0}>
            <Table verticalSpacing={2} horizontalSpacing={2} aria-label={t('dash.cohorts')}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">{t('dash.cohort')}</Table.Th>
                  <Table.Th scope="col">{t('dash.cohortSize')}</Table.Th>
                  {Array.from({ length: width }, (_, k) => (
                    <Table.Th key={k} scope="col" ta="center">
                      {k}
                    </Table.Th>
                  ))}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {cohorts.map((c) => (
                  <Table.Tr key={c.cohort}>
                    <Table.Th scope="row">
                      <Text size="xs" style={{ whiteSpace: 'nowrap' }}>
                        {f.month(c.cohort)}
                      </Text>
                    </Table.Th>
                    <Table.Td>
                      <Text size="xs">{f.number(c.customers)}</Text>
                    </Table.Td>
                    {Array.from({ length: width }, (_, k) => {
                      const v = c.values[k];
                      if (v === undefined) return <Table.Td key={k} />;
                      const share = v > 1 ? v / 100 : v;
                      return (
                        <Table.Td key={k} className="heat-cell" style={heat(share)} aria-label={`${t('dash.period', { n: k })}: ${f.percent(share, 0)}`}>
                          {f.percent(share, 0)}
                        </Table.Td>
                      );
                    })}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        );
      }}
    </QueryView>
  );
}

/** Customers per money bucket (predicted CLV, or lifetime value so far). */
function DistributionChart({ buckets }: { buckets: Bucket[] }) {
  const { t } = useI18n();
  const f = useFormat();
  if (buckets.every((b) => b.count === 0)) return <Empty>{t('dash.noData')}</Empty>;
  return (
    <BarChart
      h={220}
      data={buckets.map((b) => ({ range: b.max == null ? `≥ ${f.number(b.min)}` : `${f.number(b.min)}–${f.number(b.max)}`, customers: b.count }))}
      dataKey="range"
      series={[{ name: 'customers', label: t('dash.customersCount'), color: 'grape.7' }]}
      valueFormatter={(v) => f.number(v)}
    />
  );
}

function LtvSection() {
  const { t } = useI18n();
  const f = useFormat();
  const q = useQuery({ queryKey: ['analytics', 'ltv'], queryFn: () => get<Ltv>('/analytics/ltv', { top: 10 }) });
  const overview = useQuery({ queryKey: ['analytics', 'overview'], queryFn: () => get<Overview>('/analytics/overview') });
  // 422: the data cannot support the model yet (too few repeat buyers): say so calmly, it is not a failure.
  if (q.error instanceof ApiError && q.error.status === 422) {
    // (a note, not an alarm: role status rather than Alert's default "alert")
    return (
      <>
        <Section title={t('dash.ltvSoFar')}>
          <Alert color="gray" title={t('dash.modelNotReady')} role="status" mb="sm">
            <Text size="sm">{q.error.message}</Text>
          </Alert>
          <QueryView query={overview}>{(o) => <DistributionChart buckets={o.ltv_distribution.buckets} />}</QueryView>
        </Section>
        <Section title={t('dash.topHistoric')}>
          <TopByLifetimeValue />
        </Section>
      </>
    );
  }
  return (
    <>
      <Section title={t('dash.ltvDistribution')}>
        <QueryView query={q}>{(d) => <DistributionChart buckets={d.distribution.buckets} />}</QueryView>
      </Section>
      <Section title={t('dash.topCustomers')}>
        <QueryView query={q}>
          {(d) => (
            <DataTable
              label={t('dash.topCustomers')}
              rows={d.top_customers}
              empty={t('dash.noData')}
              head={
                <>
                  <Table.Th>{t('common.name')}</Table.Th>
                  <Table.Th ta="right">{t('dash.predictedClv')}</Table.Th>
                  <Table.Th ta="right">{t('dash.historicClv')}</Table.Th>
                  <Table.Th ta="right">{t('dash.pAlive')}</Table.Th>
                </>
              }
            >
              {(c) => (
                <Table.Tr key={c.customer_id}>
                  <Table.Td>
                    <Link to={`/customers/${c.customer_id}`}>{c.name || c.email || c.customer_id}</Link>
                  </Table.Td>
                  <Table.Td ta="right">{f.money(c.predicted_clv)}</Table.Td>
                  <Table.Td ta="right">{f.money(c.historic_clv)}</Table.Td>
                  <Table.Td ta="right">{f.percent(c.p_alive, 0)}</Table.Td>
                </Table.Tr>
              )}
            </DataTable>
          )}
        </QueryView>
      </Section>
    </>
  );
}

/** Without the prediction, the top customers by the value they have brought so far (the customers list sorted by LTV). */
function TopByLifetimeValue() {
  const { t } = useI18n();
  const f = useFormat();
  const q = useQuery({ queryKey: ['customers', 'top-ltv'], queryFn: () => get<Page<Customer>>('/customers', { sort: '-lifetime_value', limit: 10 }) });
  return (
    <QueryView query={q}>
      {(d) => (
        <DataTable
          label={t('dash.topHistoric')}
          rows={d.data}
          empty={t('dash.noData')}
          head={
            <>
              <Table.Th>{t('common.name')}</Table.Th>
              <Table.Th ta="right">{t('cust.col.ltv')}</Table.Th>
              <Table.Th ta="right">{t('prof.orders')}</Table.Th>
            </>
          }
        >
          {(c) => (
            <Table.Tr key={c.id}>
              <Table.Td>
                <Link to={`/customers/${c.id}`}>{c.name || c.company_name || c.email || c.id}</Link>
              </Table.Td>
              <Table.Td ta="right">{f.money(c.metrics.lifetime_value)}</Table.Td>
              <Table.Td ta="right">{f.number(c.metrics.total_orders)}</Table.Td>
            </Table.Tr>
          )}
        </DataTable>
      )}
    </QueryView>
  );
}

function SegmentGrowth({ segments }: { segments: Overview['segments'] }) {
  const { t } = useI18n();
  const f = useFormat();
  return (
    <DataTable
      label={t('dash.segmentGrowth')}
      rows={segments}
      empty={t('seg.empty')}
      head={
        <>
          <Table.Th>{t('common.name')}</Table.Th>
          <Table.Th ta="right">{t('seg.count')}</Table.Th>
          <Table.Th ta="right">{t('dash.entered')}</Table.Th>
          <Table.Th ta="right">{t('dash.exited')}</Table.Th>
          <Table.Th ta="right">{t('dash.growth')}</Table.Th>
        </>
      }
    >
      {(s) => (
        <Table.Tr key={s.id}>
          <Table.Td>
            <Link to={`/segments/${s.id}`}>{s.name}</Link>
          </Table.Td>
          <Table.Td ta="right">{f.number(s.customers)}</Table.Td>
          <Table.Td ta="right">{f.number(s.entered_30_days)}</Table.Td>
          <Table.Td ta="right">{f.number(s.exited_30_days)}</Table.Td>
          <Table.Td ta="right">
            <Badge variant="light" color={(s.growth_rate_30_days ?? 0) >= 0 ? 'teal' : 'red'}>
              {f.percent(s.growth_rate_30_days)}
            </Badge>
          </Table.Td>
        </Table.Tr>
      )}
    </DataTable>
  );
}

