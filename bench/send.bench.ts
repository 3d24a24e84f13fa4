/**
 * Campaign send benchmark (DESIGN §6): a campaign to N recipients (default 100,000) through the real
 * send path on PostgreSQL, compared in the same run with a bare nodemailer pool sending the same
 * number of messages to the same SMTP sink.
 *
 *   npm run bench:send -- [--recipients 100000] [--pool 5] [--batch 500] [--no-record]
 *
 * BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) names a server; the benchmark
 * creates `crm_bench_send_<ts>` there and drops it at the end.
 *
 * The sink is a real `smtp-server` in a child process (its own event loop and core) that counts
 * messages and discards their bodies.
 * (a) Baseline: one nodemailer pool (same pool size) sending N copies of the campaign's HTML
 *     (personalized with a name) with a window of in-flight messages.
 * (b) Campaign: `runCampaignSend` in this process: audience snapshot (INSERT … SELECT), batches of
 *     recipients through deliverMany (consent, suppression and frequency checks, Liquid rendering,
 *     click/open tracking, List-Unsubscribe, one INSERT and one UPDATE per batch), the same pool size.
 * In both phases RSS is sampled every 250 ms with the sink's count: the row has the RSS at 10, 50 and
 * 90 % of the messages and the peak, and this process's CPU time per message.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import nodemailer from 'nodemailer';
import { loadConfig } from '../src/config.js';
import { sql } from '../src/db/database.js';
import { createCampaign, runCampaignSend, sendCampaign } from '../src/modules/campaigns/campaigns.service.js';
import { closeTransports } from '../src/modules/messaging/messaging.transport.js';
import { appendResultRow, createScratchDatabase, fmt, log, resultDate, setUpTenant } from './lib.js';

const { values: args } = parseArgs({
  options: {
    recipients: { type: 'string', default: '100000' },
    pool: { type: 'string', default: '5' },
    batch: { type: 'string', default: '500' },
    window: { type: 'string', default: '500' },
    'no-record': { type: 'boolean', default: false },
    sink: { type: 'boolean', default: false },
  },
});

// ---------------------------------------------------------------------------------------------
// The sink (this same file, started with --sink in a child process)

async function runSink(): Promise<void> {
  const { SMTPServer } = await import('smtp-server');
  let count = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        count++;
        cb();
      });
    },
  });
  server.listen(0, '127.0.0.1', () => {
    process.send!({ port: (server.server.address() as { port: number }).port });
  });
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'count') process.send!({ count });
    if (m.cmd === 'stop') server.close(() => process.exit(0));
  });
}

interface Sink {
  port: number;
  count(): Promise<number>;
  stop(): void;
}

function startSink(): Promise<Sink> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--sink'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => {
    child.once('message', (m: { port: number }) => {
      resolve({
        port: m.port,
        count: () => new Promise((r) => {
          child.once('message', (x: { count: number }) => r(x.count));
          child.send({ cmd: 'count' });
        }),
        stop: () => child.send({ cmd: 'stop' }),
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------

const HTML = `<html><body style="font-family:sans-serif">
<h1>Salut {{ customer.first_name }}!</h1>
<p>Noua stagiune începe. Ai participat la {{ metrics.events_attended }} evenimente — îți păstrăm locul.</p>
${Array.from({ length: 6 }, (_, i) => `<p>Concert ${i + 1}: o seară cu muzică live, artiști invitați și surprize pentru abonați.
<a href="https://tickets.example.com/show/${i + 1}?utm_source=crm">Cumpără bilete</a></p>`).join('\n')}
<p><a href="{{ unsubscribe_url }}">Dezabonare</a></p>
</body></html>`;

/**
 * Memory over one phase: the process's RSS sampled every 250 ms together with the sink's count, so
 * the RSS when 10 %, 50 % and 90 % of the phase's messages had arrived can be told apart from the
 * peak (flat memory: the three stay close whatever the number of messages). Also the CPU time of
 * this process over the phase.
 */
