import { useMemo } from 'react';
import { useI18n } from './i18n';
import { useSession } from './session';

export interface Formatters {
  number(n: number | null | undefined, digits?: number): string;
  /** 12K, 1.2M: chart axes. */
  compact(n: number): string;
  money(n: number | null | undefined): string;
  percent(fraction: number | null | undefined, digits?: number): string;
  date(iso: string | null | undefined): string;
  dateTime(iso: string | null | undefined): string;
  month(iso: string): string;
}

/** Dates, numbers and money for the chosen language, in the tenant's currency and time zone. */
export function useFormat(): Formatters {
  const { locale } = useI18n();
  const { tenant } = useSession();
  return useMemo(() => {
    const tz = tenant.timezone || undefined;
    const money = new Intl.NumberFormat(locale, { style: 'currency', currency: tenant.currency || 'RON' });
    const date = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: tz });
    const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: tz });
    const month = new Intl.DateTimeFormat(locale, { month: 'short', year: 'numeric', timeZone: 'UTC' });
    const dash = '—';
    return {
      number: (n, digits = 0) => (n == null ? dash : new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(n)),
      compact: (n) => new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 }).format(n),
      money: (n) => (n == null ? dash : money.format(n)),
      percent: (f, digits = 1) => (f == null ? dash : new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: digits }).format(f)),
      date: (iso) => (iso ? date.format(new Date(iso)) : dash),
      dateTime: (iso) => (iso ? dateTime.format(new Date(iso)) : dash),
      month: (iso) => month.format(new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso)),
    };
  }, [locale, tenant.currency, tenant.timezone]);
}
