import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

// Deliberately simple: the local part and a dotted domain. Full RFC 5322 accepts addresses
// no mail system delivers; this rejects typos such as "ion@", "ion.ro" or spaces.
const EMAIL_RE = /^[^\s@"(),:;<>[\\\]]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$/i;

/** Trimmed, lower-cased e-mail, or null when it is not an address. */
export function normalizeEmail(input: string | null | undefined): string | null {
  if (input == null) return null;
  const email = input.trim().toLowerCase();
  if (email.length > 254 || !EMAIL_RE.test(email)) return null;
  return email;
}

/** E.164 phone number, or null when the number is not valid for its region. */
export function normalizePhone(input: string | null | undefined, defaultRegion: string): string | null {
  if (input == null) return null;
  const raw = input.trim();
  if (!raw) return null;
  const phone = parsePhoneNumberFromString(raw.startsWith('00') ? `+${raw.slice(2)}` : raw, defaultRegion as CountryCode);
  if (!phone || !phone.isValid()) return null;
  return phone.number;
}

/** Country (ISO alpha-2) of an E.164 number, when known. */
export function phoneCountry(e164: string): string | null {
  return parsePhoneNumberFromString(e164)?.country ?? null;
}
