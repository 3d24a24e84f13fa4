import { ActionIcon, Button, Group, MultiSelect, NumberInput, Paper, Select, Stack, Switch, Text, TextInput } from '@mantine/core';
import { useI18n, type MessageKey } from '../i18n';
import type { Segment } from '../types';
import {
  BEHAVIOR_OPTIONS,
  FIELDS,
  defaultOperator,
  defaultValue,
  fieldDef,
  needsValue,
  newGroup,
  newLeaf,
  operatorsFor,
  updateNode,
  type EditorNode,
  type GroupNode,
  type GroupOp,
  type LeafNode,
} from './fields';

interface Props {
  value: GroupNode;
  onChange(next: GroupNode): void;
  segments: Segment[];
  readOnly?: boolean;
}

/** Nested and/or/not groups to any depth; each condition offers the operators and value input of its field. */
export function RuleBuilder({ value, onChange, segments, readOnly }: Props) {
  const edit = (id: string, fn: (n: EditorNode) => EditorNode | null) => onChange(updateNode(value, id, fn));
  return <GroupEditor node={value} depth={1} edit={edit} segments={segments} readOnly={readOnly} root />;
}

type Edit = (id: string, fn: (n: EditorNode) => EditorNode | null) => void;

const GROUP_COLORS = ['indigo', 'teal', 'grape', 'orange', 'cyan'];

function GroupEditor({ node, depth, edit, segments, readOnly, root }: { node: GroupNode; depth: number; edit: Edit; segments: Segment[]; readOnly?: boolean; root?: boolean }) {
  const { t } = useI18n();
  const label = t('rule.group', { n: depth });
  return (
    <Paper
      withBorder
      p="sm"
      role="group"
      aria-label={label}
      style={{ borderLeft: `4px solid var(--mantine-color-${GROUP_COLORS[(depth - 1) % GROUP_COLORS.length]}-6)` }}
    >
      <Group gap="xs" mb="xs" wrap="wrap">
        <Select
          aria-label={`${t('rule.match')} (${label})`}
          size="xs"
          w={170}
          disabled={readOnly}
          allowDeselect={false}
          value={node.operator}
          onChange={(v) => edit(node.id, (n) => ({ ...(n as GroupNode), operator: (v ?? 'and') as GroupOp }))}
          data={(['and', 'or', 'not'] as const).map((op) => ({ value: op, label: t(`rule.${op}`) }))}
        />
        {!readOnly && (
          <>
            <Button size="xs" variant="light" onClick={() => edit(node.id, (n) => ({ ...(n as GroupNode), conditions: [...(n as GroupNode).conditions, newLeaf()] }))}>
              {t('rule.addCondition')}
            </Button>
            <Button size="xs" variant="light" color="teal" onClick={() => edit(node.id, (n) => ({ ...(n as GroupNode), conditions: [...(n as GroupNode).conditions, newGroup(node.operator === 'and' ? 'or' : 'and')] }))}>
              {t('rule.addGroup')}
            </Button>
            {!root && (
              <Button size="xs" variant="subtle" color="red" onClick={() => edit(node.id, () => null)}>
                {t('rule.removeGroup')}
              </Button>
            )}
          </>
        )}
      </Group>
      <Stack gap="xs">
        {node.conditions.length === 0 && (
          <Text size="sm" c="red.8">
            {t('rule.emptyGroup')}
          </Text>
        )}
        {node.conditions.map((c) =>
          c.kind === 'group' ? (
            <GroupEditor key={c.id} node={c} depth={depth + 1} edit={edit} segments={segments} readOnly={readOnly} />
          ) : (
            <LeafEditor key={c.id} node={c} edit={edit} segments={segments} readOnly={readOnly} />
          ),
        )}
      </Stack>
    </Paper>
  );
}

function LeafEditor({ node, edit, segments, readOnly }: { node: LeafNode; edit: Edit; segments: Segment[]; readOnly?: boolean }) {
  const { t } = useI18n();
  const def = fieldDef(node.field);
  const set = (patch: Partial<LeafNode>) => edit(node.id, (n) => ({ ...(n as LeafNode), ...patch }));
  const fieldData = (['purchases', 'profile', 'scores', 'consent', 'behavior', 'membership'] as const).map((g) => ({
    group: t(`fgroup.${g}`),
    items: FIELDS.filter((f) => f.group === g).map((f) => ({ value: f.field, label: t(`field.${f.field}` as MessageKey) })),
  }));
  return (
    <Group gap="xs" align="end" wrap="wrap" role="group" aria-label={t('rule.condition')}>
      <Select
        label={t('rule.field')}
        size="xs"
        w={210}
        searchable
        disabled={readOnly}
        allowDeselect={false}
        value={node.field}
        data={fieldData}
        onChange={(field) => {
          if (!field) return;
          const op = defaultOperator(field);
          set({ field, operator: op, value: defaultValue(field, op) });
        }}
      />
      <Select
        label={t('rule.operator')}
        size="xs"
        w={170}
        disabled={readOnly}
        allowDeselect={false}
        value={node.operator}
        data={operatorsFor(node.field).map((op) => ({ value: op, label: t(`op.${op}` as MessageKey) }))}
        onChange={(op) => op && set({ operator: op, value: defaultValue(node.field, op) })}
      />
      {def && needsValue(node.operator) && <ValueInput node={node} set={set} segments={segments} readOnly={readOnly} />}
      {!readOnly && (
        <ActionIcon variant="subtle" color="red" size="lg" aria-label={t('rule.remove')} onClick={() => edit(node.id, () => null)}>
          ✕
        </ActionIcon>
      )}
    </Group>
  );
}

