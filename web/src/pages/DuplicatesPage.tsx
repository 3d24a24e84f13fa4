import { useState } from 'react';
import { Alert, Anchor, Button, Group, NumberInput, Stack, Text, Title } from '@mantine/core';
import { useInfiniteQuery, useMutation } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { get, post, type Page } from '../api';
import { useI18n } from '../i18n';
import { useSession } from '../session';
import { Empty, ErrorAlert, Loading } from '../components/states';
import { DuplicateCard, type Duplicate } from './CustomerPrivacy';

/** The review queue: best match first; merging keeps the older record of the pair. */
export default function DuplicatesPage() {
  const { t } = useI18n();
  const { can } = useSession();
  const [minScore, setMinScore] = useState<number | ''>('');
  const q = useInfiniteQuery({
    queryKey: ['duplicates', minScore],
    queryFn: ({ pageParam }) => get<Page<Duplicate>>('/duplicates', { status: 'open', limit: 10, min_score: minScore === '' ? undefined : minScore / 100, cursor: pageParam ?? undefined }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const scan = useMutation({ mutationFn: () => post('/duplicates/scan') });
  const [notice, setNotice] = useState<string | null>(null);
  const items = q.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <Stack>
      <Group justify="space-between" align="end">
        <Title order={2}>{t('dup.title')}</Title>
        <Group align="end">
          <NumberInput label={t('dup.minScore')} suffix=" %" min={0} max={100} w={140} value={minScore} onChange={(v) => setMinScore(v === '' ? '' : Number(v))} />
          {can.edit && (
            <Button variant="default" onClick={() => scan.mutate()} loading={scan.isPending}>
              {t('dup.scan')}
            </Button>
          )}
        </Group>
      </Group>
      {scan.isSuccess && <Alert color="teal">{t('dup.scanStarted')}</Alert>}
      {notice && (
        <Alert color="teal" role="status">
          {notice}
        </Alert>
      )}
      {scan.error && <ErrorAlert error={scan.error} />}
      {q.isPending ? (
        <Loading />
      ) : q.error ? (
        <ErrorAlert error={q.error} onRetry={() => void q.refetch()} />
      ) : items.length === 0 ? (
        <Empty>{t('dup.queueEmpty')}</Empty>
      ) : (
        items.map((d) => (
          <Stack key={d.id} gap={4}>
            <Text size="sm">
              {d.customers.map((c, i) => (
                <span key={c.id}>
                  {i > 0 && ' ↔ '}
                  <Anchor component={Link} to={`/customers/${c.id}`}>
                    {[c.first_name, c.last_name].filter(Boolean).join(' ') || c.email || c.id}
                  </Anchor>
                </span>
              ))}
            </Text>
            <DuplicateCard id={d.customers[0].id} dup={d} onMerged={setNotice} />
          </Stack>
        ))
      )}
      {q.hasNextPage && (
        <Button variant="default" onClick={() => void q.fetchNextPage()} loading={q.isFetchingNextPage} style={{ alignSelf: 'center' }}>
          {t('prof.loadMore')}
        </Button>
      )}
    </Stack>
  );
}
