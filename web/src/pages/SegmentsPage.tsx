import { Anchor, Badge, Button, Group, Stack, Table, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { get, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n } from '../i18n';
import { useSession } from '../session';
import { Empty, QueryView } from '../components/states';
import type { Segment } from '../types';

export default function SegmentsPage() {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const q = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }) });
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('seg.title')}</Title>
        {can.edit && (
          <Button component={Link} to="/segments/new">
            {t('seg.new')}
          </Button>
        )}
      </Group>
      <QueryView query={q}>
        {(d) =>
          d.data.length === 0 ? (
            <Empty>{t('seg.empty')}</Empty>
          ) : (
            <div className="table-scroll">
              <Table striped highlightOnHover aria-label={t('seg.title')}>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t('common.name')}</Table.Th>
                    <Table.Th>{t('seg.type')}</Table.Th>
                    <Table.Th ta="right">{t('seg.count')}</Table.Th>
                    <Table.Th>{t('seg.refreshed')}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {d.data.map((s) => (
                    <Table.Tr key={s.id}>
                      <Table.Td>
                        <Anchor component={Link} to={`/segments/${s.id}`}>
                          {s.name}
                        </Anchor>
                      </Table.Td>
                      <Table.Td>
                        <Badge variant="light">{t(`seg.type.${s.type}`)}</Badge>
                      </Table.Td>
                      <Table.Td ta="right">{f.number(s.customer_count)}</Table.Td>
                      <Table.Td>{f.dateTime(s.last_refreshed_at)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </div>
          )
        }
      </QueryView>
    </Stack>
  );
}
