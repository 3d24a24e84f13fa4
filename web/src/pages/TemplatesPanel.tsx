import { useMemo, useState, type FormEvent } from 'react';
import { Button, Card, Group, Loader, Select, SimpleGrid, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, post, put, type Page } from '../api';
import { useI18n } from '../i18n';
import { useSession } from '../session';
import { ErrorAlert, Loading } from '../components/states';
import { LabeledSegmented } from '../components/LabeledSegmented';
import type { Customer } from '../types';

interface Template {
  id: string;
  name: string;
  channel: 'email' | 'sms';
  subject: string | null;
  format: 'mjml' | 'html' | 'text';
  body: string;
  updated_at: string;
}
interface Preview {
  subject: string | null;
  html: string | null;
  text: string;
}

const NEW = '__new__';
const STARTER = '<p>Hello {{ customer.first_name }},</p>\n<p>…</p>\n<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>';

/**
 * Template editor with a live preview rendered by the API for a chosen customer: what is in the
 * editor now, saved or not (`POST /templates/preview` with the draft's subject and body).
 */
export default function TemplatesPanel() {
  const { t } = useI18n();
  const { can } = useSession();
  const qc = useQueryClient();
  const list = useQuery({ queryKey: ['templates'], queryFn: () => get<Page<Template>>('/templates', { limit: 100 }) });
  const [selected, setSelected] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [channel, setChannel] = useState<'email' | 'sms'>('email');
  const [subject, setSubject] = useState('');
  const [body, setBody] = useState(STARTER);
  const [saved, setSaved] = useState<Template | null>(null);
  const [customerId, setCustomerId] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  const [debouncedSearch] = useDebouncedValue(search, 300);

  const pick = (id: string | null) => {
    setSelected(id);
    const tpl = list.data?.data.find((x) => x.id === id) ?? null;
    setSaved(tpl);
    setName(tpl?.name ?? '');
    setChannel(tpl?.channel ?? 'email');
    setSubject(tpl?.subject ?? '');
    setBody(tpl?.body ?? STARTER);
  };

  const save = useMutation({
    mutationFn: () => {
      const payload = { name: name.trim(), channel, body, ...(channel === 'email' ? { subject: subject.trim() } : { subject: null }) };
      return saved ? put<Template>(`/templates/${saved.id}`, payload) : post<Template>('/templates', payload);
    },
    onSuccess: (tpl) => {
      setSaved(tpl);
      setSelected(tpl.id);
      void qc.invalidateQueries({ queryKey: ['templates'] });
    },
  });

  // The chosen customer stays among the options: after a pick the search box shows its label,
  // which is not a search the API would match.
  const [picked, setPicked] = useState<{ value: string; label: string } | null>(null);
  const term = debouncedSearch && debouncedSearch !== picked?.label ? debouncedSearch : '';
  const customers = useQuery({
    queryKey: ['customers', 'pick', term],
    queryFn: () => get<Page<Customer>>('/customers', { limit: 20, ...(term ? { search: term } : {}) }),
  });
  const found = (customers.data?.data ?? []).map((c) => ({
    value: c.id,
    label: [c.name ?? [c.first_name, c.last_name].filter(Boolean).join(' '), c.email].filter(Boolean).join(' · ') || c.id,
  }));
  const customerOptions = picked && !found.some((o) => o.value === picked.value) ? [picked, ...found] : found;

  // The editor's content as a save would send it (no format: the API infers it the same way),
  // rendered a moment after typing stops.
  const draft = useMemo(() => ({ channel, body, ...(channel === 'email' ? { subject } : {}) }), [channel, body, subject]);
  const [debouncedDraft] = useDebouncedValue(draft, 350);
  const preview = useQuery({
    queryKey: ['templates', 'draft-preview', customerId, debouncedDraft],
    queryFn: () => post<Preview>('/templates/preview', { customer_id: customerId, ...debouncedDraft }),
    enabled: Boolean(customerId && debouncedDraft.body.trim()),
    placeholderData: keepPreviousData,
    retry: false,
  });
  const stale = preview.isFetching || debouncedDraft !== draft;

  const options = [...(can.edit ? [{ value: NEW, label: t('tpl.new') }] : []), ...(list.data?.data ?? []).map((x) => ({ value: x.id, label: x.name }))];
  const editing = selected !== null;

  return (
    <Card withBorder component="section" aria-label={t('tpl.title')}>
      <Stack>
        <Title order={3} size="h4">
          {t('tpl.title')}
        </Title>
        <Select label={t('tpl.pick')} data={options} value={selected} onChange={(v) => pick(v === NEW ? NEW : v)} searchable maw={400} />
        {editing && (
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <form
              aria-label={t('tpl.editor')}
              onSubmit={(e: FormEvent) => {
                e.preventDefault();
                save.mutate();
              }}
            >
              <Stack gap="sm">
                <TextInput label={t('tpl.name')} required value={name} onChange={(e) => setName(e.currentTarget.value)} readOnly={!can.edit} />
                <LabeledSegmented label={t('camp.channel')} value={channel} onChange={setChannel} data={[{ value: 'email', label: 'E-mail' }, { value: 'sms', label: 'SMS' }]} disabled={!can.edit || Boolean(saved)} />
                {channel === 'email' && <TextInput label={t('camp.subject')} required value={subject} onChange={(e) => setSubject(e.currentTarget.value)} readOnly={!can.edit} />}
                <Textarea label={t('tpl.body')} required autosize minRows={8} value={body} onChange={(e) => setBody(e.currentTarget.value)} readOnly={!can.edit} styles={{ input: { fontFamily: 'monospace' } }} />
                {save.error && <ErrorAlert error={save.error} />}
                {can.edit && (
                  <Group justify="end">
                    <Button type="submit" loading={save.isPending}>
                      {t('tpl.save')}
                    </Button>
                  </Group>
                )}
              </Stack>
            </form>
            <Stack gap="sm" aria-label={t('tpl.preview')} role="region">
              <Select
                label={t('tpl.previewFor')}
                data={customerOptions}
                value={customerId}
                onChange={(v, option) => {
                  setCustomerId(v);
                  setPicked(v ? { value: option.value, label: option.label } : null);
                }}
                searchable
                searchValue={search}
                onSearchChange={setSearch}
                filter={({ options: o }) => o}
                nothingFoundMessage={t('common.noResults')}
              />
              {!customerId ? (
                <Text size="sm" c="dimmed">
                  {t('tpl.pickCustomer')}
                </Text>
              ) : preview.isPending && !preview.error ? (
                <Loading />
              ) : (
                <Stack gap="xs">
                  <Group gap={6} mih={20} aria-live="polite">
                    {stale ? (
                      <>
                        <Loader size="xs" />
                        <Text size="xs" c="dimmed">
                          {t('tpl.previewUpdating')}
                        </Text>
                      </>
                    ) : (
                      (!saved || saved.body !== body || (saved.subject ?? '') !== subject) && (
                        <Text size="xs" c="dimmed">
                          {t('tpl.previewDraft')}
                        </Text>
                      )
                    )}
                  </Group>
                  {preview.error && !preview.isFetching && <ErrorAlert error={preview.error} />}
                  {preview.data && (
                    <Stack gap="xs" style={{ opacity: preview.error ? 0.5 : 1 }}>
                      {preview.data.subject !== null && (
                        <Text fw={600} aria-label={t('camp.subject')}>
                          {preview.data.subject}
                        </Text>
                      )}
                      {preview.data.html ? (
                        <iframe title={t('tpl.preview')} sandbox="" srcDoc={preview.data.html} style={{ width: '100%', height: '50vh', border: '1px solid #ddd' }} />
                      ) : (
                        <Text style={{ whiteSpace: 'pre-wrap' }}>{preview.data.text}</Text>
                      )}
                    </Stack>
                  )}
                </Stack>
              )}
            </Stack>
          </SimpleGrid>
        )}
      </Stack>
    </Card>
  );
}
