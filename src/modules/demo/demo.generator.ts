/**
 * Deterministic synthetic customer base of an event organizer, emitted as events in the
 * ingestion contract. Feeds `crm demo` and the ingestion benchmarks.
 *
 * Pure: no I/O, no clock, no Math.random. Every customer draws from its own PRNG stream
 * derived from (seed, customer index), so
 *  - the same { customers, seed, now } always yields exactly the same events;
 *  - generation is streaming and memory-flat (only one customer's events are held at a time;
 *    the show catalog is customers / 50 entries);
 *  - a customer's events do not depend on how many customers come after it (as long as the
 *    catalog size, max(20, ceil(customers / 50)), is the same).
 */

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export const DEMO_EVENT_TYPES = [
  'user.registered',
  'order.created',
  'order.completed',
  'order.refunded',
  'order.cancelled',
  'ticket.checked_in',
  'cart.updated',
  'cart.checked_out',
  'customer.updated',
  'interaction.logged',
  'email.opened',
  'email.clicked',
  'custom.survey_answered',
] as const;
export type DemoEventType = (typeof DEMO_EVENT_TYPES)[number];

export const GENRES = ['rock', 'jazz', 'electronic', 'classical', 'theatre', 'comedy', 'festival', 'pop', 'hip-hop', 'folk'] as const;
export type Genre = (typeof GENRES)[number];

export const TICKET_TYPES = ['GA', 'VIP', 'Early Bird', 'Student'] as const;
export type TicketType = (typeof TICKET_TYPES)[number];

export interface DemoCustomer {
  external_id: string;
  email: string;
  /** E.164; absent for customers who never gave a phone number. */
  phone?: string;
  first_name: string;
  last_name: string;
}

export interface DemoEvent {
  /** Idempotency key: `evt_<seed>_<customer>_<n>`, unique and stable for a given seed. */
  id: string;
  type: DemoEventType;
  /** ISO 8601 UTC with second precision, never after `now`. */
  occurred_at: string;
  /**
   * Snapshot of the customer as of this event. Consecutive events of a customer share the
   * same object until a profile change, so treat it as read-only.
   */
  customer: DemoCustomer;
  data: Record<string, unknown>;
}

/** One line of an order or cart (`data.items[]`). */
export interface OrderItem {
  event_id: string;
  event_name: string;
  venue: string;
  city: string;
  genres: readonly Genre[];
  starts_at: string;
  ticket_type: TicketType;
  quantity: number;
  /** RON, at most 2 decimals. */
  unit_price: number;
}

export interface GenerateOptions {
  /** Number of customers (non-negative integer). */
  customers: number;
  /** Any number; used as an unsigned 32-bit integer. Defaults to DEFAULT_SEED. */
  seed?: number;
  /** Time anchor: all events happen before it. Defaults to DEFAULT_NOW. */
  now?: Date;
}

export interface CatalogShow {
  id: string;
  name: string;
  genres: readonly Genre[];
  venue: string;
  city: string;
  /** ISO alpha-2 country of the venue. */
  country: string;
  starts_at: string;
  ends_at: string;
  /** Ticket price per type, RON with at most 2 decimals. */
  prices: Record<TicketType, number>;
}

export const DEFAULT_SEED = 42;
export const DEFAULT_NOW = new Date('2026-11-01T00:00:00Z');
export const MAX_BATCH_SIZE = 1000;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/** All events, customer by customer; each customer's events are in time order. */
export function* generateEvents(opts: GenerateOptions): Generator<DemoEvent> {
  const ctx = createContext(opts);
  for (let index = 0; index < ctx.customers; index++) {
    const events = simulateCustomer(ctx, index);
    for (const event of events) yield event;
  }
}

