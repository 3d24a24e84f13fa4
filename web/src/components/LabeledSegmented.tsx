import { useId } from 'react';
import { SegmentedControl, Text, type SegmentedControlProps } from '@mantine/core';

/**
 * A SegmentedControl with a visible label that names it for assistive technology (Mantine's control has no
 * `label` prop of its own): the label's id is the control's aria-labelledby.
 */
export function LabeledSegmented<T extends string>({ label, value, onChange, ...rest }: Omit<SegmentedControlProps, 'value' | 'onChange'> & {
  label: string;
  value: T;
  onChange: (value: T) => void;
}) {
  const id = useId();
  return (
    <div>
      <Text size="sm" fw={500} mb={4} id={id}>
        {label}
      </Text>
      <SegmentedControl aria-labelledby={id} value={value} onChange={(v) => onChange(v as T)} {...rest} />
    </div>
  );
}
