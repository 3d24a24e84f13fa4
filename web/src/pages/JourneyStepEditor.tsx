import { useState } from 'react';
import { ActionIcon, Badge, Button, Card, Group, Select, Stack, Text, Textarea, TextInput } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, patch, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import { useSession } from '../session';
import { ErrorAlert } from '../components/states';

export interface Step {
  id: string;
  type: string;
  config?: Record<string, unknown>;
  next?: string | null;
  yes?: string | null;
  no?: string | null;
}

// Mirrors STEP_TYPES in src/modules/automation/automation.schemas.ts.
const STEP_TYPES = ['send_email', 'send_sms', 'wait', 'condition', 'add_tag', 'remove_tag', 'update_field', 'add_to_segment', 'webhook', 'exit'] as const;
const FOLLOWING = '__following__';
const END = '__end__';

interface Template {
  id: string;
  name: string;
  channel: 'email' | 'sms';
}

const defaultConfig = (type: string): Record<string, unknown> =>
  type === 'wait' ? { duration: '1d' } : type === 'condition' ? { rules: { and: [] } } : type === 'add_tag' || type === 'remove_tag' ? { tag: '' } : {};

/**
 * Edits a workflow's steps (add, remove, reorder, per-type settings, branch targets) and saves them
 * with `PATCH /workflows/{id}`; beside each step, how many enrollments are waiting there now.
 */
