import { describe, it, expect } from 'vitest';
import { isValidPhoneNumber } from 'libphonenumber-js';
import { isValidPhoneNumber as isValidPhoneNumberMax } from 'libphonenumber-js/max';
import {
  DEFAULT_NOW,
  DEMO_EVENT_TYPES,
  GENRES,
  TICKET_TYPES,
  generateBatches,
  generateCatalog,
  generateEvents,
  type DemoEvent,
  type OrderItem,
} from './demo.generator.js';

const HOUR = 3_600_000;
const NOW = DEFAULT_NOW.getTime();
const CUSTOMERS = 2000;
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** One 2,000-customer run shared by the statistical tests (generated once, ~25k events). */
const events = [...generateEvents({ customers: CUSTOMERS })];

interface Basket {
  total: number;
  currency: string;
  items: OrderItem[];
}
interface OrderData extends Basket {
  order_id: string;
}
interface Order {
  customer: string;
  created: DemoEvent & { data: OrderData };
  completed?: DemoEvent & { data: OrderData };
  refunded?: DemoEvent;
  cancelled?: DemoEvent;
}

const ofType = (type: string) => events.filter((e) => e.type === type);
const ms = (iso: string) => Date.parse(iso);
const cents = (amount: number) => Math.round(amount * 100);
const hasAtMostTwoDecimals = (amount: number) => Math.abs(amount * 100 - Math.round(amount * 100)) < 1e-6;

function byCustomer(list: DemoEvent[]): Map<string, DemoEvent[]> {
  const map = new Map<string, DemoEvent[]>();
  for (const e of list) {
    const own = map.get(e.customer.external_id);
    if (own) own.push(e);
    else map.set(e.customer.external_id, [e]);
  }
  return map;
}

function ordersOf(list: DemoEvent[]): Map<string, Order> {
  const orders = new Map<string, Order>();
  for (const e of list) {
    const id = e.data.order_id as string;
    if (e.type === 'order.created') {
      if (orders.has(id)) throw new Error(`order ${id} created twice`);
      orders.set(id, { customer: e.customer.external_id, created: e as Order['created'] });
    } else if (e.type === 'order.completed') orders.get(id)!.completed = e as Order['created'];
    else if (e.type === 'order.refunded') orders.get(id)!.refunded = e;
    else if (e.type === 'order.cancelled') orders.get(id)!.cancelled = e;
  }
  return orders;
}

const customers = byCustomer(events);
const orders = ordersOf(events);

