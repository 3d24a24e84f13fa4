/**
 * Workflow engine benchmark on PostgreSQL: N customers with a birthday today, one birthday workflow
 * (add_tag → update_field → send_email → exit). Reports the time of the trigger scan that enrolls them
 * all (set-based) and the engine's rate in steps per second through runDueSteps, with a sender that
 * records instead of sending (the message layer has its own benchmark, bench/send.bench.ts).
 *
 *   npx tsx bench/workflows.bench.ts [--customers 20000]
 *
 * BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) names a server; the benchmark
 * creates `crm_bench_workflows_<ts>` there and drops it at the end.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { sql, type Database } from '../src/db/database.js';
import { runDueSteps, type MessageRequest } from '../src/modules/automation/automation.engine.js';
import { createWorkflow } from '../src/modules/automation/automation.service.js';
import { scanTimeTriggers } from '../src/modules/automation/automation.triggers.js';
import { createScratchDatabase, fmt, integerOption, log, runMain, setUpTenant } from './lib.js';

const { values: args } = parseArgs({ options: { customers: { type: 'string', default: '20000' } } });
const N = integerOption({ name: 'customers', value: args.customers, min: 100 });

async function main() {
  const scratch = await createScratchDatabase({ prefix: 'crm_bench_workflows' });
  let db: Database | null = null;
  try {
    const setUp = await setUpTenant({ url: scratch.url, poolSize: 4 });
    db = setUp.db;
    const { tenant } = setUp;
    const config = loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: '/tmp/crm-bench-unused' });
    const now = new Date();
    await db.run(sql`
      INSERT INTO customers (tenant_id, email, first_name, date_of_birth, consent)
      SELECT ${tenant.id}::uuid, 'c' || g || '@example.com', 'C' || g,
             ((${now.toISOString()}::timestamptz AT TIME ZONE 'Europe/Bucharest')::date - make_interval(years => 20 + g % 40))::date,
             '{"marketing_email": true}'
      FROM generate_series(1, ${N}::int) g`);
    await createWorkflow({ db, config, tenantId: tenant.id, actor: 'bench' }, {
      name: 'Birthday', trigger_type: 'birthday', active: true, reentry: 'always',
      steps: [
        { id: 'tag', type: 'add_tag', config: { tag: 'birthday' } },
        { id: 'field', type: 'update_field', config: { field: 'custom.last_birthday_mail', value: now.toISOString().slice(0, 10) } },
        { id: 'mail', type: 'send_email', config: { subject: 'Happy birthday', text: 'Hi' } },
        { id: 'stop', type: 'exit' },
      ],
    });

    let t0 = performance.now();
    const scan = await scanTimeTriggers(db, { now, tenantId: tenant.id });
    const scanMs = performance.now() - t0;
    log(`scan: ${fmt(scan.enrolled)} enrollments in ${fmt(scanMs)} ms (${fmt(scan.enrolled / (scanMs / 1000))}/s)`);
    t0 = performance.now();
    const again = await scanTimeTriggers(db, { now, tenantId: tenant.id });
    log(`repeated scan (nothing new): ${fmt(performance.now() - t0)} ms, ${again.enrolled} enrolled`);

    const sent: MessageRequest[] = [];
    const send = async (r: MessageRequest) => (sent.push(r), { status: 'sent' as const });
    t0 = performance.now();
    let steps = 0;
    for (;;) {
      const r = await runDueSteps({ db, config, send }, { now, tenantId: tenant.id, maxBatches: 1000 });
      steps += r.steps;
      if (r.enrollments === 0) break;
    }
    const runMs = performance.now() - t0;
    log(`engine: ${fmt(steps)} steps (${fmt(sent.length)} messages) in ${fmt(runMs)} ms = ${fmt(steps / (runMs / 1000))} steps/s, ` +
      `${fmt(N / (runMs / 1000))} enrollments/s`);
  } finally {
    await db?.close();
    await scratch.drop();
  }
}

runMain(main);
