import { Badge, Card, Group, Progress, Stack, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { get } from '../api';
import { useFormat } from '../format';
import { useI18n } from '../i18n';
import { Empty, QueryView } from '../components/states';

interface Recommendation {
  event_id: string;
  name: string;
  genres: string[];
  venue: string | null;
  city: string | null;
  starts_at: string;
  score: number;
  reasons: { genre_affinity: number; co_attendance: number; co_attendees: number; matched_genres: string[] };
}

/** Upcoming shows for the customer, best match first, with why each one was picked. */
export default function RecommendationsTab({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const q = useQuery({
    queryKey: ['customer', id, 'recommendations'],
    queryFn: () => get<{ data: Recommendation[] }>(`/customers/${id}/recommendations`, { limit: 10 }),
  });
  return (
    <QueryView query={q}>
      {(d) =>
        d.data.length === 0 ? (
          <Empty>{t('rec.empty')}</Empty>
        ) : (
          <Stack gap="xs" role="list" aria-label={t('prof.tab.recommendations')}>
            {d.data.map((r) => (
              <Card key={r.event_id} withBorder p="sm" role="listitem" aria-label={r.name}>
                <Group justify="space-between" wrap="wrap" gap="xs">
                  <Stack gap={0}>
                    <Text fw={600}>{r.name}</Text>
                    <Text size="xs" c="dimmed">
                      {f.dateTime(r.starts_at)} · {[r.venue, r.city].filter(Boolean).join(', ') || '—'}
                    </Text>
                  </Stack>
                  <Text size="sm" fw={600} aria-label={t('rec.score')}>
                    {f.percent(r.score, 0)}
                  </Text>
                </Group>
                <Progress value={r.score * 100} size="xs" mt={4} aria-hidden />
                <Group gap={4} mt="xs">
                  {r.genres.map((g) => (
                    <Badge key={g} size="sm" variant={r.reasons.matched_genres.includes(g) ? 'filled' : 'light'}>
                      {g}
                    </Badge>
                  ))}
                </Group>
                <Text size="xs" c="dimmed" mt={4}>
                  {t('rec.why', { affinity: f.percent(r.reasons.genre_affinity, 0), co: f.number(r.reasons.co_attendees) })}
                </Text>
              </Card>
            ))}
          </Stack>
        )
      }
    </QueryView>
  );
}
