import { useState } from 'react';
import { Badge, Button, Card, Group, SimpleGrid, Stack, Switch, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, post, type Page } from '../api';
import { useI18n, type MessageKey } from '../i18n';
import { useSession } from '../session';
import { Empty, ErrorAlert, QueryView } from '../components/states';
import JourneyStepEditor from './JourneyStepEditor';
import JourneyTriggerEditor, { TRIGGER_TYPES } from './JourneyTriggerEditor';

interface Template {
  key: string;
  name: string;
  description: string;
  use_case: string;
  trigger_type: string;
  steps: { id: string; type: string }[];
  enabled_workflow_id: string | null;
}
interface Workflow {
  id: string;
  name: string;
  trigger_type: string;
  trigger_config: Record<string, unknown>;
  steps: { id: string; type: string; config?: Record<string, unknown>; next?: string | null; yes?: string | null; no?: string | null }[];
  active: boolean;
  enrollments: { active: number; completed: number; exited: number; failed: number };
}

/** Workflows (automated journeys): the use-case templates in one click, and the tenant's journeys with their counts. */
export default function JourneysPage() {
  const { t } = useI18n();
  const { can } = useSession();
  const qc = useQueryClient();
  const templates = useQuery({ queryKey: ['workflow-templates'], queryFn: () => get<{ data: Template[] }>('/workflow-templates') });
  const workflows = useQuery({ queryKey: ['workflows'], queryFn: () => get<Page<Workflow>>('/workflows', { limit: 200 }) });
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['workflow-templates'] });
    void qc.invalidateQueries({ queryKey: ['workflows'] });
  };
  const enable = useMutation({ mutationFn: (key: string) => post(`/workflow-templates/${key}/enable`, {}), onSuccess: refresh });
  const toggle = useMutation({ mutationFn: (w: Workflow) => post(`/workflows/${w.id}/toggle`, { active: !w.active }), onSuccess: refresh });
  const [editing, setEditing] = useState<string | null>(null);
  const triggerLabel = (type: string) => ((TRIGGER_TYPES as readonly string[]).includes(type) ? t(`jour.trig.${type}` as MessageKey) : type);
  return (
    <Stack>
      <Title order={2}>{t('jour.title')}</Title>
      <Title order={3} size="h4">
        {t('jour.templates')}
      </Title>
      {enable.error && <ErrorAlert error={enable.error} />}
      <QueryView query={templates}>
        {(d) => (
          <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
            {d.data.map((tpl) => (
              <Card key={tpl.key} withBorder component="section" aria-label={tpl.name}>
                <Text fw={600}>{tpl.name}</Text>
                <Text size="sm" c="dimmed" mb="xs">
                  {tpl.description}
                </Text>
                <Group justify="space-between">
                  <Badge variant="outline">{triggerLabel(tpl.trigger_type)}</Badge>
                  {tpl.enabled_workflow_id ? (
                    <Badge color="teal">{t('jour.enabled')}</Badge>
                  ) : (
                    can.edit && (
                      <Button size="xs" loading={enable.isPending && enable.variables === tpl.key} onClick={() => enable.mutate(tpl.key)}>
                        {t('jour.enable')}
                      </Button>
                    )
                  )}
                </Group>
              </Card>
            ))}
          </SimpleGrid>
        )}
      </QueryView>
      <Title order={3} size="h4">
        {t('jour.workflows')}
      </Title>
      {toggle.error && <ErrorAlert error={toggle.error} />}
      <QueryView query={workflows}>
        {(d) =>
          d.data.length === 0 ? (
            <Empty>{t('jour.empty')}</Empty>
          ) : (
            <Stack gap="xs">
              {d.data.map((w) => (
                <Card key={w.id} withBorder p="sm" component="section" aria-label={w.name}>
                  <Group justify="space-between" wrap="wrap">
                    <Stack gap={0}>
                      <Text fw={600}>{w.name}</Text>
                      <Text size="xs" c="dimmed">
                        {t('jour.trigger', { trigger: triggerLabel(w.trigger_type) })}
                      </Text>
                    </Stack>
                    <Group gap="xs">
                      <Switch label={t('jour.active')} checked={w.active} disabled={!can.edit} onChange={() => toggle.mutate(w)} />
                      <Button size="xs" variant="default" aria-expanded={editing === w.id} onClick={() => setEditing(editing === w.id ? null : w.id)}>
                        {t('jour.editSteps')}
                      </Button>
                    </Group>
                  </Group>
                  <Text size="sm" mt={4}>
                    {t('jour.enrollments', w.enrollments)}
                  </Text>
                  <Group gap={4} mt="xs" aria-label={t('jour.steps')} role="list">
                    {w.steps.map((s, i) => (
                      <Badge key={s.id} variant="light" role="listitem" title={s.id}>
                        {i + 1}. {s.type}
                        {s.type === 'condition' ? ` (${t('jour.yes', { step: s.yes ?? t('jour.end') })}, ${t('jour.no', { step: s.no ?? t('jour.end') })})` : ''}
                      </Badge>
                    ))}
                  </Group>
                  {editing === w.id && (
                    <>
                      <JourneyTriggerEditor workflowId={w.id} type={w.trigger_type} config={w.trigger_config} />
                      <JourneyStepEditor workflowId={w.id} steps={w.steps} />
                    </>
                  )}
                </Card>
              ))}
            </Stack>
          )
        }
      </QueryView>
    </Stack>
  );
}
