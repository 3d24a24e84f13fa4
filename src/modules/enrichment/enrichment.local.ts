import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/**
 * Enrichment computed on this machine, without network: what the phone number, the e-mail domain,
 * the country/city and the birth date say about a customer. Pure, so it is tested on its own and
 * applied in bulk.
 */

export interface EnrichmentSource {
  email: string | null;
  phone: string | null;
  customer_type: string;
  company_name: string | null;
  country: string | null;
  city: string | null;
  date_of_birth: string | null;
}

export interface LocalEnrichment {
  phone_country: string | null;
  /** libphonenumber line type, lower-case: mobile, fixed_line, fixed_line_or_mobile, toll_free, voip, … */
  phone_line_type: string | null;
  /** the operator the number range was allocated to (numbers may have been ported since) */
  phone_carrier: string | null;
  email_domain: string | null;
  /** a consumer mailbox provider (gmail, yahoo, outlook/hotmail, icloud, …) */
  free_mail: boolean | null;
  /** for business customers on a company domain: a company name guessed from the domain */
  company_suggestion: string | null;
  /** ISO country: the profile's, else the phone's */
  country: string | null;
  /** IANA time zone from the country, or from the city where the country spans several */
  timezone: string | null;
  age: number | null;
}

export const FREE_MAIL_DOMAINS = new Set([
  'gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.ro', 'yahoo.co.uk', 'yahoo.fr', 'yahoo.de', 'yahoo.it', 'yahoo.es',
  'ymail.com', 'rocketmail.com', 'outlook.com', 'outlook.ro', 'hotmail.com', 'hotmail.ro', 'hotmail.co.uk', 'hotmail.fr',
  'hotmail.it', 'live.com', 'live.ro', 'msn.com', 'icloud.com', 'me.com', 'mac.com', 'aol.com', 'protonmail.com',
  'proton.me', 'pm.me', 'gmx.com', 'gmx.de', 'gmx.net', 'web.de', 'mail.com', 'mail.ru', 'yandex.com', 'yandex.ru',
  'zoho.com', 'tutanota.com', 'fastmail.com', 'mail.ro', 'email.ro', 'go.ro', 'freemail.hu', 'abv.bg', 'seznam.cz',
  'wp.pl', 'o2.pl', 'libero.it', 'orange.fr', 'laposte.net', 'free.fr', 't-online.de', 'qq.com', '163.com',
]);

/** Number ranges of Romanian mobile operators as allocated (+40 7xx). */
const RO_MOBILE_CARRIERS: [RegExp, string][] = [
  [/^\+407[23]/, 'Vodafone'],
  [/^\+407[45]/, 'Orange'],
  [/^\+407[68]/, 'Telekom'],
  [/^\+4077/, 'Digi'],
];

/** One zone per country for the countries most customers come from. */
const COUNTRY_TIMEZONES: Record<string, string> = {
  RO: 'Europe/Bucharest', MD: 'Europe/Chisinau', HU: 'Europe/Budapest', BG: 'Europe/Sofia', RS: 'Europe/Belgrade',
  UA: 'Europe/Kyiv', PL: 'Europe/Warsaw', CZ: 'Europe/Prague', SK: 'Europe/Bratislava', AT: 'Europe/Vienna',
  DE: 'Europe/Berlin', FR: 'Europe/Paris', IT: 'Europe/Rome', ES: 'Europe/Madrid', PT: 'Europe/Lisbon',
  GB: 'Europe/London', IE: 'Europe/Dublin', NL: 'Europe/Amsterdam', BE: 'Europe/Brussels', CH: 'Europe/Zurich',
  GR: 'Europe/Athens', TR: 'Europe/Istanbul', SE: 'Europe/Stockholm', NO: 'Europe/Oslo', DK: 'Europe/Copenhagen',
  FI: 'Europe/Helsinki', IL: 'Asia/Jerusalem', AE: 'Asia/Dubai', IN: 'Asia/Kolkata', CN: 'Asia/Shanghai',
  JP: 'Asia/Tokyo', KR: 'Asia/Seoul', ZA: 'Africa/Johannesburg', NZ: 'Pacific/Auckland', AR: 'America/Argentina/Buenos_Aires',
};

