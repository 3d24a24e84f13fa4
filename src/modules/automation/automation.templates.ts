import type { StepInput, TriggerType } from './automation.schemas.js';

/**
 * The use cases of seed 001 ("Use cases", plus the post-event feedback request of "Marketing
 * Automation") as ready-made workflows: one call creates the workflow, its e-mail templates and,
 * for the VIP program, the VIP segment. E-mails are Liquid: `customer`, `metrics`,
 * `recommendations` (upcoming shows ranked for the customer), `trigger` (what enrolled them:
 * the show, the cart, the segment), `incentive` (code, percent_off/amount_off, expires_on) and
 * `unsubscribe_url`.
 */

export type ParamValue = string | number | boolean | null;

export interface MessageTemplateDef {
  /** referenced by steps as template_ref */
  ref: string;
  name: string;
  subject: string;
  html: string;
}

export interface WorkflowTemplateDef {
  key: string;
  name: string;
  useCase: string;
  description: string;
  params: Record<string, ParamValue>;
  build(p: Record<string, ParamValue>): {
    triggerType: TriggerType;
    triggerConfig: Record<string, unknown>;
    reentry: 'once' | 'after_exit' | 'always';
    cooldownMinutes: number;
    /** a dynamic segment to create first; the trigger config gets its id as segment_id */
    segment?: { name: string; rules: unknown };
    templates: MessageTemplateDef[];
    /** send steps name their template with config.template_ref */
    steps: StepInput[];
  };
}

const FOOTER = `<p style="color:#888;font-size:12px">You get this because you are a customer of {{ tenant.name }}. <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>`;

const RECOMMENDATIONS = `{% if recommendations.size > 0 %}<ul>{% for r in recommendations %}<li><strong>{{ r.name }}</strong>{% if r.venue %} at {{ r.venue }}{% endif %}{% if r.starts_at %}, {{ r.starts_at | date: "%d %b %Y" }}{% endif %}{% if r.genres.size > 0 %} ({{ r.genres | join: ", " }}){% endif %}</li>{% endfor %}</ul>{% else %}<p>Have a look at our programme for what is coming up.</p>{% endif %}`;

const num = (v: ParamValue) => Number(v);

