import { useEffect, useState } from 'react';
import { Alert, Button, Group, Paper, Popover, Progress, Select, Stack, Text, TextInput } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { API_BASE, get, post, toQuery, type Page } from '../api';
import { useI18n } from '../i18n';
import { ErrorAlert } from '../components/states';
import type { Segment } from '../types';

interface BulkOperation {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  total: number | null;
  processed: number;
  succeeded: number;
  failed: number;
  report: { error?: string };
}

export type BulkTarget = { ids: string[] } | { filter: Record<string, string | number> };

/** Tag, add to a static segment or export the selected customers (or everyone the filters match). */
export function BulkActions({ target, count, exportQuery, onDone, onClear }: { target: BulkTarget; count: string; exportQuery: Record<string, string>; onDone: () => void; onClear: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [tags, setTags] = useState('');
  const [segmentId, setSegmentId] = useState<string | null>(null);
  const [opId, setOpId] = useState<string | null>(null);
  const segments = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }) });
  const statics = (segments.data?.data ?? []).filter((s) => s.type === 'static');
  const start = useMutation({
    mutationFn: (body: { action: string; params: Record<string, unknown> }) => post<{ id: string }>('/bulk', { ...body, target }),
    onSuccess: (r) => setOpId(r.id),
  });
  const op = useQuery({
    queryKey: ['bulk', opId],
    queryFn: () => get<BulkOperation>(`/bulk/${opId}`),
    enabled: !!opId,
    // Poll while the job runs; stop once it has finished.
    refetchInterval: (q) => (q.state.data && (q.state.data.status === 'completed' || q.state.data.status === 'failed') ? false : 500),
  });
  const finished = op.data && (op.data.status === 'completed' || op.data.status === 'failed');
  const status = op.data?.status;
  useEffect(() => {
    if (status === 'completed' || status === 'failed') {
      void qc.invalidateQueries({ queryKey: ['customers'] });
      void qc.invalidateQueries({ queryKey: ['segments'] });
      onDone();
    }
    // onDone is a fresh closure each render; only the status change matters
  }, [status, opId]);
  const exportHref = (format: 'csv' | 'xlsx') => `${API_BASE}/exports/customers${toQuery({ ...exportQuery, format })}`;
  return (
    <Paper withBorder p="xs" role="region" aria-label={t('bulk.selected', { n: count })}>
      <Stack gap="xs">
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Text fw={600} size="sm">
            {t('bulk.selected', { n: count })}
          </Text>
          <Group gap="xs" wrap="wrap">
            <Popover withinPortal trapFocus position="bottom-end">
              <Popover.Target>
                <Button size="xs" variant="light">
                  {t('bulk.tag')}
                </Button>
              </Popover.Target>
              <Popover.Dropdown>
                <Group align="end">
                  <TextInput size="xs" label={t('bulk.tags')} value={tags} onChange={(e) => setTags(e.currentTarget.value)} />
                  <Button
                    size="xs"
                    disabled={!tags.trim()}
                    onClick={() => start.mutate({ action: 'tag', params: { tags: tags.split(',').map((x) => x.trim()).filter(Boolean) } })}
                  >
                    {t('bulk.apply')}
                  </Button>
                </Group>
              </Popover.Dropdown>
            </Popover>
            <Popover withinPortal trapFocus position="bottom-end">
              <Popover.Target>
                <Button size="xs" variant="light">
                  {t('bulk.addToSegment')}
                </Button>
              </Popover.Target>
              <Popover.Dropdown>
                {statics.length === 0 ? (
                  <Text size="sm">{t('bulk.noStatic')}</Text>
                ) : (
                  <Group align="end">
                    <Select size="xs" label={t('bulk.staticSegment')} data={statics.map((s) => ({ value: s.id, label: s.name }))} value={segmentId} onChange={setSegmentId} comboboxProps={{ withinPortal: false }} />
                    <Button size="xs" disabled={!segmentId} onClick={() => start.mutate({ action: 'add_to_segment', params: { segment_id: segmentId } })}>
                      {t('bulk.apply')}
                    </Button>
                  </Group>
                )}
              </Popover.Dropdown>
            </Popover>
            {/* exports take a filter, not a list of ids: offered for "all matching" */}
            {'filter' in target && (
              <>
                <Button size="xs" variant="default" component="a" href={exportHref('csv')} download>
                  {t('bulk.export')}
                </Button>
                <Button size="xs" variant="default" component="a" href={exportHref('xlsx')} download>
                  {t('bulk.exportXlsx')}
                </Button>
              </>
            )}
            <Button size="xs" variant="subtle" onClick={onClear}>
              {t('bulk.clear')}
            </Button>
          </Group>
        </Group>
        {start.error && <ErrorAlert error={start.error} />}
        {op.error && <ErrorAlert error={op.error} />}
        {op.data && !finished && (
          <div>
            <Text size="xs">{t('bulk.running', { done: op.data.processed, total: op.data.total ?? '…' })}</Text>
            <Progress value={op.data.total ? (100 * op.data.processed) / op.data.total : 10} animated aria-label={t('bulk.running', { done: op.data.processed, total: op.data.total ?? '…' })} />
          </div>
        )}
        {op.data?.status === 'completed' && (
          <Alert color="teal" role="status" py={6}>
            {t('bulk.done', { ok: op.data.succeeded, failed: op.data.failed })}
          </Alert>
        )}
        {op.data?.status === 'failed' && (
          <Alert color="red" role="alert" py={6}>
            {t('bulk.failed', { error: op.data.report.error ?? '' })}
          </Alert>
        )}
      </Stack>
    </Paper>
  );
}