/** Countries with several zones: the zone of the main cities (keys: lower-case, letters only), then a default. */
const CITY_TIMEZONES: Record<string, { cities: Record<string, string>; fallback: string | null }> = {
  US: {
    cities: {
      newyork: 'America/New_York', boston: 'America/New_York', miami: 'America/New_York', atlanta: 'America/New_York',
      washington: 'America/New_York', philadelphia: 'America/New_York', chicago: 'America/Chicago', houston: 'America/Chicago',
      dallas: 'America/Chicago', austin: 'America/Chicago', nashville: 'America/Chicago', denver: 'America/Denver',
      phoenix: 'America/Phoenix', losangeles: 'America/Los_Angeles', sanfrancisco: 'America/Los_Angeles',
      seattle: 'America/Los_Angeles', lasvegas: 'America/Los_Angeles', portland: 'America/Los_Angeles',
    },
    fallback: null,
  },
  CA: {
    cities: {
      toronto: 'America/Toronto', ottawa: 'America/Toronto', montreal: 'America/Toronto', vancouver: 'America/Vancouver',
      calgary: 'America/Edmonton', edmonton: 'America/Edmonton', winnipeg: 'America/Winnipeg', halifax: 'America/Halifax',
    },
    fallback: null,
  },
  RU: { cities: { moscow: 'Europe/Moscow', moskva: 'Europe/Moscow', saintpetersburg: 'Europe/Moscow', novosibirsk: 'Asia/Novosibirsk', yekaterinburg: 'Asia/Yekaterinburg', vladivostok: 'Asia/Vladivostok' }, fallback: 'Europe/Moscow' },
  AU: { cities: { sydney: 'Australia/Sydney', melbourne: 'Australia/Melbourne', brisbane: 'Australia/Brisbane', perth: 'Australia/Perth', adelaide: 'Australia/Adelaide' }, fallback: null },
  BR: { cities: { saopaulo: 'America/Sao_Paulo', riodejaneiro: 'America/Sao_Paulo', manaus: 'America/Manaus', brasilia: 'America/Sao_Paulo' }, fallback: 'America/Sao_Paulo' },
  MX: { cities: { mexicocity: 'America/Mexico_City', ciudaddemexico: 'America/Mexico_City', tijuana: 'America/Tijuana', cancun: 'America/Cancun' }, fallback: 'America/Mexico_City' },
  ES: { cities: { laspalmas: 'Atlantic/Canary', santacruzdetenerife: 'Atlantic/Canary' }, fallback: 'Europe/Madrid' },
  PT: { cities: { pontadelgada: 'Atlantic/Azores', funchal: 'Atlantic/Madeira' }, fallback: 'Europe/Lisbon' },
};

const cityKey = (city: string) => city.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z]/g, '');

export function timezoneFor(country: string | null, city: string | null): string | null {
  if (!country) return null;
  const multi = CITY_TIMEZONES[country];
  if (multi) return (city ? multi.cities[cityKey(city)] : undefined) ?? multi.fallback;
  return COUNTRY_TIMEZONES[country] ?? null;
}

/** Whole years from a YYYY-MM-DD birth date to `today` (YYYY-MM-DD). */
export function ageOn(dateOfBirth: string | null, today: string): number | null {
  if (!dateOfBirth || !/^\d{4}-\d{2}-\d{2}$/.test(dateOfBirth)) return null;
  const [y, m, d] = dateOfBirth.split('-').map(Number);
  const [ty, tm, td] = today.split('-').map(Number);
  const age = ty - y - (tm < m || (tm === m && td < d) ? 1 : 0);
  return age >= 0 && age < 150 ? age : null;
}

// Registrable-domain suffixes that are two labels long ("exemplu.co.uk" → "exemplu").
const TWO_LABEL_SUFFIXES = new Set(['co.uk', 'org.uk', 'com.ro', 'org.ro', 'com.au', 'co.nz', 'com.br', 'co.jp', 'com.tr']);
const COMPANY_WORDS = new Set(['srl', 'sa', 'pfa', 'ltd', 'gmbh', 'inc', 'llc']);

/** "mail.exemplu-events.ro" → "Exemplu Events"; null when nothing name-like is left. */
export function companyFromDomain(domain: string): string | null {
  const labels = domain.toLowerCase().split('.');
  const suffixLen = labels.length > 2 && TWO_LABEL_SUFFIXES.has(labels.slice(-2).join('.')) ? 2 : 1;
  const name = labels[labels.length - suffixLen - 1];
  if (!name) return null;
  const words = name.split(/[-_]+/).filter((w) => w && !/^\d+$/.test(w));
  if (words.length === 0) return null;
  return words.map((w) => (COMPANY_WORDS.has(w) ? w.toUpperCase() : w[0].toUpperCase() + w.slice(1))).join(' ');
}

export function localEnrichment(c: EnrichmentSource, today = new Date().toISOString().slice(0, 10)): LocalEnrichment {
  let phoneCountry: string | null = null;
  let lineType: string | null = null;
  let carrier: string | null = null;
  if (c.phone) {
    const parsed = parsePhoneNumberFromString(c.phone);
    if (parsed) {
      phoneCountry = parsed.country ?? null;
      lineType = parsed.getType()?.toLowerCase() ?? null;
      if (phoneCountry === 'RO' && lineType === 'mobile') {
        carrier = RO_MOBILE_CARRIERS.find(([re]) => re.test(parsed.number))?.[1] ?? null;
      }
    }
  }
  const domain = c.email && c.email.includes('@') ? c.email.slice(c.email.lastIndexOf('@') + 1).toLowerCase() : null;
  const freeMail = domain === null ? null : FREE_MAIL_DOMAINS.has(domain);
  const country = c.country ?? phoneCountry;
  return {
    phone_country: phoneCountry,
    phone_line_type: lineType,
    phone_carrier: carrier,
    email_domain: domain,
    free_mail: freeMail,
    company_suggestion: domain && freeMail === false && c.customer_type === 'business' ? companyFromDomain(domain) : null,
    country,
    timezone: timezoneFor(country, c.city),
    age: ageOn(c.date_of_birth, today),
  };
}
