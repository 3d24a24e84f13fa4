import { Alert, Button, Center, Group, Loader, Table, Text } from '@mantine/core';
import type { ReactNode } from 'react';
import { ApiError } from '../api';
import { useI18n } from '../i18n';

export function Loading({ label }: { label?: string }) {
  const { t } = useI18n();
  return (
    <Center py="xl" role="status" aria-live="polite">
      <Group gap="sm">
        <Loader size="sm" />
        <Text c="dimmed">{label ?? t('common.loading')}</Text>
      </Group>
    </Center>
  );
}

/** An API failure in plain words: the server's message, and what the code means for the user. */
export function ErrorAlert({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  if (!error) return null;
  let message = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError) {
    if (error.status === 403) message = `${t('err.forbidden')} ${error.message}`;
    else if (error.status === 404 && !error.message) message = t('err.notFound');
  }
  return (
    <Alert color="red" title={t('common.error')} role="alert" my="sm">
      <Text size="sm">{message}</Text>
      {onRetry && (
        <Button size="xs" variant="light" color="red" mt="xs" onClick={onRetry}>
          {t('common.retry')}
        </Button>
      )}
    </Alert>
  );
}

export function Empty({ children }: { children?: ReactNode }) {
  const { t } = useI18n();
  return (
    <Text c="dimmed" ta="center" py="lg">
      {children ?? t('common.empty')}
    </Text>
  );
}

/** Loading → error → content, the same way on every screen. */
export function QueryView<T>({ query, children }: { query: { data: T | undefined; error: unknown; isPending: boolean; refetch: () => unknown }; children: (data: T) => ReactNode }) {
  if (query.isPending) return <Loading />;
  if (query.error) return <ErrorAlert error={query.error} onRetry={() => void query.refetch()} />;
  return <>{children(query.data as T)}</>;
}

/**
 * A list as a table: the empty state when there are no rows, else a striped table with an accessible name that
 * scrolls sideways on a phone. `head` holds the header cells, `children` turns one item into its `<Table.Tr>`.
 */
export function DataTable<T>({ label, rows, empty, head, children }: {
  label: string;
  rows: readonly T[];
  empty: ReactNode;
  head: ReactNode;
  children: (row: T) => ReactNode;
}) {
  if (rows.length === 0) return <Empty>{empty}</Empty>;
  return (
    <div className="table-scroll">
      <Table striped aria-label={label}>
        <Table.Thead>
          <Table.Tr>{head}</Table.Tr>
        </Table.Thead>
        <Table.Tbody>{rows.map(children)}</Table.Tbody>
      </Table>
    </div>
  );
}
