import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runCrm } from '../../test/cli.js';

/** `crm import` and `crm export` as a user runs them: child processes on a temporary DATA_DIR (or the test PostgreSQL). */

const pgUrl = inject('testDatabaseUrl') || null;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-import-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const crm = (args: string[]) => runCrm(args, { DATA_DIR: path.join(dir, 'data'), ...(pgUrl ? { DATABASE_URL: pgUrl } : {}) });

describe('crm import / crm export', () => {
  it('imports a CSV, reports rejected rows to a file, and exports CSV and XLSX', { timeout: 300_000 }, async () => {
    const tenant = await crm(['tenant', 'create', '--name', `CLI import ${Date.now()}`, '--json']);
    expect(tenant.code, tenant.stderr).toBe(0);
    const tenantId = JSON.parse(tenant.stdout).tenant_id as string;

    const input = path.join(dir, 'clienti.csv');
    fs.writeFileSync(input, 'Prenume;Nume;E-mail;Telefon\nIon;Popescu;ion@exemplu.ro;0722123456\nRău;Rând;nu-e-email;\n');
    const errorsFile = path.join(dir, 'errors.csv');
    const imported = await crm(['import', 'customers', input, '--tenant', tenantId, '--errors', errorsFile, '--json']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ status: 'completed', total_rows: 2, created: 1, rejected: 1, delimiter: ';' });
    expect(fs.readFileSync(errorsFile, 'utf8')).toMatch(/^\uFEFFrow_number,reason,Prenume,Nume,E-mail,Telefon\r\n3,.*nu-e-email/);
    expect(fs.existsSync(input)).toBe(true);

    const csvOut = path.join(dir, 'out.csv');
    const exported = await crm(['export', 'customers', '--tenant', tenantId, '--columns', 'email,phone,first_name', '--out', csvOut]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(fs.readFileSync(csvOut, 'utf8')).toBe("\uFEFFemail,phone,first_name\r\nion@exemplu.ro,'+40722123456,Ion\r\n");

    const xlsxOut = path.join(dir, 'out.xlsx');
    const xlsx = await crm(['export', 'customers', '--tenant', tenantId, '--format', 'xlsx', '--out', xlsxOut]);
    expect(xlsx.code, xlsx.stderr).toBe(0);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.readFile(xlsxOut);
    expect(wb.worksheets[0].getRow(2).getCell(3).value).toBe('ion@exemplu.ro');

    const missing = await crm(['import', 'customers', path.join(dir, 'nope.csv'), '--tenant', tenantId]);
    expect(missing.code).toBe(1);
  });
});