class RssTrack {
  peak = 0;
  /** RSS at the first sample at or past 10 %, 50 % and 90 % of the messages (bytes; 0 = not reached) */
  readonly at = [0, 0, 0];
  private readonly marks = [0.1, 0.5, 0.9];
  private timer: NodeJS.Timeout;
  private cpu = process.cpuUsage();
  /** CPU time of this process (user + system) since the start, in ms. */
  cpuMs(): number {
    const d = process.cpuUsage(this.cpu);
    return (d.user + d.system) / 1000;
  }
  constructor(sink: Sink, start: number, n: number) {
    this.peak = process.memoryUsage.rss();
    this.timer = setInterval(() => {
      const rss = process.memoryUsage.rss();
      this.peak = Math.max(this.peak, rss);
      void sink.count().then((count) => {
        this.marks.forEach((m, i) => {
          if (this.at[i] === 0 && count - start >= m * n) this.at[i] = rss;
        });
      });
    }, 250);
  }
  stop(): { peak: number; at: number[] } {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
    return { peak: this.peak, at: this.at };
  }
}

const mib = (bytes: number) => fmt(bytes / 2 ** 20);
/** `a / b / c · peak p MiB` */
const rssLabel = (r: { peak: number; at: number[] }) => `${r.at.map((b) => (b ? mib(b) : '–')).join(' / ')} · ${mib(r.peak)} MiB`;

async function waitCount(sink: Sink, n: number): Promise<void> {
  while ((await sink.count()) < n) await new Promise((r) => setTimeout(r, 50));
}

async function baseline(sink: Sink, n: number, pool: number, window: number): Promise<{ seconds: number; rss: { peak: number; at: number[] }; cpuMs: number }> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, secure: false, pool: true, maxConnections: pool, maxMessages: Infinity, tls: { rejectUnauthorized: false } });
  const start = await sink.count();
  const rss = new RssTrack(sink, start, n);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const html = HTML.replace(/\{\{ customer.first_name \}\}/g, `Ana${i}`).replace('{{ metrics.events_attended }}', '3').replace('{{ unsubscribe_url }}', `https://crm.example.com/u/${i}`);
      await transport.sendMail({
        from: 'Encore <news@encore.example>', to: `r${i}@bench.example`, subject: `Stagiunea nouă, Ana${i}`, html,
        text: html.replace(/<[^>]+>/g, ''), messageId: `<${i}-base@encore.example>`,
      });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  await waitCount(sink, start + n);
  const seconds = (performance.now() - t0) / 1000;
  const cpuMs = rss.cpuMs();
  transport.close();
  return { seconds, rss: rss.stop(), cpuMs };
}