/** The same stream as generateEvents, in arrays of up to `batchSize` (default and max 1000). */
export function* generateBatches(opts: GenerateOptions & { batchSize?: number }): Generator<DemoEvent[]> {
  const size = opts.batchSize ?? MAX_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_BATCH_SIZE) {
    throw new RangeError(`batchSize must be an integer between 1 and ${MAX_BATCH_SIZE}`);
  }
  let batch: DemoEvent[] = [];
  for (const event of generateEvents(opts)) {
    batch.push(event);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** The shows that generateEvents sells tickets for, sorted by start time. */
export function generateCatalog(opts: GenerateOptions): CatalogShow[] {
  return createContext(opts).catalog.shows.map((show) => ({
    id: show.id,
    name: show.name,
    genres: show.genres,
    venue: show.venue,
    city: show.city,
    country: show.country,
    starts_at: show.startsAt,
    ends_at: show.endsAt,
    prices: Object.fromEntries(TICKET_TYPES.map((t) => [t, show.prices[t] / 100])) as Record<TicketType, number>,
  }));
}

// ---------------------------------------------------------------------------------------------
// Time helpers (all internal times are epoch milliseconds rounded to whole seconds)
// ---------------------------------------------------------------------------------------------

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const YEAR = 365.25 * DAY;

/** History covered by the data set, and how far ahead upcoming shows are scheduled. */
const HISTORY = 730 * DAY;
const UPCOMING = 90 * DAY;

/** `2025-01-10T18:30:00Z` (the contract's format, without milliseconds). */
function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

// ---------------------------------------------------------------------------------------------
// PRNG: sfc32 seeded through murmur3's finalizer. Small, fast and good enough for test data.
// ---------------------------------------------------------------------------------------------

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A list of values with relative weights, prepared for Rng.weighted. */
interface Weighted<T> {
  readonly values: readonly T[];
  readonly cumulative: readonly number[];
  readonly total: number;
}

function weighted<T>(entries: readonly (readonly [T, number])[]): Weighted<T> {
  let total = 0;
  const cumulative = entries.map(([, weight]) => (total += weight));
  return { values: entries.map(([value]) => value), cumulative, total };
}

class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /**
   * Independent streams for the same seed: the catalog and one per customer. fmix32 is a
   * bijection, so distinct (seed, stream) pairs start from distinct states.
   */
  constructor(seed: number, stream: number) {
    this.a = fmix32(seed ^ 0x9e3779b9);
    this.b = fmix32(stream ^ 0x6a09e667);
    this.c = fmix32(this.a ^ this.b ^ 0xbb67ae85);
    this.d = 1; // sfc32's counter
    for (let i = 0; i < 15; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(values: readonly T[]): T {
    return values[this.int(values.length)] as T;
  }

  weighted<T>(w: Weighted<T>): T {
    const x = this.next() * w.total;
    let i = 0;
    while (i < w.cumulative.length - 1 && x >= (w.cumulative[i] as number)) i++;
    return w.values[i] as T;
  }

  /** Exponentially distributed duration with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** Whole-second timestamp uniformly in [from, to] (both whole seconds). */
  time(from: number, to: number): number {
    return from + Math.floor((this.next() * (to - from)) / SECOND) * SECOND;
  }

  /** `n` decimal digits, zero padded (n <= 9). */
  digits(n: number): string {
    return String(this.int(10 ** n)).padStart(n, '0');
  }
}

// ---------------------------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------------------------

interface City {
  readonly name: string;
  readonly country: string;
}

const CITY = {
  bucuresti: { name: 'București', country: 'RO' },
  cluj: { name: 'Cluj-Napoca', country: 'RO' },
  timisoara: { name: 'Timișoara', country: 'RO' },
  iasi: { name: 'Iași', country: 'RO' },
  constanta: { name: 'Constanța', country: 'RO' },
  brasov: { name: 'Brașov', country: 'RO' },
  sibiu: { name: 'Sibiu', country: 'RO' },
  oradea: { name: 'Oradea', country: 'RO' },
  craiova: { name: 'Craiova', country: 'RO' },
  london: { name: 'London', country: 'GB' },
  berlin: { name: 'Berlin', country: 'DE' },
  budapest: { name: 'Budapest', country: 'HU' },
  vienna: { name: 'Vienna', country: 'AT' },
} as const satisfies Record<string, City>;

const RO_HOMES: readonly (readonly [City, number])[] = [
  [CITY.bucuresti, 34],
  [CITY.cluj, 13],
  [CITY.timisoara, 9],
  [CITY.iasi, 9],
  [CITY.brasov, 8],
  [CITY.constanta, 7],
  [CITY.sibiu, 6],
  [CITY.oradea, 5],
  [CITY.craiova, 5],
];
const RO_HOME = weighted(RO_HOMES);

/** Mobile numbers that libphonenumber-js (including its "max" metadata) accepts as valid. */
const PHONE_BY_COUNTRY = {
  // +40 7xx xxx xxx; 0781/0782/0789 and 0794-0798 are not allocated.
  RO: (rng) => '+407' + rng.pick(RO_MOBILE_PREFIXES) + rng.digits(6),
  GB: (rng) => '+447' + rng.pick(['4', '5', '8']) + rng.digits(8), // not 077: 07700 9xxxxx is reserved for drama
  DE: (rng) => '+49' + rng.pick(['151', '152', '157', '160', '162', '170', '171', '176', '177']) + rng.digits(8),
  HU: (rng) => '+36' + rng.pick(['20', '30', '70']) + rng.digits(7),
  AT: (rng) => '+43' + rng.pick(['650', '660', '664', '676', '699']) + rng.digits(7),
  ES: (rng) => '+346' + rng.digits(8),
  IT: (rng) => '+39' + rng.pick(['320', '328', '333', '338', '340', '347', '349', '366', '380', '388', '392']) + rng.digits(7),
  PL: (rng) => '+48' + rng.pick(['50', '51', '53', '57', '60', '66', '69', '72', '73', '78', '79', '88']) + rng.digits(7),
} satisfies Record<string, (rng: Rng) => string>;
const RO_MOBILE_PREFIXES = [
  ...Array.from({ length: 60 }, (_, i) => String(20 + i)), // 0720-0779
  '80', '83', '84', '85', '86', '87', '88', '90', '91', '92', '93', '99',
];

const RO_DOMAINS = weighted([
  ['gmail.com', 45], ['yahoo.com', 18], ['yahoo.ro', 9], ['outlook.com', 8], ['icloud.com', 5],
  ['exemplu.ro', 4], ['firma.ro', 4], ['northwind.ro', 3], ['contoso.com', 2], ['fabrikam.com', 2],
] as const);

/** Where customers come from: names, where they live and which mail providers they use. */
interface Origin {
  readonly male: readonly string[];
  readonly female: readonly string[];
  /** `Male|Female` where the surname has a feminine form. */
  readonly surnames: readonly string[];
  readonly homes: Weighted<City>;
  readonly domains: Weighted<string>;
  /** Country of the phone numbers people of this origin bring along. */
  readonly phoneCountry: keyof typeof PHONE_BY_COUNTRY;
}

/** Foreigners living abroad, or in Romania (mostly in the big cities). */
function foreignHomes(abroad: readonly (readonly [City, number])[]): Weighted<City> {
  return weighted([...abroad, [CITY.bucuresti, 20], [CITY.cluj, 8], [CITY.timisoara, 6], [CITY.brasov, 3], [CITY.iasi, 3]]);
}

function foreignDomains(local: readonly (readonly [string, number])[]): Weighted<string> {
  return weighted([['gmail.com', 45], ['outlook.com', 15], ['icloud.com', 8], ['contoso.com', 4], ...local]);
}

const ROMANIAN: Origin = {
  phoneCountry: 'RO',
  male: [
    'Ion', 'Andrei', 'Alexandru', 'Mihai', 'Ștefan', 'Gabriel', 'Adrian', 'Cristian', 'Florin', 'Bogdan',
    'Răzvan', 'Vlad', 'George', 'Daniel', 'Marius', 'Radu', 'Cătălin', 'Ionuț', 'Sorin', 'Tudor',
    'Matei', 'Victor', 'Lucian', 'Ovidiu', 'Dragoș', 'Costin', 'Mircea', 'Horia', 'Petru', 'Emil',
  ],
  female: [
    'Maria', 'Ioana', 'Elena', 'Ana', 'Cristina', 'Andreea', 'Alexandra', 'Mihaela', 'Gabriela', 'Diana',
    'Raluca', 'Ramona', 'Roxana', 'Simona', 'Irina', 'Laura', 'Bianca', 'Oana', 'Alina', 'Daniela',
    'Larisa', 'Teodora', 'Ilinca', 'Corina', 'Adina', 'Mădălina', 'Ștefania', 'Cătălina', 'Denisa', 'Iulia',
  ],
  surnames: [
    'Popescu', 'Ionescu', 'Popa', 'Dumitrescu', 'Stan', 'Stoica', 'Gheorghe', 'Rusu', 'Munteanu', 'Matei',
    'Constantin', 'Dumitru', 'Marin', 'Tudor', 'Dobre', 'Barbu', 'Nistor', 'Florea', 'Ene', 'Toma',
    'Lungu', 'Mocanu', 'Ștefănescu', 'Mureșan', 'Țurcanu', 'Răducanu', 'Bălan', 'Sârbu', 'Niță', 'Ciobanu',
    'Moldovan', 'Oprea', 'Cristea', 'Voicu', 'Preda', 'Vasilescu', 'Anghel', 'Iordache', 'Neagu', 'Crăciun',
    'Pătrașcu', 'Dinu', 'Enache', 'Zamfir', 'Manole', 'Georgescu', 'Radu', 'Petrescu', 'Sandu', 'Coman',
  ],
  homes: RO_HOME,
  domains: RO_DOMAINS,
};

const FOREIGN_ORIGINS = weighted<Origin>([
  [{
    phoneCountry: 'GB',
    male: ['James', 'Oliver', 'Harry', 'George', 'Thomas', 'William', 'Jack'],
    female: ['Emily', 'Olivia', 'Sophie', 'Charlotte', 'Amelia', 'Grace', 'Jessica'],
    surnames: ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Evans', 'Walker'],
    homes: foreignHomes([[CITY.london, 70]]),
    domains: foreignDomains([['hotmail.co.uk', 12], ['btinternet.com', 6]]),
  }, 22],
  [{
    phoneCountry: 'DE',
    male: ['Lukas', 'Felix', 'Jonas', 'Maximilian', 'Paul', 'Leon', 'Tobias'],
    female: ['Anna', 'Lena', 'Hannah', 'Lea', 'Sophie', 'Julia', 'Katharina'],
    surnames: ['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Schäfer'],
    homes: foreignHomes([[CITY.berlin, 45], [CITY.vienna, 20]]),
    domains: foreignDomains([['web.de', 14], ['gmx.de', 12]]),
  }, 22],
  [{
    phoneCountry: 'HU',
    male: ['Bence', 'Máté', 'Levente', 'Gergő', 'Ádám', 'Zoltán', 'Csaba'],
    female: ['Zsófia', 'Réka', 'Eszter', 'Anna', 'Dóra', 'Katalin', 'Enikő'],
    surnames: ['Nagy', 'Kovács', 'Tóth', 'Szabó', 'Horváth', 'Varga', 'Kiss', 'Molnár'],
    homes: foreignHomes([[CITY.budapest, 60]]),
    domains: foreignDomains([['freemail.hu', 14], ['citromail.hu', 6]]),
  }, 20],
  [{
    phoneCountry: 'ES',
    male: ['Javier', 'Carlos', 'Pablo', 'Alejandro', 'Diego'],
    female: ['Lucía', 'Carmen', 'Sofía', 'Laura', 'Marta'],
    surnames: ['García', 'Fernández', 'López', 'Martínez', 'Sánchez', 'Pérez'],
    homes: foreignHomes([[CITY.london, 15], [CITY.berlin, 10]]),
    domains: foreignDomains([['hotmail.es', 12]]),
  }, 12],
  [{
    phoneCountry: 'IT',
    male: ['Marco', 'Luca', 'Giuseppe', 'Alessandro', 'Matteo'],
    female: ['Giulia', 'Chiara', 'Francesca', 'Sara', 'Martina'],
    surnames: ['Rossi', 'Russo', 'Ferrari', 'Esposito', 'Bianchi', 'Romano', 'Ricci'],
    homes: foreignHomes([[CITY.london, 10], [CITY.vienna, 10]]),
    domains: foreignDomains([['libero.it', 12]]),
  }, 12],
  [{
    phoneCountry: 'PL',
    male: ['Piotr', 'Krzysztof', 'Tomasz', 'Jakub', 'Michał'],
    female: ['Agnieszka', 'Katarzyna', 'Magdalena', 'Zofia', 'Małgorzata'],
    surnames: ['Kowalski|Kowalska', 'Nowak', 'Wiśniewski|Wiśniewska', 'Wójcik', 'Kamiński|Kamińska', 'Lewandowski|Lewandowska'],
    homes: foreignHomes([[CITY.london, 20], [CITY.berlin, 20]]),
    domains: foreignDomains([['wp.pl', 10], ['o2.pl', 6]]),
  }, 12],
]);

const GENRE_POPULARITY = weighted<Genre>([
  ['rock', 14], ['pop', 14], ['electronic', 12], ['theatre', 12], ['classical', 9],
  ['comedy', 9], ['festival', 9], ['hip-hop', 8], ['jazz', 8], ['folk', 5],
]);

/** Genres a show is sometimes billed under as well (multi-genre shows make segments overlap). */
const RELATED_GENRES: Record<Exclude<Genre, 'festival'>, readonly Genre[]> = {
  rock: ['pop', 'folk'],
  pop: ['electronic', 'rock'],
  electronic: ['pop'],
  'hip-hop': ['pop'],
  jazz: ['classical', 'folk'],
  classical: ['jazz'],
  folk: ['rock', 'jazz'],
  theatre: ['comedy'],
  comedy: ['theatre'],
};

interface Venue {
  readonly name: string;
  readonly city: City;
  readonly genres: readonly Genre[];
  /** Open-air venues only host shows in the warm months. Festivals always are open-air. */
  readonly outdoor: boolean;
  readonly weight: number;
}

function venue(name: string, city: City, weight: number, genres: readonly Genre[], outdoor = false): Venue {
  return { name, city, genres, outdoor, weight };
}

const VENUES: readonly Venue[] = [
  venue('Sala Palatului', CITY.bucuresti, 10, ['rock', 'pop', 'jazz', 'classical', 'comedy', 'folk']),
  venue('Arenele Romane', CITY.bucuresti, 6, ['rock', 'pop', 'hip-hop', 'folk', 'electronic'], true),
  venue('Filarmonica George Enescu', CITY.bucuresti, 8, ['classical', 'jazz']),
  venue('Teatrul Național București', CITY.bucuresti, 10, ['theatre', 'comedy']),
  venue('Romexpo', CITY.bucuresti, 6, ['electronic', 'pop', 'hip-hop']),
  venue('Quantic', CITY.bucuresti, 5, ['rock', 'hip-hop', 'folk', 'jazz']),
  venue('Control Club', CITY.bucuresti, 5, ['electronic', 'rock', 'hip-hop']),
  venue('Hard Rock Cafe', CITY.bucuresti, 5, ['rock', 'pop', 'comedy', 'jazz', 'folk']),
  venue('BT Arena Cluj', CITY.cluj, 6, ['pop', 'rock', 'hip-hop', 'electronic', 'comedy']),
  venue('Form Space', CITY.cluj, 5, ['electronic', 'hip-hop', 'rock']),
  venue('Cluj Arena', CITY.cluj, 5, ['festival', 'pop', 'rock'], true),
  venue('Teatrul Național Cluj-Napoca', CITY.cluj, 4, ['theatre']),
  venue('Filarmonica Banatul', CITY.timisoara, 3, ['classical']),
  venue('Teatrul Național Timișoara', CITY.timisoara, 3, ['theatre', 'comedy']),
  venue('Sala Capitol', CITY.timisoara, 3, ['jazz', 'rock', 'folk', 'comedy']),
  venue('Teatrul Național Iași', CITY.iasi, 3, ['theatre', 'classical']),
  venue('Sala Polivalentă Iași', CITY.iasi, 3, ['pop', 'rock', 'comedy', 'hip-hop']),
  venue('Casa de Cultură a Sindicatelor', CITY.constanta, 2, ['comedy', 'pop', 'folk', 'theatre']),
  venue('Plaja Modern', CITY.constanta, 3, ['festival', 'electronic'], true),
  venue('Centrul Cultural Reduta', CITY.brasov, 3, ['jazz', 'folk', 'comedy', 'theatre']),
  venue('Cetatea Râșnov', CITY.brasov, 3, ['festival', 'rock', 'folk'], true),
  venue('Teatrul Național Radu Stanca', CITY.sibiu, 3, ['theatre']),
  venue('Piața Mare', CITY.sibiu, 3, ['festival', 'jazz', 'folk'], true),
  venue('Filarmonica Oradea', CITY.oradea, 2, ['classical']),
  venue('Teatrul Regina Maria', CITY.oradea, 2, ['theatre', 'comedy']),
  venue('Teatrul Național Marin Sorescu', CITY.craiova, 2, ['theatre']),
  venue('Filarmonica Oltenia', CITY.craiova, 2, ['classical']),
  venue('O2 Academy Brixton', CITY.london, 1, ['rock', 'pop', 'hip-hop', 'electronic']),
  venue('Columbiahalle', CITY.berlin, 1, ['rock', 'electronic', 'hip-hop']),
  venue('Budapest Park', CITY.budapest, 1, ['festival', 'rock', 'pop', 'electronic'], true),
  venue('Wiener Konzerthaus', CITY.vienna, 1, ['classical', 'jazz']),
];

const VENUES_BY_GENRE = Object.fromEntries(
  GENRES.map((genre) => [genre, weighted(VENUES.filter((v) => v.genres.includes(genre)).map((v) => [v, v.weight] as const))]),
) as Record<Genre, Weighted<Venue>>;

/** Relative number of shows per month (January first). */
const INDOOR_SEASON = [0.5, 0.9, 1.0, 1.0, 0.9, 0.7, 0.5, 0.4, 1.0, 1.4, 1.5, 1.4];
const OUTDOOR_SEASON = [0, 0, 0, 0, 0.3, 1.2, 1.5, 1.5, 0.5, 0, 0, 0];
/** Relative number of shows per weekday (Sunday first): mostly Friday and Saturday nights. */
const WEEKDAYS = [0.7, 0.35, 0.35, 0.45, 0.6, 1.0, 1.0];

/** Fictional artists, and real repertoire for classical music and theatre. */
const ACTS: Record<Exclude<Genre, 'festival' | 'classical' | 'theatre' | 'comedy'>, readonly string[]> = {
  rock: ['Fier Vechi', 'The Blackwater Kings', 'Cetatea de Fum', 'Iron Lanterns', 'Ultima Stație', 'Static Rivers', 'Lupii Albi'],
  pop: ['Ilinca Mare', 'Sonia Vega', 'The Paper Suns', 'Luna Park', 'Tudor Alb', 'Mara & The Lights'],
  electronic: ['Nocturn', 'Pulse Theory', 'Arcadia Sound System', 'Kosmo', 'Deltawave', 'Aurora Grid'],
  'hip-hop': ['MC Fulger', 'Cartel 21', 'Beton Armat', 'Lyra & Cezar', 'Zona Zero'],
  jazz: ['Trio Dunărea', 'Blue Carpathia Ensemble', 'Sorina Dan Quartet', 'The Late Hours Trio', 'Marius Avram Big Band'],
  folk: ['Muzică de Sus', 'The Wandering Pines', 'Folk Balkan Orkestar', 'Doina Nouă', 'Cerbul de Aur'],
};
const TOURS = ['Live', 'Turneu Național', 'Unplugged', 'Aniversar 10 ani', 'Tour'];
const PROGRAMS = [
  'Beethoven: Simfonia a IX-a', 'Enescu: Rapsodia română nr. 1', 'Mozart: Requiem', 'Ceaikovski: Lacul lebedelor',
  'Vivaldi: Anotimpurile', 'Brahms: Concertul pentru vioară', 'Dvořák: Simfonia Lumii Noi', 'Bach: Concertele brandenburgice',
];
const PLAYS = [
  'O scrisoare pierdută', 'Hamlet', 'Livada de vișini', "D'ale carnavalului", 'Pescărușul', 'Regele Lear',
  'Jocul de-a vacanța', 'Visul unei nopți de vară', 'Titanic Vals',
];
const COMEDY = ['Stand-up: Radu Pop', 'Stand-up: Ana Mirea', 'Stand-up: Vlad Dinu', 'Stand-up: Cristi Toma', 'Open Mic Night', 'Improv: Fără Scenariu'];
const FESTIVALS: readonly (readonly [string, Genre])[] = [
  ['Summer Pulse Festival', 'electronic'], ['Carpathian Rock Fest', 'rock'], ['Summer Jazz Days', 'jazz'],
  ['Sunset Beats', 'electronic'], ['Open Air Pop Fest', 'pop'], ['Urban Flow Fest', 'hip-hop'], ['Folk în Parc', 'folk'],
];

/** Range of the GA price (RON) by genre; other ticket types derive from it. */
const GA_PRICE: Record<Genre, readonly [number, number]> = {
  rock: [90, 250], pop: [120, 350], electronic: [100, 300], 'hip-hop': [80, 220], jazz: [70, 200],
  classical: [70, 180], theatre: [70, 150], comedy: [70, 140], folk: [70, 160], festival: [250, 400],
};
const MIN_PRICE_CENTS = 50_00;
const MAX_PRICE_CENTS = 800_00;

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

interface Show {
  id: string;
  name: string;
  genres: readonly Genre[];
  venue: string;
  city: string;
  country: string;
  startMs: number;
  endMs: number;
  startsAt: string;
  endsAt: string;
  /** Integer cents per ticket type. */
  prices: Record<TicketType, number>;
}

interface Catalog {
  /** Sorted by startMs. */
  shows: Show[];
  /** Shows billed under each genre, sorted by startMs. */
  byGenre: Record<Genre, Show[]>;
}

function showCount(customers: number): number {
  return Math.max(20, Math.ceil(customers / 50));
}

/** Index of the first show starting at or after `ms` (shows.length if none). */
function firstShowFrom(shows: readonly Show[], ms: number): number {
  let lo = 0;
  let hi = shows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((shows[mid] as Show).startMs < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function buildCatalog(customers: number, seed: number, seedTag: string, nowMs: number): Catalog {
  const rng = new Rng(seed, 0xffffffff); // customers use streams 0..customers-1
  const from = nowMs - HISTORY;
  const days = (HISTORY + UPCOMING) / DAY;
  const shows: Show[] = [];

  for (let i = 0; i < showCount(customers); i++) {
    const genre = rng.weighted(GENRE_POPULARITY);
    const place = rng.weighted(VENUES_BY_GENRE[genre]);
    const season = place.outdoor ? OUTDOOR_SEASON : INDOOR_SEASON;

    // Seasonality by rejection sampling over the days of the window (which always spans a summer).
    let dayMs: number;
    for (;;) {
      dayMs = from - (from % DAY) + rng.int(days) * DAY;
      const date = new Date(dayMs);
      const weight = (season[date.getUTCMonth()] as number) * (WEEKDAYS[date.getUTCDay()] as number);
      if (rng.next() * 1.5 < weight) break;
    }

    // Evening shows at 19:00-21:00 Romanian time; festivals run three days from the afternoon.
    const startMs = genre === 'festival' ? dayMs + 14 * HOUR : dayMs + 16 * HOUR + rng.int(5) * 30 * MINUTE;
    const endMs = startMs + (genre === 'festival' ? 2 * DAY + 10 * HOUR : DURATION[genre]);
    const year = new Date(startMs).getUTCFullYear();

    let genres: readonly Genre[];
    let name: string;
    if (genre === 'festival') {
      const [festival, style] = rng.pick(FESTIVALS);
      genres = ['festival', style];
      name = `${festival} ${year}`;
    } else {
      genres = rng.chance(0.15) ? [genre, rng.pick(RELATED_GENRES[genre])] : [genre];
      name = showName(rng, genre, year);
    }

    shows.push({
      id: '',
      name,
      genres,
      venue: place.name,
      city: place.city.name,
      country: place.city.country,
      startMs,
      endMs,
      startsAt: iso(startMs),
      endsAt: iso(endMs),
      prices: ticketPrices(rng, genre),
    });
  }

  shows.sort((a, b) => a.startMs - b.startMs);
  const byGenre = Object.fromEntries(GENRES.map((g) => [g, [] as Show[]])) as Record<Genre, Show[]>;
  shows.forEach((show, i) => {
    show.id = `ev_${seedTag}_${(i + 1).toString(36)}`;
    for (const g of show.genres) byGenre[g].push(show);
  });
  return { shows, byGenre };
}

const DURATION: Record<Exclude<Genre, 'festival'>, number> = {
  rock: 3 * HOUR, pop: 3 * HOUR, electronic: 5 * HOUR, 'hip-hop': 3 * HOUR, jazz: 2.5 * HOUR,
  folk: 2.5 * HOUR, classical: 2 * HOUR, theatre: 2.5 * HOUR, comedy: 1.5 * HOUR,
};

function showName(rng: Rng, genre: Exclude<Genre, 'festival'>, year: number): string {
  switch (genre) {
    case 'classical':
      return rng.pick(PROGRAMS);
    case 'theatre':
      return rng.pick(PLAYS);
    case 'comedy':
      return rng.pick(COMEDY);
    default: {
      const tour = rng.pick(TOURS);
      return `${rng.pick(ACTS[genre])} — ${tour === 'Tour' ? `Tour ${year}` : tour}`;
    }
  }
}

function ticketPrices(rng: Rng, genre: Genre): Record<TicketType, number> {
  const [min, max] = GA_PRICE[genre];
  const ga = (min + 5 * rng.int((max - min) / 5 + 1)) * 100; // whole multiples of 5 RON
  const clamp = (cents: number) => Math.min(MAX_PRICE_CENTS, Math.max(MIN_PRICE_CENTS, cents));
  return {
    GA: ga,
    VIP: clamp(Math.round((ga * (160 + rng.int(41))) / 100 / 500) * 500),
    // Discounts in integer cents (e.g. 15% off 75 RON = 63.75 RON).
    'Early Bird': clamp(Math.round((ga * 85) / 100)),
    Student: clamp(Math.round((ga * 60) / 100)),
  };
}

// ---------------------------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------------------------

interface Context {
  customers: number;
  seed: number;
  /** Seed in base 36, part of every id so that data sets of different seeds never collide. */
  seedTag: string;
  nowMs: number;
  historyStart: number;
  catalog: Catalog;
}

function createContext(opts: GenerateOptions): Context {
  const { customers } = opts;
  if (!Number.isSafeInteger(customers) || customers < 0) throw new RangeError('customers must be a non-negative integer');
  const now = opts.now ?? DEFAULT_NOW;
  if (Number.isNaN(now.getTime())) throw new RangeError('now must be a valid date');
  const seed = (opts.seed ?? DEFAULT_SEED) >>> 0;
  const nowMs = Math.floor(now.getTime() / SECOND) * SECOND;
  const seedTag = seed.toString(36);
  return { customers, seed, seedTag, nowMs, historyStart: nowMs - HISTORY, catalog: buildCatalog(customers, seed, seedTag, nowMs) };
}

const SOURCES = weighted([['website', 55], ['mobile_app', 25], ['box_office', 10], ['partner', 10]] as const);
const QUANTITIES = weighted([[1, 35], [2, 45], [3, 8], [4, 8], [5, 2], [6, 2]]);
const EMAIL_PATTERNS = weighted<(first: string, last: string) => string>([
  [(f, l) => `${f}.${l}`, 40],
  [(f, l) => f + l, 20],
  [(f, l) => `${f}_${l}`, 10],
  [(f, l) => f.charAt(0) + l, 10],
  [(f, l) => `${l}.${f}`, 10],
  [(f) => f, 10],
]);

/** Slightly above 3% because orders whose show is too close can no longer be refunded. */
const REFUND_RATE = 0.031;
const CANCEL_RATE = 0.02;
/** Together ~85% of tickets are used: whole groups sometimes skip, otherwise a few individuals. */
const GROUP_NO_SHOW = 0.06;
const TICKET_CHECK_IN = 0.85 / (1 - GROUP_NO_SHOW);

/** Activity by hour of day (UTC): quiet at night, peaking at 19-22 Romanian time (UTC+2/+3). */
const ACTIVE_HOURS = weighted([1, 0.5, 0.3, 0.2, 0.3, 1, 2, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 7, 8, 8, 7, 5, 3, 2].map((w, hour) => [hour, w] as const));
const FAVOURITE_COUNT = weighted([[1, 40], [2, 40], [3, 20]]);
const ABANDONED_CARTS = weighted([[1, 70], [2, 20], [3, 10]]);
/** Net-promoter style: mostly 8-10, a long tail of detractors. */
const SURVEY_SCORES = weighted([[0, 2], [1, 1], [2, 1], [3, 2], [4, 2], [5, 4], [6, 6], [7, 12], [8, 20], [9, 24], [10, 26]]);
const INTERACTION_CHANNELS = weighted([['call', 45], ['support', 25], ['email', 30]] as const);

/** An order line while simulating (price in integer cents). */
interface Line {
  show: Show;
  type: TicketType;
  quantity: number;
  unitCents: number;
}

/** Items and total of an order or cart; totals are summed in integer cents. */
function basket(lines: readonly Line[]): { total: number; currency: 'RON'; items: OrderItem[] } {
  let totalCents = 0;
  const items = lines.map(({ show, type, quantity, unitCents }): OrderItem => {
    totalCents += quantity * unitCents;
    return {
      event_id: show.id,
      event_name: show.name,
      venue: show.venue,
      city: show.city,
      genres: show.genres,
      starts_at: show.startsAt,
      ticket_type: type,
      quantity,
      unit_price: unitCents / 100,
    };
  });
  return { total: totalCents / 100, currency: 'RON', items };
}

interface SupportTopic {
  subject: string;
  /** `{order}` and `{reason}` are filled in. */
  description: string;
  outcomes: readonly string[];
  priority: 'low' | 'medium' | 'high';
}

const GENERAL_TOPICS: readonly SupportTopic[] = [
  { subject: 'Account access', description: 'Customer could not log in; sent a password reset link.', outcomes: ['resolved'], priority: 'low' },
  { subject: 'Accessibility question', description: 'Customer asked about wheelchair access and companion tickets.', outcomes: ['info_provided'], priority: 'medium' },
  { subject: 'Event information', description: 'Customer asked about parking and door opening times.', outcomes: ['info_provided'], priority: 'low' },
  { subject: 'Unsubscribe request', description: 'Customer asked to receive fewer marketing messages.', outcomes: ['resolved'], priority: 'low' },
];

const SUPPORT_TOPICS = {
  general: GENERAL_TOPICS,
  any: [
    ...GENERAL_TOPICS,
    { subject: 'Tickets not received', description: 'Tickets for {order} did not arrive by e-mail; re-sent them.', outcomes: ['resolved'], priority: 'medium' },
    { subject: 'Invoice request', description: 'Customer asked for a company invoice for {order}.', outcomes: ['resolved', 'pending'], priority: 'low' },
    { subject: 'Seat change', description: 'Customer asked to move the seats of {order} closer to the stage.', outcomes: ['resolved', 'declined'], priority: 'low' },
    { subject: 'Charged twice', description: 'Customer reports a double card charge for {order}; escalated to payments.', outcomes: ['escalated', 'resolved'], priority: 'high' },
  ] satisfies SupportTopic[],
  refund: {
    subject: 'Refund request',
    description: 'Customer requested a refund for {order} ({reason}).',
    outcomes: ['refund_issued'],
    priority: 'medium',
  } satisfies SupportTopic,
};

/** Pending event of a customer before sorting and numbering. */
interface Pending {
  ts: number;
  type: DemoEventType;
  data: Record<string, unknown>;
  /** The customer's snapshot from this event on (profile changes). */
  customer?: DemoCustomer;
}

interface PlacedOrder {
  id: string;
  ts: number;
}

/** Removes diacritics: "Ștefănescu" → "Stefanescu". */
function stripDiacritics(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').replace(/ł/g, 'l').replace(/Ł/g, 'L');
}

function emailLocal(s: string): string {
  return stripDiacritics(s).toLowerCase().replace(/ß/g, 'ss').replace(/[^a-z]/g, '');
}

/**
 * Orders per buyer: discrete Pareto (P(n >= k) = k^-1.5, capped at 40). About two thirds buy
 * once, ~3% buy 10 times or more.
 */
function orderCount(rng: Rng): number {
  return Math.min(40, Math.floor((1 - rng.next()) ** (-1 / 1.5)));
}

/** Everything one customer does, as pending events; numbered and sorted by simulateCustomer. */
class CustomerSim {
  readonly events: Pending[] = [];
  private readonly ctx: Context;
  private readonly orders: PlacedOrder[] = [];
  private readonly key: string;
  private readonly rng: Rng;
  private readonly customer: DemoCustomer;
  private readonly origin: Origin;
  private readonly home: City;
  private readonly regMs: number;
  private readonly age: number;
  private readonly favourites: Genre[] = [];
  private readonly emailConsent: boolean;
  private carts = 0;

  constructor(ctx: Context, index: number) {
    this.ctx = ctx;
    const rng = (this.rng = new Rng(ctx.seed, index));
    const number = (index + 1).toString(36);
    this.key = `${ctx.seedTag}_${number}`;

    // Identity
    this.origin = rng.chance(0.7) ? ROMANIAN : rng.weighted(FOREIGN_ORIGINS);
    const female = rng.chance(0.52);
    let first = rng.pick(female ? this.origin.female : this.origin.male);
    const [maleSurname, femaleSurname = maleSurname] = rng.pick(this.origin.surnames).split('|') as [string, string?];
    let last = female ? femaleSurname : maleSurname;
    if (this.origin === ROMANIAN && rng.chance(0.25)) {
      // Many Romanians type their names without diacritics.
      first = stripDiacritics(first);
      last = stripDiacritics(last);
    }
    this.home = rng.weighted(this.origin.homes);
    // The trailing number is the customer's number: local parts never end in a digit
    // otherwise, so addresses are unique whatever the names and domains.
    const email = `${rng.weighted(EMAIL_PATTERNS)(emailLocal(first), emailLocal(last))}${index + 1}@${rng.weighted(this.origin.domains)}`;
    const phone = rng.chance(0.8) ? this.newPhone() : undefined;
    this.customer = { external_id: `u_${index + 1}`, email, ...(phone && { phone }), first_name: first, last_name: last };

    // Buying behaviour
    const orders = rng.chance(0.15) ? 0 : orderCount(rng);
    const favouriteCount = rng.weighted(FAVOURITE_COUNT);
    while (this.favourites.length < favouriteCount) {
      const genre = rng.weighted(GENRE_POPULARITY);
      if (!this.favourites.includes(genre)) this.favourites.push(genre);
    }

    // Registrations grow over time (density rising linearly); heavy buyers are long-standing customers.
    let position = Math.sqrt(rng.next());
    if (orders >= 5) position *= 0.5;
    this.regMs = this.activeTime(ctx.historyStart, ctx.historyStart + position * (HISTORY - 2 * DAY));

    // Ages 16-75 at registration, most between 18 and 48.
    this.age = rng.chance(0.7)
      ? Math.floor(18 + ((rng.next() + rng.next() + rng.next()) / 3) * 30)
      : rng.between(16, 75);
    const birthMs = this.regMs - this.age * YEAR - rng.int(365) * DAY;

    this.emailConsent = rng.chance(0.6);
    const reported = rng.next();
    this.push(this.regMs, 'user.registered', {
      source: rng.weighted(SOURCES),
      city: this.home.name,
      country: this.home.country,
      date_of_birth: iso(birthMs).slice(0, 10),
      ...(reported < 0.12 ? {} : { gender: reported < 0.14 ? 'other' : female ? 'female' : 'male' }),
      consent: {
        marketing_email: this.emailConsent,
        // SMS consent needs a phone: 37.5% of the 80% with a phone is 30% overall.
        marketing_sms: phone !== undefined && rng.chance(0.375),
      },
      preferences: { genres: this.favourites },
    });

    this.placeOrders(orders);
    this.abandonCarts();
    this.readNewsletters();
    this.contactSupport();
    this.updateProfile();
  }

  private push(ts: number, type: DemoEventType, data: Record<string, unknown>, customer?: DemoCustomer): void {
    this.events.push(customer ? { ts, type, data, customer } : { ts, type, data });
  }

  /** A moment in [from, to] at a time of day people are active (evenings, Romanian time). */
  private activeTime(from: number, to: number): number {
    const ts = this.rng.time(from, to);
    const shifted = ts - (ts % DAY) + this.rng.weighted(ACTIVE_HOURS) * HOUR + this.rng.int(3600) * SECOND;
    return shifted >= from && shifted <= to ? shifted : ts;
  }

  /** A mobile number of the country the customer lives in; expats in Romania often keep theirs. */
  private newPhone(): string {
    const home = this.home.country as keyof typeof PHONE_BY_COUNTRY; // every home country has a generator
    const country = home === 'RO' && this.rng.chance(0.3) ? this.origin.phoneCountry : home;
    return PHONE_BY_COUNTRY[country](this.rng);
  }

  // --- Orders ---------------------------------------------------------------------------------

  private placeOrders(count: number): void {
    if (count === 0) return;
    const { rng } = this;
    const last = this.ctx.nowMs - 2 * HOUR;
    // Half register in order to buy; the others come back later.
    let first = this.regMs + Math.floor(rng.exponential(45 * DAY) / SECOND) * SECOND;
    if (rng.chance(0.55) || first > last) first = rng.time(this.regMs + 5 * MINUTE, this.regMs + 40 * MINUTE);

    const times = [first];
    for (let i = 1; i < count && first + HOUR < last; i++) times.push(this.activeTime(first + HOUR, last));
    times.sort((a, b) => a - b);
    times.forEach((ts) => this.placeOrder(ts));
  }

  private placeOrder(ts: number): void {
    const { rng } = this;
    const lines = this.chooseItems(ts);
    if (!lines) return;
    const orderId = `ord_${this.key}_${(this.orders.length + 1).toString(36)}`;
    this.orders.push({ id: orderId, ts });
    const order = { order_id: orderId, ...basket(lines) };

    if (rng.chance(0.45)) this.cartCheckout(ts, lines, orderId);
    this.push(ts, 'order.created', order);

    if (rng.chance(CANCEL_RATE)) {
      const reason = rng.pick(['payment_failed', 'payment_timeout', 'customer_cancelled']);
      this.push(rng.time(ts + 10 * MINUTE, ts + 45 * MINUTE), 'order.cancelled', { order_id: orderId, reason });
      return;
    }

    const completedAt = rng.time(ts + MINUTE, ts + 15 * MINUTE);
    this.push(completedAt, 'order.completed', { ...order });

    const refundedTickets = this.maybeRefund(orderId, completedAt, lines);
    if (refundedTickets === 'all') return;
    this.attend(orderId, lines, refundedTickets);
  }

  /**
   * ~3% of orders are refunded after completion and before the (first) show: fully, or one
   * ticket of a group. Returns how many tickets (from the end of the order) are refunded.
   */
  private maybeRefund(orderId: string, completedAt: number, lines: Line[]): number | 'all' {
    const { rng } = this;
    if (!rng.chance(REFUND_RATE)) return 0;
    const firstShow = Math.min(...lines.map((l) => l.show.startMs));
    const latest = Math.min(firstShow - 2 * HOUR, this.ctx.nowMs);
    if (completedAt + HOUR > latest) return 0;
    const ts = rng.time(completedAt + HOUR, latest);
    const tickets = lines.reduce((n, l) => n + l.quantity, 0);
    const partial = tickets > 1 && rng.chance(0.35);
    const reason = partial
      ? rng.pick(['one attendee cannot attend', 'customer_request'])
      : rng.pick(['customer_request', 'cannot_attend', 'duplicate_purchase', 'event_rescheduled']);
    const amountCents = partial ? (lines[lines.length - 1] as Line).unitCents : lines.reduce((s, l) => s + l.quantity * l.unitCents, 0);
    if (rng.chance(0.5)) {
      const topic = SUPPORT_TOPICS.refund;
      this.logInteraction(rng.time(Math.max(completedAt + MINUTE, ts - 3 * HOUR), ts - 10 * MINUTE), topic, orderId, reason);
    }
    this.push(ts, 'order.refunded', { order_id: orderId, amount: amountCents / 100, reason });
    return partial ? 1 : 'all';
  }

  /** Check-ins for shows that have happened, and the occasional satisfaction survey. */
  private attend(orderId: string, lines: Line[], refundedTickets: number): void {
    const { rng, ctx } = this;
    const usable = lines.reduce((n, l) => n + l.quantity, 0) - refundedTickets;
    let ticket = 0;
    for (const { show, quantity } of lines) {
      // A show "has happened" once it has been running for an hour (so every check-in is in the past).
      const happened = show.startMs + HOUR <= ctx.nowMs;
      const groupCame = !rng.chance(GROUP_NO_SHOW);
      let attended = false;
      for (let q = 0; q < quantity; q++) {
        ticket++;
        if (!happened || !groupCame || ticket > usable || !rng.chance(TICKET_CHECK_IN)) continue;
        const at = rng.time(show.startMs - HOUR, show.startMs + 45 * MINUTE);
        const checkedInAt = iso(at);
        this.push(at, 'ticket.checked_in', {
          event_id: show.id,
          order_id: orderId,
          ticket_id: `tkt_${orderId.slice(4)}_${ticket}`,
          checked_in_at: checkedInAt,
        });
        attended = true;
      }
      if (attended && rng.chance(0.04)) {
        const at = rng.time(show.endMs + 12 * HOUR, show.endMs + 48 * HOUR);
        if (at <= ctx.nowMs) this.push(at, 'custom.survey_answered', { score: rng.weighted(SURVEY_SCORES) });
      }
    }
  }

  /** One or two shows, mostly in the customer's favourite genres and home city. */
  private chooseItems(ts: number): Line[] | undefined {
    const { rng } = this;
    const first = this.chooseShow(ts);
    if (!first) return undefined;
    const lines = [this.line(ts, first)];
    if (rng.chance(0.15)) {
      const second = this.chooseShow(ts);
      if (second && second !== first) lines.push(this.line(ts, second));
    }
    return lines;
  }

  private chooseShow(ts: number): Show | undefined {
    const { rng } = this;
    const { shows, byGenre } = this.ctx.catalog;
    const earliest = ts + 6 * HOUR;
    // Most tickets are bought a few weeks ahead.
    const target = earliest + rng.exponential(21 * DAY);
    // Mostly the favourite genre with the soonest show (small catalogs have few shows per genre).
    const genres = rng.chance(0.8) ? this.favourites : [rng.weighted(GENRE_POPULARITY)];
    let list: readonly Show[] = shows;
    let i = shows.length;
    for (const genre of genres) {
      const candidates = byGenre[genre];
      const j = firstShowFrom(candidates, target);
      const next = candidates[j];
      if (next && next.startMs - ts <= 180 * DAY && (i >= list.length || next.startMs < (list[i] as Show).startMs)) {
        list = candidates;
        i = j;
      }
    }
    if (i >= list.length) {
      list = shows;
      i = firstShowFrom(list, earliest);
      if (i >= list.length) return undefined;
    }
    // Among the next few shows of the following month, one in the home city is the likely choice.
    const horizon = (list[i] as Show).startMs + 30 * DAY;
    let end = i + 1;
    while (end < list.length && end < i + 4 && (list[end] as Show).startMs <= horizon) end++;
    for (let j = i; j < end; j++) {
      if ((list[j] as Show).city === this.home.name && rng.chance(0.7)) return list[j];
    }
    return list[i + rng.int(end - i)];
  }

  private line(ts: number, show: Show): Line {
    const { rng } = this;
    const r = rng.next();
    let type: TicketType = 'GA';
    if (r < 0.12) type = 'VIP';
    else if (r < 0.4 && show.startMs - ts >= 45 * DAY) type = 'Early Bird';
    else if (r < 0.55 && this.age <= 25) type = 'Student';
    return { show, type, quantity: rng.weighted(QUANTITIES), unitCents: show.prices[type] };
  }

  // --- Carts ----------------------------------------------------------------------------------

  /** Cart updates and the checkout that leads to order `orderId` at `ts`. */
  private cartCheckout(ts: number, lines: Line[], orderId: string): void {
    const { rng } = this;
    const cartId = this.nextCartId();
    const from = Math.max(this.regMs + 30 * SECOND, ts - 25 * MINUTE);
    const firstUpdate = rng.time(from, ts - 2 * MINUTE);
    if (rng.chance(0.4)) {
      // Changed their mind about the number of tickets before paying.
      const [head, ...rest] = lines as [Line, ...Line[]];
      const before = [{ ...head, quantity: head.quantity > 1 ? head.quantity - 1 : head.quantity + 1 }, ...rest];
      this.push(firstUpdate, 'cart.updated', { cart_id: cartId, ...basket(before) });
      this.push(rng.time(firstUpdate, ts - MINUTE), 'cart.updated', { cart_id: cartId, ...basket(lines) });
    } else {
      this.push(firstUpdate, 'cart.updated', { cart_id: cartId, ...basket(lines) });
    }
    this.push(ts - rng.between(5, 50) * SECOND, 'cart.checked_out', { cart_id: cartId, order_id: orderId });
  }

  /** ~20% of customers leave a cart behind at some point (one to three times). */
  private abandonCarts(): void {
    const { rng, ctx } = this;
    if (!rng.chance(0.2)) return;
    const count = rng.weighted(ABANDONED_CARTS);
    for (let c = 0; c < count; c++) {
      let ts = this.activeTime(this.regMs + MINUTE, ctx.nowMs - HOUR);
      const lines = this.chooseItems(ts);
      if (!lines) continue;
      const cartId = this.nextCartId();
      const updates = rng.between(1, 3);
      for (let u = 0; u < updates; u++) {
        this.push(ts, 'cart.updated', { cart_id: cartId, ...basket(u === 0 ? lines.slice(0, 1) : lines) });
        ts += rng.between(1, 10) * MINUTE;
      }
    }
  }

  private nextCartId(): string {
    return `cart_${this.key}_${(++this.carts).toString(36)}`;
  }

  // --- Engagement -----------------------------------------------------------------------------

  /**
   * Weekly newsletters (campaign k goes out at historyStart + k weeks, 08:00 UTC). Three in four
   * customers who accept marketing e-mail open a few of those sent after they registered, and
   * sometimes click through to a show.
   */
  private readNewsletters(): void {
    const { rng, ctx } = this;
    if (!this.emailConsent || !rng.chance(0.75)) return;
    const sendOffset = 8 * HOUR;
    const firstCampaign = Math.max(0, Math.ceil((this.regMs - ctx.historyStart - sendOffset) / WEEK));
    const lastCampaign = Math.floor((ctx.nowMs - HOUR - ctx.historyStart - sendOffset) / WEEK);
    if (firstCampaign > lastCampaign) return;

    const opened: number[] = [];
    const count = rng.between(1, 6);
    for (let n = 0; n < count; n++) {
      const k = rng.between(firstCampaign, lastCampaign);
      if (opened.includes(k)) continue;
      opened.push(k);
      const sentAt = ctx.historyStart + k * WEEK + sendOffset;
      const openedAt = sentAt + 2 * MINUTE + Math.floor(Math.min(rng.exponential(5 * HOUR), 3 * DAY) / SECOND) * SECOND;
      if (openedAt > ctx.nowMs) continue;
      const campaignId = `cmp_${ctx.seedTag}_${(k + 1).toString(36)}`;
      const message = { campaign_id: campaignId, message_id: `msg_${this.key}_${(k + 1).toString(36)}` };
      this.push(openedAt, 'email.opened', message);

      const clickedAt = openedAt + rng.between(5, 300) * SECOND;
      if (rng.chance(0.35) && clickedAt <= ctx.nowMs) {
        const promoted = ctx.catalog.shows[firstShowFrom(ctx.catalog.shows, sentAt + WEEK)];
        const path = promoted ? `events/${promoted.id}` : 'events';
        this.push(clickedAt, 'email.clicked', {
          ...message,
          url: `https://tickets.encore.example/${path}?utm_source=newsletter&utm_medium=email&utm_campaign=${campaignId}`,
        });
      }
    }
  }

  /** ~6% of customers contact support once or twice (refund requests are logged separately). */
  private contactSupport(): void {
    const { rng, ctx } = this;
    if (!rng.chance(0.06)) return;
    const count = rng.chance(0.7) ? 1 : 2;
    for (let n = 0; n < count; n++) {
      const ts = this.activeTime(this.regMs + HOUR, ctx.nowMs - 10 * MINUTE);
      let order: PlacedOrder | undefined;
      for (const o of this.orders) if (o.ts < ts) order = o;
      const topic = order ? rng.pick(SUPPORT_TOPICS.any) : rng.pick(SUPPORT_TOPICS.general);
      this.logInteraction(ts, topic, order?.id);
    }
  }

  private logInteraction(ts: number, topic: SupportTopic, orderId?: string, reason?: string): void {
    const { rng } = this;
    const description = topic.description.replace('{order}', orderId ?? '').replace('{reason}', reason ?? '');
    this.push(ts, 'interaction.logged', {
      type: rng.weighted(INTERACTION_CHANNELS),
      subject: topic.subject,
      description,
      outcome: rng.pick(topic.outcomes),
      priority: rng.chance(0.8) ? topic.priority : rng.pick(['low', 'medium', 'high']),
    });
  }

  /** ~8% change their profile: they move (60%) or get a new phone number. */
  private updateProfile(): void {
    const { rng, ctx } = this;
    if (!rng.chance(0.08)) return;
    const from = this.regMs + DAY;
    const to = ctx.nowMs - HOUR;
    if (from > to) return;
    const ts = this.activeTime(from, to);
    if (rng.chance(0.6)) {
      let city = rng.weighted(RO_HOME);
      if (city === this.home) city = city === CITY.bucuresti ? CITY.cluj : CITY.bucuresti;
      const changes = city.country === this.home.country ? { city: city.name } : { city: city.name, country: city.country };
      this.push(ts, 'customer.updated', { changes });
    } else {
      const phone = this.newPhone();
      // Later events identify the customer by the new number.
      this.push(ts, 'customer.updated', { changes: { phone } }, { ...this.customer, phone });
    }
  }

  /** Sorted, numbered events. */
  finish(): DemoEvent[] {
    // Stable sort: events at the same second keep the causal order in which they were pushed.
    this.events.sort((a, b) => a.ts - b.ts);
    let customer = this.customer;
    return this.events.map((e, n) => {
      if (e.customer) customer = e.customer;
      return { id: `evt_${this.key}_${n.toString(36)}`, type: e.type, occurred_at: iso(e.ts), customer, data: e.data };
    });
  }
}

function simulateCustomer(ctx: Context, index: number): DemoEvent[] {
  return new CustomerSim(ctx, index).finish();
}