export const WORKFLOW_TEMPLATES: WorkflowTemplateDef[] = [
  {
    key: 'vip_program',
    name: 'VIP customer program',
    useCase: 'VIP Customer Program',
    description: 'Customers whose total spend reaches the threshold enter a VIP segment, are tagged "vip" and get a VIP welcome with priority access and exclusive offers.',
    params: { min_total_spend: 500, tag: 'vip' },
    build: (p) => ({
      triggerType: 'segment_entered',
      triggerConfig: {},
      reentry: 'once',
      cooldownMinutes: 0,
      segment: { name: `VIP customers (spend ≥ ${num(p.min_total_spend)})`, rules: { operator: 'and', conditions: [{ field: 'total_spend', operator: '>=', value: num(p.min_total_spend) }] } },
      templates: [{
        ref: 'vip_welcome',
        name: 'VIP welcome',
        subject: '{{ customer.first_name | default: "Hello" }}, welcome to our VIP circle',
        html: `<p>Dear {{ customer.first_name | default: "friend" }},</p><p>Thank you for being one of our most loyal fans. As a VIP you now get <strong>priority access</strong> to ticket sales and <strong>exclusive offers</strong>.</p><p>Coming up for you:</p>${RECOMMENDATIONS}${FOOTER}`,
      }],
      steps: [
        { id: 'tag_vip', type: 'add_tag', config: { tag: String(p.tag) } },
        { id: 'vip_email', type: 'send_email', config: { template_ref: 'vip_welcome' } },
      ],
    }),
  },
  {
    key: 'reengagement',
    name: 'Re-engagement after 6 months',
    useCase: 'Re-engagement Campaigns',
    description: 'Customers who have not bought for the given number of days get a personal offer based on their past event preferences, and a reminder if they still have not bought.',
    params: { inactive_days: 180, reminder_after_days: 14 },
    build: (p) => ({
      triggerType: 'inactivity',
      triggerConfig: { days: num(p.inactive_days) },
      reentry: 'always',
      cooldownMinutes: 0,
      templates: [
        {
          ref: 'miss_you',
          name: 'Re-engagement: we miss you',
          subject: 'We miss you, {{ customer.first_name | default: "friend" }}',
          html: `<p>Hi {{ customer.first_name | default: "there" }},</p><p>It has been a while since your last visit. Picked for you from what you like:</p>${RECOMMENDATIONS}${FOOTER}`,
        },
        {
          ref: 'miss_you_reminder',
          name: 'Re-engagement: reminder',
          subject: 'Still thinking about it, {{ customer.first_name | default: "friend" }}?',
          html: `<p>Hi {{ customer.first_name | default: "there" }},</p><p>Tickets are going fast for these:</p>${RECOMMENDATIONS}${FOOTER}`,
        },
      ],
      steps: [
        { id: 'first_offer', type: 'send_email', config: { template_ref: 'miss_you' } },
        { id: 'wait', type: 'wait', config: { duration: `${num(p.reminder_after_days)}d` } },
        {
          id: 'bought_since', type: 'condition',
          config: { rules: { operator: 'and', conditions: [{ field: 'last_purchase', operator: 'within', value: `${num(p.reminder_after_days)}d` }] } },
          yes: null, no: 'reminder',
        },
        { id: 'reminder', type: 'send_email', config: { template_ref: 'miss_you_reminder' }, next: null },
      ],
    }),
  },
  {
    key: 'welcome_series',
    name: 'Welcome series for new customers',
    useCase: 'New Customer Nurturing',
    description: 'From the first purchase: a welcome introducing the venue, then upcoming events, then the loyalty benefits.',
    params: { second_after: '3d', third_after: '4d' },
    build: (p) => ({
      triggerType: 'purchase',
      triggerConfig: { first_only: true },
      reentry: 'once',
      cooldownMinutes: 0,
      templates: [
        {
          ref: 'welcome',
          name: 'Welcome 1: the venue',
          subject: 'Welcome to {{ tenant.name }}, {{ customer.first_name | default: "friend" }}!',
          html: `<p>Hi {{ customer.first_name | default: "there" }},</p><p>Thank you for your first order with {{ tenant.name }}. Here is what to know before your first night with us: doors open an hour before the show, and our team is happy to help at the box office.</p>${FOOTER}`,
        },
        {
          ref: 'welcome_upcoming',
          name: 'Welcome 2: upcoming events',
          subject: 'What is coming up at {{ tenant.name }}',
          html: `<p>Hi {{ customer.first_name | default: "there" }},</p><p>Upcoming events we think you will like:</p>${RECOMMENDATIONS}${FOOTER}`,
        },
        {
          ref: 'welcome_loyalty',
          name: 'Welcome 3: loyalty benefits',
          subject: 'Your loyalty benefits',
          html: `<p>Hi {{ customer.first_name | default: "there" }},</p><p>Every ticket earns loyalty points: you have <strong>{{ customer.loyalty_points | default: 0 }} points</strong> already. Points bring discounts and early access.</p>${FOOTER}`,
        },
      ],
      steps: [
        { id: 'welcome', type: 'send_email', config: { template_ref: 'welcome' } },
        { id: 'wait_1', type: 'wait', config: { duration: String(p.second_after) } },
        { id: 'upcoming', type: 'send_email', config: { template_ref: 'welcome_upcoming' } },
        { id: 'wait_2', type: 'wait', config: { duration: String(p.third_after) } },
        { id: 'loyalty', type: 'send_email', config: { template_ref: 'welcome_loyalty' } },
      ],
    }),
  },
  {
    key: 'post_concert_similar',
    name: 'After the concert: similar acts',
    useCase: 'Event-Based Marketing',
    description: 'The day after a show, attendees get upcoming events ranked by their genre preferences and by what people who went to the same shows bought.',
    params: { delay: '1d', send_at: '10:00' },
    build: (p) => ({
      triggerType: 'post_event',
      triggerConfig: {},
      reentry: 'always',
      cooldownMinutes: 0,
      templates: [{
        ref: 'similar_acts',
        name: 'After the show: similar acts',
        subject: 'Loved {{ trigger.event_name | default: "the show" }}? You will like these',
        html: `<p>Hi {{ customer.first_name | default: "there" }},</p><p>Thanks for coming to {{ trigger.event_name | default: "the show" }}. If you enjoyed it, these upcoming acts are for you:</p>${RECOMMENDATIONS}${FOOTER}`,
      }],
      steps: [
        { id: 'wait', type: 'wait', config: { duration: String(p.delay), ...(p.send_at ? { until_time: String(p.send_at) } : {}) } },
        { id: 'similar', type: 'send_email', config: { template_ref: 'similar_acts' } },
      ],
    }),
  },
  {
    key: 'abandoned_cart',
    name: 'Abandoned cart recovery',
    useCase: 'Abandoned Cart Recovery',
    description: 'A cart left idle without an order gets a reminder with a unique, time-limited discount code; buying ends the journey.',
    params: { idle_minutes: 60, percent_off: 10, valid_for: '48h' },
    build: (p) => ({
      triggerType: 'cart_abandoned',
      triggerConfig: { idle_minutes: num(p.idle_minutes) },
      reentry: 'always',
      cooldownMinutes: 24 * 60,
      templates: [{
        ref: 'cart_reminder',
        name: 'Abandoned cart: your tickets are waiting',
        subject: 'Your tickets are waiting: {{ incentive.percent_off }}% off until {{ incentive.expires_on }}',
        html: `<p>Hi {{ customer.first_name | default: "there" }},</p><p>You left tickets in your cart{% if trigger.total %} ({{ trigger.total }} {{ trigger.currency }}){% endif %}. Complete your order with code <strong>{{ incentive.code }}</strong> for {{ incentive.percent_off }}% off. The code expires on {{ incentive.expires_on }}.</p>${FOOTER}`,
      }],
      steps: [{ id: 'reminder', type: 'send_email', config: { template_ref: 'cart_reminder', incentive: { percent_off: num(p.percent_off), valid_for: String(p.valid_for), prefix: 'CART' } } }],
    }),
  },
  {
    key: 'birthday_offer',
    name: 'Birthday offer',
    useCase: 'Birthday Marketing',
    description: 'On the customer\'s birthday (tenant time zone), a personal offer with a unique discount code.',
    params: { days_before: 0, percent_off: 15, valid_for: '14d' },
    build: (p) => ({
      triggerType: 'birthday',
      triggerConfig: { days_before: num(p.days_before) },
      reentry: 'always',
      cooldownMinutes: 0,
      templates: [{
        ref: 'birthday',
        name: 'Birthday offer',
        subject: 'Happy birthday, {{ customer.first_name | default: "friend" }}! A gift inside',
        html: `<p>Happy birthday, {{ customer.first_name | default: "friend" }}!</p><p>Celebrate with a night out: use code <strong>{{ incentive.code }}</strong> for {{ incentive.percent_off }}% off your next tickets, valid until {{ incentive.expires_on }}.</p>${RECOMMENDATIONS}${FOOTER}`,
      }],
      steps: [{ id: 'offer', type: 'send_email', config: { template_ref: 'birthday', incentive: { percent_off: num(p.percent_off), valid_for: String(p.valid_for), prefix: 'BDAY' } } }],
    }),
  },
  {
    key: 'post_event_feedback',
    name: 'Post-event feedback request',
    useCase: 'Post-event feedback requests (Marketing Automation)',
    description: 'The day after a show, attendees are asked how it was.',
    params: { delay: '1d', survey_url: 'https://example.com/feedback' },
    build: (p) => ({
      triggerType: 'post_event',
      triggerConfig: {},
      reentry: 'always',
      cooldownMinutes: 0,
      templates: [{
        ref: 'feedback',
        name: 'Feedback request',
        subject: 'How was {{ trigger.event_name | default: "the show" }}?',
        html: `<p>Hi {{ customer.first_name | default: "there" }},</p><p>We hope you enjoyed {{ trigger.event_name | default: "the show" }}. Tell us how it was: it takes one minute.</p><p><a href="${String(p.survey_url)}?event={{ trigger.event_id | url_encode }}">Give feedback</a></p>${FOOTER}`,
      }],
      steps: [
        { id: 'wait', type: 'wait', config: { duration: String(p.delay) } },
        { id: 'ask', type: 'send_email', config: { template_ref: 'feedback' } },
      ],
    }),
  },
];

export const templateByKey = (key: string) => WORKFLOW_TEMPLATES.find((t) => t.key === key);
