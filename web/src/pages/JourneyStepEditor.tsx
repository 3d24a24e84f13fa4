import { useState } from 'react';
import { ActionIcon, Badge, Button, Card, Group, Select, Stack, Text, Textarea, TextInput } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, patch, type Page } from '../api';
import { useFormat } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import { useSession } from '../session';
import { ErrorAlert } from '../components/states';
import { RuleBuilder } from '../segments/RuleBuilder';
import { fromApiRules, hasEmptyGroup, hasMissingValue, newGroup, toApiRules, type GroupNode } from '../segments/fields';
import type { Segment } from '../types';
import { CUSTOM_KEY_RE, STATUSES, STEP_TYPES, UPDATABLE_FIELDS, stepProblem, webhookUrlOk, type Step, type UpdatableField } from '../journeys/steps';

export type { Step };

const FIELD_LABEL: Record<UpdatableField, MessageKey> = {
  first_name: 'field.first_name', last_name: 'field.last_name', city: 'field.city', state: 'jour.uf.state', country: 'field.country',
  postal_code: 'jour.uf.postal_code', company_name: 'jour.uf.company_name', gender: 'field.gender', status: 'field.status', source: 'field.source',
};
const CUSTOM = '__custom__';
const FOLLOWING = '__following__';
const END = '__end__';

interface Template {
  id: string;
  name: string;
  channel: 'email' | 'sms';
}

interface StepStats {
  steps: { step_id: string; step_type: string | null; active: number; failed: number; passed: number }[];
}

const defaultConfig = (type: string): Record<string, unknown> =>
  type === 'wait'
    ? { duration: '1d' }
    : type === 'condition'
      ? { rules: toApiRules(newGroup()) }
      : type === 'add_tag' || type === 'remove_tag'
        ? { tag: '' }
        : type === 'update_field'
          ? { field: 'city', value: null }
          : type === 'webhook'
            ? { url: '' }
            : {};

/**
 * Edits a workflow's steps (add, remove, reorder, per-type settings, branch targets) and saves them
 * with `PATCH /workflows/{id}`. A condition's rule is built with the segment rule builder. Beside
 * each step, the enrollments waiting there now, failed there and passed through, as the API counts
 * them over all enrollments (`GET /workflows/{id}/stats`).
 */