function ValueInput({ node, set, segments, readOnly }: { node: LeafNode; set: (p: Partial<LeafNode>) => void; segments: Segment[]; readOnly?: boolean }) {
  const { t } = useI18n();
  const def = fieldDef(node.field)!;
  const label = t('rule.value');
  const list = node.operator === 'in' || node.operator === 'not_in';
  const numeric = def.type === 'number' || def.type === 'money';
  const dateInput = (def.type === 'date' || def.type === 'birthday') && !['within', 'not_within', 'anniversary_within'].includes(node.operator);

  if (def.type === 'behavior') {
    const opts = (node.value ?? {}) as Record<string, string>;
    const setOpt = (k: string, v: string) => set({ value: { ...opts, [k]: v } });
    const labels: Record<string, MessageKey> = { within: 'rule.within', min_count: 'rule.minCount', genre: 'rule.genre', event_id: 'rule.eventId', venue: 'rule.venue' };
    return (
      <>
        {BEHAVIOR_OPTIONS[node.field].map((k) => (
          <TextInput
            key={k}
            size="xs"
            w={k === 'within' ? 200 : 130}
            disabled={readOnly}
            label={labels[k] ? t(labels[k]) : k}
            inputMode={k === 'min_count' ? 'numeric' : undefined}
            value={opts[k] ?? ''}
            onChange={(e) => setOpt(k, e.currentTarget.value)}
          />
        ))}
      </>
    );
  }
  if (def.type === 'boolean') {
    return <Switch label={node.value ? t('common.yes') : t('common.no')} aria-label={label} disabled={readOnly} checked={node.value === true} onChange={(e) => set({ value: e.currentTarget.checked })} mb={6} />;
  }
  if (def.type === 'enum' || def.type === 'segment') {
    const data =
      def.type === 'enum'
        ? (def.enumValues ?? []).map((v) => ({ value: v, label: node.field === 'status' ? t(`status.${v}` as MessageKey) : node.field === 'customer_type' ? t(`type.${v}` as MessageKey) : v }))
        : segments.map((s) => ({ value: s.id, label: s.name }));
    if (list) {
      const values = Array.isArray(node.value) ? (node.value as string[]) : String(node.value ?? '').split(',').map((x) => x.trim()).filter(Boolean);
      return <MultiSelect label={label} size="xs" miw={200} disabled={readOnly} data={data} value={values} onChange={(v) => set({ value: v })} />;
    }
    return <Select label={label} size="xs" w={200} searchable disabled={readOnly} data={data} value={typeof node.value === 'string' && node.value ? node.value : null} onChange={(v) => set({ value: v ?? '' })} />;
  }
  if (node.operator === 'between') {
    const [lo, hi] = Array.isArray(node.value) ? (node.value as string[]) : ['', ''];
    const type = dateInput ? 'date' : 'text';
    return (
      <>
        <TextInput label={label} size="xs" w={130} type={type} inputMode={numeric ? 'decimal' : undefined} disabled={readOnly} value={lo ?? ''} onChange={(e) => set({ value: [e.currentTarget.value, hi] })} />
        <TextInput label={t('rule.valueTo')} size="xs" w={130} type={type} inputMode={numeric ? 'decimal' : undefined} disabled={readOnly} value={hi ?? ''} onChange={(e) => set({ value: [lo, e.currentTarget.value] })} />
      </>
    );
  }
  if (numeric && !list) {
    return (
      <NumberInput
        label={label}
        size="xs"
        w={140}
        disabled={readOnly}
        decimalScale={def.type === 'money' ? 2 : undefined}
        value={node.value === '' || node.value == null ? '' : Number(node.value)}
        onChange={(v) => set({ value: v === '' ? '' : String(v) })}
      />
    );
  }
  const placeholder = node.operator === 'within' || node.operator === 'not_within' || node.operator === 'anniversary_within' ? '90d' : list ? 'a, b, c' : undefined;
  return (
    <TextInput
      label={label}
      size="xs"
      w={dateInput ? 160 : 200}
      type={dateInput ? 'date' : 'text'}
      disabled={readOnly}
      placeholder={placeholder}
      value={typeof node.value === 'string' ? node.value : Array.isArray(node.value) ? node.value.join(', ') : String(node.value ?? '')}
      onChange={(e) => set({ value: e.currentTarget.value })}
    />
  );
}