export default function JourneyStepEditor({ workflowId, steps: initial }: { workflowId: string; steps: Step[] }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const qc = useQueryClient();
  const [steps, setSteps] = useState<Step[]>(initial);
  const [jsonErrors, setJsonErrors] = useState<Record<string, boolean>>({});
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => get<Page<Template>>('/templates', { limit: 100 }) });
  // One page of the in-progress enrollments, counted by the step each one is at.
  const active = useQuery({
    queryKey: ['workflow', workflowId, 'enrollments', 'active'],
    queryFn: () => get<Page<{ current_step_id: string | null }>>(`/workflows/${workflowId}/enrollments`, { status: 'active', limit: 500 }),
  });
  const atStep = new Map<string, number>();
  for (const e of active.data?.data ?? []) if (e.current_step_id) atStep.set(e.current_step_id, (atStep.get(e.current_step_id) ?? 0) + 1);

  const save = useMutation({
    mutationFn: () => patch(`/workflows/${workflowId}`, { steps }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['workflows'] }),
  });
  const update = (i: number, change: Partial<Step>) => setSteps((s) => s.map((x, j) => (j === i ? { ...x, ...change } : x)));
  const move = (i: number, by: -1 | 1) =>
    setSteps((s) => {
      const next = [...s];
      [next[i], next[i + by]] = [next[i + by]!, next[i]!];
      return next;
    });
  const remove = (i: number) => {
    setJsonErrors((x) => ({ ...x, [steps[i]!.id]: false }));
    setSteps((s) => s.filter((_, j) => j !== i));
  };
  // Like POST /workflows/{id}/steps: the new step takes over where the last one led, and the last
  // one (unless it branches or exits) now leads to it, so an added step is reachable.
  const add = () =>
    setSteps((s) => {
      let n = s.length + 1;
      while (s.some((x) => x.id === `step_${n}`)) n++;
      const id = `step_${n}`;
      const last = s.at(-1);
      const links = last && last.type !== 'condition' && last.type !== 'exit';
      const added: Step = { id, type: 'wait', config: defaultConfig('wait'), ...(links && last.next !== undefined ? { next: last.next } : {}) };
      return [...(links ? [...s.slice(0, -1), { ...last, next: id }] : s), added];
    });

  const targetOptions = (self: string, following: boolean) => [
    ...(following ? [{ value: FOLLOWING, label: t('jour.following') }] : []),
    ...steps.filter((s) => s.id !== self).map((s) => ({ value: s.id, label: `${s.id} (${s.type})` })),
    { value: END, label: t('jour.end') },
  ];
  const fromTarget = (v: string | null): string | null | undefined => (v === FOLLOWING ? undefined : v === END || v === null ? null : v);
  const toTarget = (v: string | null | undefined, following: boolean) => (v === undefined ? (following ? FOLLOWING : END) : v === null ? END : v);
  const readOnly = !can.edit;
  const templateData = (channel: 'email' | 'sms') => (templates.data?.data ?? []).filter((x) => x.channel === channel).map((x) => ({ value: x.id, label: x.name }));

  return (
    <Stack gap="xs" mt="sm">
      <Stack gap="xs" role="list" aria-label={t('jour.stepEditor')}>
        {steps.map((s, i) => {
          const cfg = s.config ?? {};
          const label = `${t('jour.step')} ${i + 1}`;
          return (
            <Card key={s.id} withBorder p="xs" role="listitem" aria-label={`${label}: ${s.type}`}>
              <Group justify="space-between" wrap="wrap" gap="xs">
                <Group gap="xs">
                  <Text fw={600} size="sm">
                    {i + 1}. {s.id}
                  </Text>
                  <Badge variant="light" color={atStep.get(s.id) ? 'blue' : 'gray'}>
                    {t('jour.atStep', { n: f.number(atStep.get(s.id) ?? 0) })}
                  </Badge>
                </Group>
                {!readOnly && (
                  <Group gap={4}>
                    <ActionIcon variant="default" aria-label={t('jour.moveUp', { step: label })} disabled={i === 0} onClick={() => move(i, -1)}>
                      ↑
                    </ActionIcon>
                    <ActionIcon variant="default" aria-label={t('jour.moveDown', { step: label })} disabled={i === steps.length - 1} onClick={() => move(i, 1)}>
                      ↓
                    </ActionIcon>
                    <ActionIcon variant="light" color="red" aria-label={t('jour.removeStep', { step: label })} onClick={() => remove(i)}>
                      ×
                    </ActionIcon>
                  </Group>
                )}
              </Group>
              <Group gap="xs" mt="xs" align="end" wrap="wrap">
                <Select
                  size="xs"
                  label={t('jour.stepType', { step: label })}
                  data={STEP_TYPES.map((x) => ({ value: x, label: t(`jour.type.${x}` as MessageKey) }))}
                  value={s.type}
                  readOnly={readOnly}
                  allowDeselect={false}
                  onChange={(v) => v && update(i, { type: v, config: defaultConfig(v), ...(v === 'condition' ? { next: undefined, yes: null, no: null } : { yes: undefined, no: undefined }) })}
                  w={170}
                />
                {(s.type === 'send_email' || s.type === 'send_sms') && (
                  <Select
                    size="xs"
                    label={t('jour.template', { step: label })}
                    data={templateData(s.type === 'send_email' ? 'email' : 'sms')}
                    value={typeof cfg.template_id === 'string' ? cfg.template_id : null}
                    readOnly={readOnly}
                    onChange={(v) => update(i, { config: v ? { template_id: v } : {} })}
                    placeholder={cfg.template_id ? undefined : t('jour.inlineContent')}
                    w={220}
                  />
                )}
                {s.type === 'wait' && (
                  <TextInput size="xs" label={t('jour.duration', { step: label })} description={t('jour.durationHint')} value={String(cfg.duration ?? '')} readOnly={readOnly} onChange={(e) => update(i, { config: { ...cfg, duration: e.currentTarget.value } })} w={140} />
                )}
                {(s.type === 'add_tag' || s.type === 'remove_tag') && (
                  <TextInput size="xs" label={t('jour.tag', { step: label })} value={String(cfg.tag ?? '')} readOnly={readOnly} onChange={(e) => update(i, { config: { tag: e.currentTarget.value } })} w={160} />
                )}
                {s.type === 'condition' ? (
                  <>
                    <Select size="xs" label={t('jour.yesTarget', { step: label })} data={targetOptions(s.id, false)} value={toTarget(s.yes, false)} readOnly={readOnly} allowDeselect={false} onChange={(v) => update(i, { yes: fromTarget(v) ?? null })} w={170} />
                    <Select size="xs" label={t('jour.noTarget', { step: label })} data={targetOptions(s.id, false)} value={toTarget(s.no, false)} readOnly={readOnly} allowDeselect={false} onChange={(v) => update(i, { no: fromTarget(v) ?? null })} w={170} />
                  </>
                ) : (
                  s.type !== 'exit' && (
                    <Select size="xs" label={t('jour.then', { step: label })} data={targetOptions(s.id, true)} value={toTarget(s.next, true)} readOnly={readOnly} allowDeselect={false} onChange={(v) => update(i, { next: fromTarget(v) })} w={170} />
                  )
                )}
              </Group>
              {['condition', 'update_field', 'add_to_segment', 'webhook'].includes(s.type) && (
                <Textarea
                  mt="xs"
                  size="xs"
                  label={t('jour.configJson', { step: label })}
                  description={s.type === 'condition' ? t('jour.conditionHint') : undefined}
                  autosize
                  minRows={2}
                  readOnly={readOnly}
                  defaultValue={JSON.stringify(cfg, null, 1)}
                  error={jsonErrors[s.id] ? t('jour.badJson') : undefined}
                  styles={{ input: { fontFamily: 'monospace' } }}
                  onChange={(e) => {
                    try {
                      const parsed: unknown = JSON.parse(e.currentTarget.value);
                      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
                        update(i, { config: parsed as Record<string, unknown> });
                        setJsonErrors((x) => ({ ...x, [s.id]: false }));
                        return;
                      }
                    } catch {
                      // shown below the field until it parses
                    }
                    setJsonErrors((x) => ({ ...x, [s.id]: true }));
                  }}
                />
              )}
            </Card>
          );
        })}
      </Stack>
      {save.error && <ErrorAlert error={save.error} />}
      {save.isSuccess && !save.isPending && (
        <Text size="sm" c="teal" role="status">
          {t('jour.saved')}
        </Text>
      )}
      {!readOnly && (
        <Group gap="xs">
          <Button size="xs" variant="default" onClick={add}>
            {t('jour.addStep')}
          </Button>
          <Button size="xs" loading={save.isPending} disabled={Object.values(jsonErrors).some(Boolean)} onClick={() => save.mutate()}>
            {t('jour.saveSteps')}
          </Button>
        </Group>
      )}
    </Stack>
  );
}