describe('determinism and ids', () => {
  it('produces identical events for the same seed and different ones for another seed', () => {
    const a = JSON.stringify([...generateEvents({ customers: 300, seed: 7 })]);
    const b = JSON.stringify([...generateEvents({ customers: 300, seed: 7, now: new Date(DEFAULT_NOW) })]);
    const c = JSON.stringify([...generateEvents({ customers: 300, seed: 8 })]);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('gives every event a unique id, with no overlap between seeds', () => {
    const ids = new Set(events.map((e) => e.id));
    expect(ids.size).toBe(events.length);
    for (const e of generateEvents({ customers: 300, seed: 7 })) expect(ids.has(e.id)).toBe(false);
    expect(events.every((e) => /^evt_[0-9a-z]+_[0-9a-z]+_[0-9a-z]+$/.test(e.id))).toBe(true);
  });

  it("keeps a customer's events stable when more customers are generated", () => {
    // Both sizes use the minimum catalog of 20 shows, so the first 10 customers must not change.
    const ten = [...generateEvents({ customers: 10, seed: 3 })];
    const twenty = [...generateEvents({ customers: 20, seed: 3 })];
    expect(JSON.stringify(twenty.slice(0, ten.length))).toBe(JSON.stringify(ten));
    expect(twenty[ten.length]?.customer.external_id).toBe('u_11');
  });

  it('yields customers one after the other with contiguous events', () => {
    const order = events.map((e) => e.customer.external_id).filter((id, i, all) => id !== all[i - 1]);
    expect(order).toEqual(Array.from({ length: CUSTOMERS }, (_, i) => `u_${i + 1}`));
  });

  it('validates its options', () => {
    expect(() => generateEvents({ customers: -1 }).next()).toThrow(RangeError);
    expect(() => generateEvents({ customers: 1.5 }).next()).toThrow(RangeError);
    expect(() => generateEvents({ customers: 1, now: new Date('nope') }).next()).toThrow(RangeError);
    expect(() => generateBatches({ customers: 1, batchSize: 1001 }).next()).toThrow(RangeError);
    expect([...generateEvents({ customers: 0 })]).toEqual([]);
  });
});

describe('batches', () => {
  it('splits the same stream into batches of at most batchSize', () => {
    const batches = [...generateBatches({ customers: 200, seed: 5, batchSize: 97 })];
    expect(batches.slice(0, -1).every((b) => b.length === 97)).toBe(true);
    expect(batches.at(-1)!.length).toBeGreaterThan(0);
    expect(batches.at(-1)!.length).toBeLessThanOrEqual(97);
    expect(JSON.stringify(batches.flat())).toBe(JSON.stringify([...generateEvents({ customers: 200, seed: 5 })]));
    expect([...generateBatches({ customers: 200, seed: 5 })].every((b) => b.length <= 1000)).toBe(true);
  });
});

describe('catalog', () => {
  it('scales with customers and is sorted, unique and priced in RON', () => {
    expect(generateCatalog({ customers: 10 })).toHaveLength(20);
    const shows = generateCatalog({ customers: 100_000 });
    expect(shows).toHaveLength(2000);
    expect(new Set(shows.map((s) => s.id)).size).toBe(shows.length);
    for (let i = 1; i < shows.length; i++) expect(shows[i]!.starts_at >= shows[i - 1]!.starts_at).toBe(true);
    for (const show of shows) {
      expect(show.starts_at).toMatch(ISO_SECONDS);
      expect(ms(show.ends_at)).toBeGreaterThan(ms(show.starts_at));
      for (const type of TICKET_TYPES) {
        expect(show.prices[type]).toBeGreaterThanOrEqual(50);
        expect(show.prices[type]).toBeLessThanOrEqual(800);
        expect(hasAtMostTwoDecimals(show.prices[type])).toBe(true);
      }
    }
    expect(new Set(shows.flatMap((s) => s.genres))).toEqual(new Set(GENRES));
    const upcoming = shows.filter((s) => ms(s.starts_at) > NOW).length;
    expect(upcoming / shows.length).toBeGreaterThan(0.05);
    expect(upcoming / shows.length).toBeLessThan(0.2);
    expect(ms(shows[0]!.starts_at)).toBeGreaterThanOrEqual(NOW - 731 * 24 * HOUR);
  });

  it('is seasonal: festivals in summer, indoor shows peak in autumn', () => {
    const shows = generateCatalog({ customers: 100_000 });
    const month = (iso: string) => new Date(iso).getUTCMonth();
    const festivals = shows.filter((s) => s.genres.includes('festival'));
    expect(festivals.length).toBeGreaterThan(50);
    expect(festivals.every((s) => month(s.starts_at) >= 4 && month(s.starts_at) <= 8)).toBe(true);

    const indoor = shows.filter((s) => s.genres.includes('theatre') || s.genres.includes('classical'));
    const perMonth = new Array<number>(12).fill(0);
    for (const s of indoor) perMonth[month(s.starts_at)]!++;
    const autumn = (perMonth[9]! + perMonth[10]! + perMonth[11]!) / 3;
    const lull = (perMonth[0]! + perMonth[7]!) / 2;
    expect(autumn).toBeGreaterThan(2 * lull);
  });
});

describe('customers', () => {
  const registrations = ofType('user.registered');

  it('registers every customer once, as their first event', () => {
    expect(registrations).toHaveLength(CUSTOMERS);
    for (const own of customers.values()) expect(own[0]!.type).toBe('user.registered');
  });

  it('has unique, lower-case e-mails and valid E.164 phones for ~80%', () => {
    const emails = registrations.map((e) => e.customer.email);
    expect(new Set(emails).size).toBe(CUSTOMERS);
    for (const email of emails) {
      expect(email).toBe(email.toLowerCase());
      expect(email).toMatch(/^[a-z._]+[0-9]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/);
    }
    const phones = [
      ...events.flatMap((e) => (e.customer.phone ? [e.customer.phone] : [])),
      ...ofType('customer.updated').flatMap((e) => {
        const phone = (e.data.changes as { phone?: string }).phone;
        return phone ? [phone] : [];
      }),
    ];
    for (const phone of new Set(phones)) {
      expect(phone).toMatch(/^\+[1-9]\d{7,14}$/);
      expect(isValidPhoneNumber(phone), phone).toBe(true);
      expect(isValidPhoneNumberMax(phone), phone).toBe(true);
    }
    const withPhone = registrations.filter((e) => e.customer.phone).length / CUSTOMERS;
    expect(withPhone).toBeGreaterThan(0.75);
    expect(withPhone).toBeLessThan(0.85);
    expect(phones.some((p) => !p.startsWith('+40'))).toBe(true);
  });

  it('keeps phone numbers valid across a large population (rare prefixes included)', () => {
    let checked = 0;
    for (const e of generateEvents({ customers: 30_000, seed: 2 })) {
      const phone = e.type === 'user.registered' ? e.customer.phone : e.type === 'customer.updated' ? (e.data.changes as { phone?: string }).phone : undefined;
      if (!phone) continue;
      checked++;
      if (!isValidPhoneNumber(phone) || !isValidPhoneNumberMax(phone)) expect.fail(`invalid phone ${phone}`);
    }
    expect(checked).toBeGreaterThan(20_000);
  });

  it('mixes Romanian (with and without diacritics) and international names', () => {
    const surnames = registrations.map((e) => e.customer.last_name);
    const romanian = new Set(['Popescu', 'Ionescu', 'Popa', 'Dumitrescu', 'Stan', 'Stoica', 'Gheorghe', 'Rusu', 'Munteanu', 'Matei']);
    expect(surnames.filter((s) => romanian.has(s)).length).toBeGreaterThan(CUSTOMERS * 0.1);
    expect(surnames).toContain('Ștefănescu');
    expect(surnames).toContain('Stefanescu');
    expect(surnames.some((s) => ['Smith', 'Müller', 'García', 'Rossi', 'Nagy'].includes(s))).toBe(true);
    const ro = registrations.filter((e) => e.data.country === 'RO').length / CUSTOMERS;
    expect(ro).toBeGreaterThan(0.75);
    expect(ro).toBeLessThan(0.95);
  });

  it('has realistic registration data', () => {
    const birthMonths = new Set<string>();
    let emailConsent = 0;
    let smsConsent = 0;
    let genderOmitted = 0;
    for (const { data, customer } of registrations) {
      expect(['website', 'mobile_app', 'box_office', 'partner']).toContain(data.source);
      expect(data.country).toMatch(/^[A-Z]{2}$/);
      expect(typeof data.city).toBe('string');
      const dob = data.date_of_birth as string;
      expect(dob).toMatch(/^\d{4}-\d\d-\d\d$/);
      const age = (NOW - ms(dob)) / (365.25 * 24 * HOUR);
      expect(age).toBeGreaterThanOrEqual(16);
      expect(age).toBeLessThan(78);
      birthMonths.add(dob.slice(5, 7));
      if (data.gender === undefined) genderOmitted++;
      else expect(['female', 'male', 'other']).toContain(data.gender);
      const consent = data.consent as { marketing_email: boolean; marketing_sms: boolean };
      if (consent.marketing_email) emailConsent++;
      if (consent.marketing_sms) {
        smsConsent++;
        expect(customer.phone).toBeDefined();
      }
      const genres = (data.preferences as { genres: string[] }).genres;
      expect(genres.length).toBeGreaterThanOrEqual(1);
      expect(genres.length).toBeLessThanOrEqual(3);
      for (const g of genres) expect(GENRES).toContain(g);
    }
    expect(birthMonths.size).toBe(12);
    expect(emailConsent / CUSTOMERS).toBeGreaterThan(0.55);
    expect(emailConsent / CUSTOMERS).toBeLessThan(0.65);
    expect(smsConsent / CUSTOMERS).toBeGreaterThan(0.25);
    expect(smsConsent / CUSTOMERS).toBeLessThan(0.35);
    expect(genderOmitted).toBeGreaterThan(0);
  });

  it('carries a changed phone number on the following events', () => {
    const changes = ofType('customer.updated');
    expect(changes.some((e) => 'city' in (e.data.changes as object))).toBe(true);
    const phoneChanges = changes.filter((e) => 'phone' in (e.data.changes as object));
    expect(phoneChanges.length).toBeGreaterThan(0);
    for (const change of phoneChanges) {
      const own = customers.get(change.customer.external_id)!;
      const phone = (change.data.changes as { phone: string }).phone;
      for (const e of own.slice(own.indexOf(change))) expect(e.customer.phone).toBe(phone);
    }
  });
});

describe('timeline', () => {
  it('is in time order per customer, in the contract format and never after now', () => {
    for (const own of customers.values()) {
      for (let i = 0; i < own.length; i++) {
        const e = own[i]!;
        expect(e.occurred_at).toMatch(ISO_SECONDS);
        expect(ms(e.occurred_at)).toBeLessThanOrEqual(NOW);
        if (i > 0) expect(e.occurred_at >= own[i - 1]!.occurred_at).toBe(true);
      }
    }
  });

  it('contains every event type', () => {
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(DEMO_EVENT_TYPES));
  });
});

describe('orders', () => {
  it('has totals equal to the sum of the items, in cents', () => {
    const baskets = events.filter((e) => ['order.created', 'order.completed', 'cart.updated'].includes(e.type));
    expect(baskets.length).toBeGreaterThan(1000);
    for (const { data } of baskets) {
      const { total, currency, items } = data as unknown as Basket;
      expect(currency).toBe('RON');
      expect(items.length).toBeGreaterThan(0);
      expect(hasAtMostTwoDecimals(total)).toBe(true);
      let sum = 0;
      for (const item of items) {
        expect(hasAtMostTwoDecimals(item.unit_price)).toBe(true);
        expect(Number.isInteger(item.quantity) && item.quantity > 0).toBe(true);
        expect(TICKET_TYPES).toContain(item.ticket_type);
        expect(item.event_id).toMatch(/^ev_/);
        sum += item.quantity * cents(item.unit_price);
      }
      expect(cents(total)).toBe(sum);
    }
  });

  it('completes orders minutes after creation, with the same content, before their shows', () => {
    for (const order of orders.values()) {
      const created = ms(order.created.occurred_at);
      for (const item of order.created.data.items) expect(ms(item.starts_at)).toBeGreaterThan(created);
      if (!order.completed) continue;
      const delay = ms(order.completed.occurred_at) - created;
      expect(delay).toBeGreaterThan(0);
      expect(delay).toBeLessThanOrEqual(15 * 60_000);
      expect(order.completed.data).toEqual(order.created.data);
    }
  });

  it('cancels ~2% of orders, which never complete', () => {
    const cancelled = [...orders.values()].filter((o) => o.cancelled);
    for (const o of cancelled) {
      expect(o.completed).toBeUndefined();
      expect(ms(o.cancelled!.occurred_at)).toBeGreaterThan(ms(o.created.occurred_at));
    }
    expect(cancelled.length / orders.size).toBeGreaterThan(0.01);
    expect(cancelled.length / orders.size).toBeLessThan(0.03);
    expect([...orders.values()].every((o) => o.completed || o.cancelled)).toBe(true);
  });

  it('refunds ~3% of orders, at most the total, after completion and before the show', () => {
    const refunded = [...orders.values()].filter((o) => o.refunded);
    let partial = 0;
    for (const o of refunded) {
      const amount = o.refunded!.data.amount as number;
      expect(o.completed).toBeDefined();
      expect(amount).toBeGreaterThan(0);
      expect(hasAtMostTwoDecimals(amount)).toBe(true);
      expect(cents(amount)).toBeLessThanOrEqual(cents(o.completed!.data.total));
      if (cents(amount) < cents(o.completed!.data.total)) partial++;
      expect(typeof o.refunded!.data.reason).toBe('string');
      const at = ms(o.refunded!.occurred_at);
      expect(at).toBeGreaterThan(ms(o.completed!.occurred_at));
      expect(at).toBeLessThan(Math.min(...o.created.data.items.map((i) => ms(i.starts_at))));
    }
    const completed = [...orders.values()].filter((o) => o.completed).length;
    expect(refunded.length / completed).toBeGreaterThan(0.02);
    expect(refunded.length / completed).toBeLessThan(0.04);
    expect(partial).toBeGreaterThan(0);
  });

  it('has a heavy-tailed number of orders per buyer, and ~15% never buy', () => {
    const perCustomer = new Map<string, number>();
    for (const o of orders.values()) if (o.completed) perCustomer.set(o.customer, (perCustomer.get(o.customer) ?? 0) + 1);
    const counts = [...perCustomer.values()].sort((a, b) => b - a);
    const total = counts.reduce((s, n) => s + n, 0);
    expect(counts.filter((n) => n === 1).length / counts.length).toBeGreaterThan(0.5);
    const top = counts.slice(0, Math.ceil(counts.length / 100));
    expect(top.reduce((s, n) => s + n, 0) / total).toBeGreaterThan(0.05); // top 1% of buyers: >5% of orders
    expect(counts[0]).toBeGreaterThanOrEqual(10);
    expect(counts[0]).toBeLessThanOrEqual(40);

    const buyers = new Set([...orders.values()].map((o) => o.customer));
    const neverBought = 1 - buyers.size / CUSTOMERS;
    expect(neverBought).toBeGreaterThan(0.1);
    expect(neverBought).toBeLessThan(0.2);
  });

  it('buys mostly within the favourite genres', () => {
    /** Share of purchased items in one of the buyer's favourite genres. */
    const affinity = (stream: Iterable<DemoEvent>) => {
      const favourites = new Map<string, string[]>();
      let items = 0;
      let matching = 0;
      for (const e of stream) {
        if (e.type === 'user.registered') favourites.set(e.customer.external_id, (e.data.preferences as { genres: string[] }).genres);
        if (e.type !== 'order.created') continue;
        for (const item of (e.data as unknown as OrderData).items) {
          items++;
          if (item.genres.some((g) => favourites.get(e.customer.external_id)!.includes(g))) matching++;
        }
      }
      return matching / items;
    };
    // The minimum catalog (40 shows for 2,000 customers) often has no show of a genre for months.
    expect(affinity(events)).toBeGreaterThan(0.55);
    expect(affinity(generateEvents({ customers: 20_000, seed: 11 }))).toBeGreaterThan(0.75);
  });
});

describe('check-ins', () => {
  const checkIns = ofType('ticket.checked_in');

  it('checks in 80-90% of past-show tickets of non-refunded orders, once per ticket', () => {
    const ticketIds = new Set<string>();
    const eligible = new Map<string, { order: Order; item: OrderItem }>(); // ticket id -> ticket
    let pastTickets = 0;
    for (const [id, order] of orders) {
      if (!order.completed || order.refunded) continue;
      let n = 0;
      for (const item of order.completed.data.items) {
        for (let q = 0; q < item.quantity; q++) {
          n++;
          if (ms(item.starts_at) + HOUR <= NOW) {
            pastTickets++;
            eligible.set(`tkt_${id.slice(4)}_${n}`, { order, item });
          }
        }
      }
    }
    let used = 0;
    for (const e of checkIns) {
      const ticketId = e.data.ticket_id as string;
      expect(ticketIds.has(ticketId)).toBe(false);
      ticketIds.add(ticketId);
      expect(e.data.checked_in_at).toBe(e.occurred_at);
      const order = orders.get(e.data.order_id as string)!;
      expect(order.customer).toBe(e.customer.external_id);
      const ticket = eligible.get(ticketId);
      if (!ticket) {
        // Only the kept tickets of partially refunded orders may be used otherwise.
        expect(order.refunded).toBeDefined();
        continue;
      }
      used++;
      expect(e.data.event_id).toBe(ticket.item.event_id);
      expect(Math.abs(ms(e.occurred_at) - ms(ticket.item.starts_at))).toBeLessThanOrEqual(HOUR);
    }
    expect(pastTickets).toBeGreaterThan(2000);
    expect(used / pastTickets).toBeGreaterThan(0.8);
    expect(used / pastTickets).toBeLessThan(0.9);
  });

  it('never checks in to future shows or fully refunded orders', () => {
    for (const e of checkIns) {
      const order = orders.get(e.data.order_id as string)!;
      const item = order.created.data.items.find((i) => i.event_id === e.data.event_id)!;
      expect(ms(item.starts_at)).toBeLessThanOrEqual(NOW);
      if (order.refunded) expect(cents(order.refunded.data.amount as number)).toBeLessThan(cents(order.created.data.total));
    }
    const future = [...orders.values()].filter((o) => o.created.data.items.every((i) => ms(i.starts_at) > NOW));
    expect(future.length).toBeGreaterThan(0); // upcoming shows sell tickets too
  });
});

describe('carts and engagement', () => {
  it('checks carts out into orders and leaves ~20% of customers with an abandoned cart', () => {
    const checkedOut = new Set<string>();
    for (const e of ofType('cart.checked_out')) {
      const order = orders.get(e.data.order_id as string)!;
      expect(order.customer).toBe(e.customer.external_id);
      expect(ms(e.occurred_at)).toBeLessThanOrEqual(ms(order.created.occurred_at));
      checkedOut.add(e.data.cart_id as string);
    }
    const abandoners = new Set(
      ofType('cart.updated').filter((e) => !checkedOut.has(e.data.cart_id as string)).map((e) => e.customer.external_id),
    );
    expect(abandoners.size / CUSTOMERS).toBeGreaterThan(0.15);
    expect(abandoners.size / CUSTOMERS).toBeLessThan(0.25);
  });

  it('sends e-mail engagement only for consenting customers, clicks after opens', () => {
    const consenting = new Set(
      ofType('user.registered')
        .filter((e) => (e.data.consent as { marketing_email: boolean }).marketing_email)
        .map((e) => e.customer.external_id),
    );
    const opened = new Map<string, DemoEvent>();
    for (const e of ofType('email.opened')) {
      expect(consenting.has(e.customer.external_id)).toBe(true);
      expect(e.data.campaign_id).toMatch(/^cmp_/);
      opened.set(e.data.message_id as string, e);
    }
    const clicks = ofType('email.clicked');
    expect(clicks.length).toBeGreaterThan(0);
    for (const e of clicks) {
      const open = opened.get(e.data.message_id as string)!;
      expect(open.data.campaign_id).toBe(e.data.campaign_id);
      expect(e.occurred_at >= open.occurred_at).toBe(true);
      expect(e.data.url).toMatch(/^https:\/\//);
    }
  });

  it('logs support interactions and survey answers with valid fields', () => {
    for (const { data } of ofType('interaction.logged')) {
      expect(['call', 'support', 'email']).toContain(data.type);
      expect(['low', 'medium', 'high']).toContain(data.priority);
      for (const field of ['subject', 'description', 'outcome']) expect(typeof data[field]).toBe('string');
    }
    for (const { data } of ofType('custom.survey_answered')) {
      expect(Number.isInteger(data.score)).toBe(true);
      expect(data.score).toBeGreaterThanOrEqual(0);
      expect(data.score).toBeLessThanOrEqual(10);
    }
  });
});
