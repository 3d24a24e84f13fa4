import { useState, type FormEvent } from 'react';
import { Button, Card, Checkbox, Group, NumberInput, Select, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, patch, type Page } from '../api';
import { useI18n, type MessageKey } from '../i18n';
import { useSession } from '../session';
import { ErrorAlert } from '../components/states';
import type { Segment } from '../types';

// Mirrors TRIGGER_TYPES and normalizeTrigger in src/modules/automation (the API checks every value).
export const TRIGGER_TYPES = [
  'purchase', 'signup', 'event_day', 'post_event', 'birthday', 'anniversary', 'inactivity',
  'cart_abandoned', 'segment_entered', 'segment_exited', 'custom',
] as const;

type Config = Record<string, unknown>;

/** What a trigger starts with when chosen: the API's defaults, and the one required value filled in. */
const defaults = (type: string): Config =>
  type === 'event_day' ? { days_offset: 0 }
    : type === 'birthday' ? { days_before: 0 }
      : type === 'anniversary' ? { of: 'first_purchase', days_before: 0 }
        : type === 'inactivity' ? { days: 90 }
          : type === 'cart_abandoned' ? { idle_minutes: 60 }
            : {};

/** The fields of a trigger's config that are set (empty inputs are left out, so the API applies its default). */
function cleaned(type: string, c: Config): Config {
  const out: Config = {};
  for (const [k, v] of Object.entries(c)) {
    if (v === '' || v === null || v === undefined) continue;
    if (type === 'purchase' && k === 'first_only' && v === false) continue;
    out[k] = v;
  }
  return out;
}

/** Edits a workflow's trigger (type and its settings) and saves it with `PATCH /workflows/{id}`. */
export default function JourneyTriggerEditor({ workflowId, type: initialType, config: initialConfig }: { workflowId: string; type: string; config: Config }) {
  const { t } = useI18n();
  const { can } = useSession();
  const qc = useQueryClient();
  const readOnly = !can.edit;
  const [type, setType] = useState(initialType);
  const [config, setConfig] = useState<Config>(initialConfig ?? {});
  const segmentTrigger = type === 'segment_entered' || type === 'segment_exited';
  const segments = useQuery({ queryKey: ['segments', 'all'], queryFn: () => get<Page<Segment>>('/segments', { limit: 500 }), enabled: segmentTrigger });
  const save = useMutation({
    mutationFn: () => patch(`/workflows/${workflowId}`, { trigger_type: type, trigger_config: cleaned(type, config) }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['workflows'] }),
  });
  const set = (k: string, v: unknown) => {
    save.reset();
    setConfig((c) => ({ ...c, [k]: v }));
  };
  const num = (k: string, label: MessageKey, opts: { min: number; max: number; hint?: MessageKey; required?: boolean }) => (
    <NumberInput
      size="xs"
      w={200}
      label={t(label)}
      description={opts.hint ? t(opts.hint) : undefined}
      min={opts.min}
      max={opts.max}
      allowDecimal={false}
      required={opts.required}
      readOnly={readOnly}
      value={typeof config[k] === 'number' ? (config[k] as number) : ''}
      onChange={(v) => set(k, typeof v === 'number' ? v : '')}
    />
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const missingSegment = segmentTrigger && typeof config.segment_id !== 'string';
  return (
    <Card withBorder p="xs" mt="sm" component="form" aria-label={t('jour.triggerTitle')} onSubmit={submit}>
      <Title order={4} size="h6" mb={4}>
        {t('jour.triggerTitle')}
      </Title>
      <Group gap="xs" align="end" wrap="wrap">
        <Select
          size="xs"
          w={210}
          label={t('jour.triggerType')}
          data={TRIGGER_TYPES.map((x) => ({ value: x, label: t(`jour.trig.${x}` as MessageKey) }))}
          value={type}
          readOnly={readOnly}
          allowDeselect={false}
          onChange={(v) => {
            if (!v || v === type) return;
            save.reset();
            setType(v);
            setConfig(v === initialType ? (initialConfig ?? {}) : defaults(v));
          }}
        />
        {type === 'purchase' && (
          <>
            <NumberInput
              size="xs"
              w={180}
              label={t('jour.p.min_total')}
              min={0}
              decimalScale={2}
              readOnly={readOnly}
              value={typeof config.min_total === 'number' ? config.min_total : ''}
              onChange={(v) => set('min_total', typeof v === 'number' ? v : '')}
            />
            <Checkbox label={t('jour.p.first_only')} checked={config.first_only === true} disabled={readOnly} onChange={(e) => set('first_only', e.currentTarget.checked)} mb={6} />
          </>
        )}
        {type === 'event_day' && num('days_offset', 'jour.p.days_offset', { min: -365, max: 365, hint: 'jour.p.days_offsetHint' })}
        {type === 'birthday' && num('days_before', 'jour.p.days_before', { min: 0, max: 60 })}
        {type === 'anniversary' && (
          <>
            <Select
              size="xs"
              w={180}
              label={t('jour.p.of')}
              data={(['first_purchase', 'signup'] as const).map((x) => ({ value: x, label: t(`jour.p.of.${x}`) }))}
              value={typeof config.of === 'string' ? config.of : 'first_purchase'}
              readOnly={readOnly}
              allowDeselect={false}
              onChange={(v) => v && set('of', v)}
            />
            {num('days_before', 'jour.p.days_before', { min: 0, max: 60 })}
          </>
        )}
        {type === 'inactivity' && num('days', 'jour.p.days', { min: 1, max: 3650, required: true })}
        {type === 'cart_abandoned' && num('idle_minutes', 'jour.p.idle_minutes', { min: 1, max: 43200 })}
        {segmentTrigger && (
          <Select
            size="xs"
            w={240}
            label={t('jour.p.segment_id')}
            required
            searchable
            data={(segments.data?.data ?? []).map((s) => ({ value: s.id, label: s.name }))}
            value={typeof config.segment_id === 'string' ? config.segment_id : null}
            readOnly={readOnly}
            onChange={(v) => set('segment_id', v ?? undefined)}
          />
        )}
        {type === 'custom' && (
          <TextInput
            size="xs"
            w={240}
            label={t('jour.p.event')}
            description={t('jour.p.eventHint')}
            placeholder="custom.vip_signup"
            readOnly={readOnly}
            value={typeof config.event === 'string' ? config.event : ''}
            onChange={(e) => set('event', e.currentTarget.value.trim())}
          />
        )}
        {(type === 'signup' || type === 'post_event') && (
          <Text size="sm" c="dimmed" mb={6}>
            {t('jour.noParams')}
          </Text>
        )}
        {!readOnly && (
          <Button type="submit" size="xs" variant="light" loading={save.isPending} disabled={missingSegment}>
            {t('jour.saveTrigger')}
          </Button>
        )}
      </Group>
      {segments.error && <ErrorAlert error={segments.error} />}
      {save.error && <ErrorAlert error={save.error} />}
      {save.isSuccess && (
        <Text size="sm" c="teal" role="status" mt={4}>
          {t('jour.triggerSaved')}
        </Text>
      )}
    </Card>
  );
}
