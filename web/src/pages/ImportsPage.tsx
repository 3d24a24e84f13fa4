import { useEffect, useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, Card, FileInput, Group, Progress, Select, Stack, Table, Text, Title } from '@mantine/core';
import { useMutation, useQuery } from '@tanstack/react-query';
import { API_BASE, get, upload } from '../api';
import { useI18n } from '../i18n';
import { useSession } from '../session';
import { ErrorAlert } from '../components/states';
import { LabeledSegmented } from '../components/LabeledSegmented';

interface ImportStatus {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  dry_run: boolean;
  mapping: Record<string, string | null>;
  ignored_columns: string[];
  total_rows: number;
  processed_rows: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  errors_url: string | null;
  error: { code: string; message: string } | null;
}

// The import module's fields (README, "Importing customers and orders").
const FIELDS = {
  customers: ['external_id', 'email', 'phone', 'first_name', 'last_name', 'company_name', 'customer_type', 'status', 'date_of_birth', 'gender', 'city', 'state', 'country', 'postal_code', 'marketing_email', 'marketing_sms'],
  orders: ['order_id', 'order_date', 'total', 'currency', 'status', 'external_id', 'email', 'phone', 'first_name', 'last_name', 'event_id', 'event_name', 'ticket_type', 'quantity', 'unit_price', 'source'],
} as const;
type ImportType = keyof typeof FIELDS;
const IGNORE = '__ignore__';

/** Upload → dry run with the suggested column mapping → adjust → import, with progress and the rejected rows. */
export default function ImportsPage() {
  const { t } = useI18n();
  const { can } = useSession();
  const [type, setType] = useState<ImportType>('customers');
  const [file, setFile] = useState<File | null>(null);
  const [mapping, setMapping] = useState<Record<string, string | null> | null>(null);
  const [importId, setImportId] = useState<string | null>(null);
  const start = useMutation({
    mutationFn: (dryRun: boolean) => {
      const form = new FormData();
      form.append('file', file!);
      if (mapping) form.append('mapping', JSON.stringify(mapping));
      form.append('dry_run', String(dryRun));
      return upload<{ id: string }>('/imports', form, { type });
    },
    onSuccess: (r) => setImportId(r.id),
  });
  const status = useQuery({
    queryKey: ['import', importId],
    queryFn: () => get<ImportStatus>(`/imports/${importId}`),
    enabled: !!importId,
    refetchInterval: (q) => (q.state.data && (q.state.data.status === 'completed' || q.state.data.status === 'failed') ? false : 500),
  });
  const s = status.data;
  const finished = s && (s.status === 'completed' || s.status === 'failed');
  // The dry run's mapping is the suggestion the user edits before the real import.
  useEffect(() => {
    if (s?.dry_run && s.status === 'completed') setMapping((m) => m ?? s.mapping);
  }, [s]);
  const reset = () => {
    setImportId(null);
    setMapping(null);
  };
  if (!can.edit) return <Alert color="gray">{t('err.forbidden')}</Alert>;
  return (
    <Stack>
      <Title order={2}>{t('imp.title')}</Title>
      <Card
        withBorder
        component="form"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          if (file) start.mutate(true);
        }}
      >
        <Stack>
          <LabeledSegmented
            label={t('imp.type')}
            value={type}
            onChange={(v) => {
              setType(v);
              reset();
            }}
            data={(['customers', 'orders'] as const).map((x) => ({ value: x, label: t(`imp.type.${x}`) }))}
          />
          <FileInput
            label={t('imp.file')}
            accept=".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            value={file}
            onChange={(f) => {
              setFile(f);
              reset();
            }}
            clearable
          />
          <Group>
            <Button type="submit" variant="light" disabled={!file} loading={start.isPending && start.variables === true}>
              {t('imp.check')}
            </Button>
            <Button disabled={!file || !mapping} loading={start.isPending && start.variables === false} onClick={() => start.mutate(false)}>
              {t('imp.run')}
            </Button>
          </Group>
          {start.error && <ErrorAlert error={start.error} />}
        </Stack>
      </Card>
      {status.error && <ErrorAlert error={status.error} />}
      {s && !finished && (
        <div>
          <Text size="sm">{t('imp.progress', { done: s.processed_rows, total: s.total_rows || '…' })}</Text>
          <Progress value={s.total_rows ? (100 * s.processed_rows) / s.total_rows : 5} animated aria-label={t('imp.progress', { done: s.processed_rows, total: s.total_rows || '…' })} />
        </div>
      )}
      {s?.status === 'failed' && <Alert color="red" role="alert">{t('imp.failedFile', { message: s.error?.message ?? '' })}</Alert>}
      {s?.status === 'completed' && (
        <Alert color={s.rejected ? 'orange' : 'teal'} role="status" title={s.dry_run ? t('imp.report') : t('imp.done')}>
          <Text size="sm">
            {t('imp.counts', { total: s.total_rows, created: s.created, updated: s.updated, unchanged: s.unchanged, rejected: s.rejected })}
          </Text>
          {s.ignored_columns.length > 0 && <Text size="sm">{t('imp.ignored', { columns: s.ignored_columns.join(', ') })}</Text>}
          {s.errors_url && s.rejected > 0 && (
            <Anchor href={s.errors_url.startsWith('/api/') ? s.errors_url : `${API_BASE}${s.errors_url}`} download size="sm">
              {t('imp.errors')}
            </Anchor>
          )}
        </Alert>
      )}
      {mapping && (
        <Card withBorder>
          <Title order={3} size="h5" mb="xs">
            {t('imp.mapping')}
          </Title>
          <div className="table-scroll">
            <Table aria-label={t('imp.mapping')}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('imp.column')}</Table.Th>
                  <Table.Th>{t('rule.field')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {Object.entries(mapping).map(([column, field]) => (
                  <Table.Tr key={column}>
                    <Table.Td>{column}</Table.Td>
                    <Table.Td>
                      <Select
                        aria-label={t('imp.fieldFor', { column })}
                        size="xs"
                        allowDeselect={false}
                        value={field ?? IGNORE}
                        onChange={(v) => setMapping({ ...mapping, [column]: v === IGNORE || !v ? null : v })}
                        data={[{ value: IGNORE, label: t('imp.ignore') }, ...FIELDS[type].map((f) => ({ value: f, label: f }))]}
                      />
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        </Card>
      )}
    </Stack>
  );
}