export default function JourneyStepEditor({ workflowId, steps: initial }: { workflowId: string; steps: Step[] }) {
  const { t } = useI18n();
  const f = useFormat();
  const { can } = useSession();
  const qc = useQueryClient();
  const [steps, setSteps] = useState<Step[]>(initial);
  const [jsonErrors, setJsonErrors] = useState<Record<string, boolean>>({});
  // The rule builder's tree of each condition step (its ids keep React's inputs stable); the
  // step's config.rules is the API form of it.
  const [trees, setTrees] = useState<Record<string, GroupNode>>(() =>
    Object.fromEntries(initial.filter((s) => s.type === 'condition').map((s) => [s.id, fromApiRules(s.config?.rules)])),
  );
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => get<Page<Template>>('/templates', { limit: 100 }) });
  const segments = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }) });
  const stats = useQuery({ queryKey: ['workflow', workflowId, 'stats'], queryFn: () => get<StepStats>(`/workflows/${workflowId}/stats`) });
  const counts = new Map((stats.data?.steps ?? []).map((c) => [c.step_id, c]));
  const gone = (stats.data?.steps ?? []).filter((c) => c.step_type === null).reduce((n, c) => n + c.active, 0);

  const save = useMutation({
    mutationFn: () => patch(`/workflows/${workflowId}`, { steps }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['workflows'] });
      void qc.invalidateQueries({ queryKey: ['workflow', workflowId, 'stats'] });
    },
  });
  const update = (i: number, change: Partial<Step>) => {
    save.reset();
    setSteps((s) => s.map((x, j) => (j === i ? { ...x, ...change } : x)));
  };
  const setTree = (i: number, id: string, tree: GroupNode) => {
    setTrees((x) => ({ ...x, [id]: tree }));
    update(i, { config: { rules: toApiRules(tree) } });
  };
  const incompleteStep = steps.some((s) => stepProblem(s) !== null);
  const incompleteRule = steps.some((s) => s.type === 'condition' && trees[s.id] && (hasEmptyGroup(trees[s.id]!) || hasMissingValue(trees[s.id]!)));
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
  const staticSegments = (segments.data?.data ?? []).filter((x) => x.type === 'static');
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
                  <Badge variant="light" color={counts.get(s.id)?.active ? 'blue' : 'gray'}>
                    {t('jour.atStep', { n: f.number(counts.get(s.id)?.active ?? 0) })}
                  </Badge>
                  <Badge variant="outline" color="gray">
                    {t('jour.passed', { n: f.number(counts.get(s.id)?.passed ?? 0) })}
                  </Badge>
                  {(counts.get(s.id)?.failed ?? 0) > 0 && (
                    <Badge variant="light" color="red">
                      {t('jour.failedHere', { n: f.number(counts.get(s.id)!.failed) })}
                    </Badge>
                  )}
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
                  onChange={(v) => {
                    if (!v || v === s.type) return;
                    setJsonErrors((x) => ({ ...x, [s.id]: false }));
                    if (v === 'condition') {
                      const tree = newGroup();
                      setTrees((x) => ({ ...x, [s.id]: tree }));
                      update(i, { type: v, config: { rules: toApiRules(tree) }, next: undefined, yes: null, no: null });
                    } else update(i, { type: v, config: defaultConfig(v), yes: undefined, no: undefined });
                  }}
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
              {s.type === 'condition' && (
                <Stack gap={4} mt="xs" role="group" aria-label={t('jour.rules', { step: label })}>
                  <Text size="xs" fw={500}>
                    {t('jour.rules', { step: label })}
                  </Text>
                  <RuleBuilder
                    value={trees[s.id] ?? fromApiRules(cfg.rules)}
                    onChange={(tree) => setTree(i, s.id, tree)}
                    segments={segments.data?.data ?? []}
                    readOnly={readOnly}
                  />
                </Stack>
              )}
              {s.type === 'update_field' && <UpdateFieldSettings label={label} cfg={cfg} readOnly={readOnly} onChange={(config) => update(i, { config })} />}
              {s.type === 'add_to_segment' && (
                <Group gap="xs" mt="xs" align="end" wrap="wrap">
                  <Select
                    size="xs"
                    label={t('jour.segment', { step: label })}
                    required
                    data={staticSegments.map((x) => ({ value: x.id, label: x.name }))}
                    value={typeof cfg.segment_id === 'string' ? cfg.segment_id : null}
                    readOnly={readOnly}
                    searchable
                    nothingFoundMessage={t('common.noResults')}
                    error={typeof cfg.segment_id === 'string' ? undefined : t('jour.required')}
                    onChange={(v) => update(i, { config: v ? { segment_id: v } : {} })}
                    w={260}
                  />
                  {segments.isSuccess && staticSegments.length === 0 && (
                    <Text size="xs" c="dimmed">
                      {t('jour.noStaticSegments')}
                    </Text>
                  )}
                </Group>
              )}
              {s.type === 'webhook' && (
                <Stack gap="xs" mt="xs">
                  <Group gap="xs" align="start" wrap="wrap">
                    <TextInput size="xs" label={t('jour.webhookMethod', { step: label })} description={t('jour.webhookMethodHint')} value="POST" readOnly w={200} />
                    <TextInput
                      size="xs"
                      type="url"
                      label={t('jour.webhookUrl', { step: label })}
                      required
                      placeholder="https://"
                      value={typeof cfg.url === 'string' ? cfg.url : ''}
                      readOnly={readOnly}
                      error={webhookUrlOk(typeof cfg.url === 'string' ? cfg.url : '') ? undefined : t('jour.badUrl')}
                      onChange={(e) => update(i, { config: { ...cfg, url: e.currentTarget.value } })}
                      style={{ flex: 1, minWidth: 200 }}
                    />
                  </Group>
                  <Textarea
                    size="xs"
                    label={t('jour.webhookPayload', { step: label })}
                    autosize
                    minRows={2}
                    readOnly={readOnly}
                    defaultValue={cfg.payload === undefined ? '' : JSON.stringify(cfg.payload, null, 1)}
                    error={jsonErrors[s.id] ? t('jour.badJson') : undefined}
                    styles={{ input: { fontFamily: 'monospace' } }}
                    onChange={(e) => {
                      const text = e.currentTarget.value;
                      const { payload: _old, ...rest } = cfg;
                      if (text.trim() === '') {
                        update(i, { config: rest });
                        setJsonErrors((x) => ({ ...x, [s.id]: false }));
                        return;
                      }
                      try {
                        const parsed: unknown = JSON.parse(text);
                        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
                          update(i, { config: { ...rest, payload: parsed } });
                          setJsonErrors((x) => ({ ...x, [s.id]: false }));
                          return;
                        }
                      } catch {
                        // shown below the field until it parses
                      }
                      setJsonErrors((x) => ({ ...x, [s.id]: true }));
                    }}
                  />
                </Stack>
              )}
            </Card>
          );
        })}
      </Stack>
      {gone > 0 && (
        <Text size="sm" c="dimmed">
          {t('jour.goneSteps', { n: f.number(gone) })}
        </Text>
      )}
      {stats.error && <ErrorAlert error={stats.error} onRetry={() => void stats.refetch()} />}
      {!readOnly && incompleteRule && (
        <Text size="sm" c="red.8" role="status">
          {t('jour.ruleIncomplete')}
        </Text>
      )}
      {!readOnly && incompleteStep && (
        <Text size="sm" c="red.8" role="status">
          {t('jour.stepIncomplete')}
        </Text>
      )}
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
          <Button size="xs" loading={save.isPending} disabled={Object.values(jsonErrors).some(Boolean) || incompleteRule || incompleteStep} onClick={() => save.mutate()}>
            {t('jour.saveSteps')}
          </Button>
        </Group>
      )}
    </Stack>
  );
}