async function main() {
  const N = Number(args.recipients);
  const POOL = Number(args.pool);
  const BATCH = Number(args.batch);
  const WINDOW = Number(args.window);
  const loadBefore = os.loadavg()[0];
  const scratch = await createScratchDatabase({ prefix: 'crm_bench_send' });
  const { url, pgVersion } = scratch;
  const sink = await startSink();
  log(`database ${scratch.name}, SMTP sink on port ${sink.port}`);
  try {
    const { db, tenant } = await setUpTenant({ url, poolSize: 8 });
    let t = performance.now();
    await db.run(sql`
      INSERT INTO customers (tenant_id, email, first_name, last_name, events_attended, consent)
      SELECT ${tenant.id}::uuid, 'r' || g || '@bench.example', 'Ana' || g, 'Pop', g % 7, '{"marketing_email": true}'::jsonb
      FROM generate_series(1, ${N}) AS g`);
    const seg = await db.one<{ id: string }>(sql`
      INSERT INTO segments (tenant_id, name, type, auto_update) VALUES (${tenant.id}::uuid, 'All', 'static', false) RETURNING id`);
    await db.run(sql`INSERT INTO segment_members (tenant_id, segment_id, customer_id) SELECT tenant_id, ${seg!.id}::uuid, id FROM customers WHERE tenant_id = ${tenant.id}::uuid`);
    await db.run(sql`ANALYZE`);
    log(`${fmt(N)} customers in one segment in ${fmt(performance.now() - t)} ms`);

    // (a) bare nodemailer pool
    log(`baseline: bare nodemailer pool (${POOL} connections), ${fmt(N)} messages`);
    const base = await baseline(sink, N, POOL, WINDOW);
    log(`baseline: ${base.seconds.toFixed(1)} s, ${fmt(N / base.seconds)} msg/s, RSS at 10 / 50 / 90 % ${rssLabel(base.rss)}, CPU ${(base.cpuMs / N).toFixed(2)} ms/msg`);

    // (b) the campaign
    const config = loadConfig({
      LOG_LEVEL: 'silent', DATA_DIR: '/tmp/crm-bench-unused', SMTP_URL: `smtp://127.0.0.1:${sink.port}`, SMTP_POOL_SIZE: String(POOL),
      CAMPAIGN_BATCH_SIZE: String(BATCH), PUBLIC_URL: 'https://crm.example.com', EMAIL_FROM: 'Encore <news@encore.example>',
    });
    const ctx = { db, config, tenantId: tenant.id, audit: { actor: 'cli' } };
    const c = await createCampaign(ctx, { name: 'Bench', segment_id: seg!.id, subject: 'Stagiunea nouă, {{ customer.first_name }}', content: HTML });
    const start = await sink.count();
    const rss = new RssTrack(sink, start, N);
    t = performance.now();
    await sendCampaign(ctx, c.id);
    const result = await runCampaignSend({ db, config }, tenant.id, c.id);
    await waitCount(sink, start + N);
    const seconds = (performance.now() - t) / 1000;
    const cpuMs = rss.cpuMs();
    const mem = rss.stop();
    if (result.state !== 'finished' || result.sent !== N) throw new Error(`campaign did not finish: ${JSON.stringify(result)}`);
    log(`campaign: ${seconds.toFixed(1)} s, ${fmt(N / seconds)} msg/s, RSS at 10 / 50 / 90 % ${rssLabel(mem)}, CPU ${(cpuMs / N).toFixed(2)} ms/msg (this process; PostgreSQL not counted)`);
    const ratio = base.seconds / seconds;
    log(`ratio campaign / bare pool: ${(ratio * 100).toFixed(1)} % (target ≥ 80 %); load average ${loadBefore.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} now`);
    closeTransports(config);
    await db.close();

    if (!args['no-record']) {
      appendResultRow({ name: 'send', title: 'Campaign send results', header: HEADER, row: [
        resultDate(), `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? '?'}`, process.version, pgVersion,
        fmt(N), String(POOL), String(BATCH), fmt(N / base.seconds), fmt(N / seconds), `${(ratio * 100).toFixed(1)} %`,
        `${mib(base.rss.peak)} / ${mib(mem.peak)} MiB`, loadBefore.toFixed(2), rssLabel(base.rss), rssLabel(mem),
        `${(base.cpuMs / N).toFixed(2)} / ${(cpuMs / N).toFixed(2)}`,
      ] });
    }
  } finally {
    sink.stop();
    await scratch.drop().catch((err: Error) => log(`could not drop database ${scratch.name}: ${err.message}`));
  }
}

const HEADER =
  '| date | machine | Node | PostgreSQL | messages | pool | batch | bare pool msg/s | campaign msg/s | ratio | peak RSS (bare / campaign) | load before | RSS bare at 10 / 50 / 90 % · peak | RSS campaign at 10 / 50 / 90 % · peak | CPU ms/msg (bare / campaign) |\n' +
  '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';

if (args.sink) {
  void runSink();
} else {
  main().then(() => process.exit(0), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