/** update_field: a customer column the API lets a journey set, or custom.<key>, and its new value. */
function UpdateFieldSettings({ label, cfg, readOnly, onChange }: { label: string; cfg: Record<string, unknown>; readOnly: boolean; onChange: (c: Record<string, unknown>) => void }) {
  const { t } = useI18n();
  const field = typeof cfg.field === 'string' ? cfg.field : '';
  const custom = field.startsWith('custom.');
  const picked = custom ? CUSTOM : (UPDATABLE_FIELDS as readonly string[]).includes(field) ? field : null;
  const value = cfg.value === null || cfg.value === undefined ? '' : String(cfg.value);
  const key = custom ? field.slice(7) : '';
  // an empty text clears the field (null), as the API stores it
  const setValue = (v: string) => onChange({ field, value: v === '' ? null : v });
  return (
    <Group gap="xs" mt="xs" align="start" wrap="wrap">
      <Select
        size="xs"
        label={t('jour.field', { step: label })}
        required
        data={[...UPDATABLE_FIELDS.map((x) => ({ value: x, label: t(FIELD_LABEL[x]) })), { value: CUSTOM, label: t('jour.field.custom') }]}
        value={picked}
        readOnly={readOnly}
        allowDeselect={false}
        error={picked ? undefined : t('jour.required')}
        onChange={(v) => {
          if (!v) return;
          if (v === CUSTOM) onChange({ field: 'custom.', value: null });
          else onChange({ field: v, value: v === 'status' ? 'active' : field === 'status' ? null : (cfg.value ?? null) });
        }}
        w={190}
      />
      {custom && (
        <TextInput
          size="xs"
          label={t('jour.customField', { step: label })}
          description={t('jour.customFieldHint')}
          required
          value={key}
          readOnly={readOnly}
          error={CUSTOM_KEY_RE.test(key) ? undefined : t('jour.customFieldHint')}
          onChange={(e) => onChange({ field: `custom.${e.currentTarget.value}`, value: cfg.value ?? null })}
          w={190}
        />
      )}
      {field === 'status' ? (
        <Select
          size="xs"
          label={t('jour.fieldValue', { step: label })}
          required
          data={STATUSES.map((x) => ({ value: x, label: t(`status.${x}` as MessageKey) }))}
          value={typeof cfg.value === 'string' ? cfg.value : null}
          readOnly={readOnly}
          allowDeselect={false}
          onChange={(v) => v && onChange({ field, value: v })}
          w={190}
        />
      ) : (
        <TextInput
          size="xs"
          label={t('jour.fieldValue', { step: label })}
          description={t('jour.fieldValueHint')}
          maxLength={1000}
          value={value}
          readOnly={readOnly}
          onChange={(e) => setValue(e.currentTarget.value)}
          w={220}
        />
      )}
    </Group>
  );
}
