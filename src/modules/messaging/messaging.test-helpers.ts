import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

/** A real SMTP server on a free port that keeps what it receives (parsed with mailparser). */
export interface SmtpSink {
  port: number;
  url: string;
  messages: ParsedMail[];
  /** Accepted messages, parsed or not (counting sinks skip parsing). */
  count: number;
  /** After this many more accepted messages, every connection is dropped until reset (null: never). */
  dropAfter: number | null;
  /** Addresses refused with 550 at RCPT TO. */
  rejectRecipients: Set<string>;
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSmtpSink(opts: { parse?: boolean } = {}): Promise<SmtpSink> {
  const parse = opts.parse ?? true;
  const waiters: { n: number; resolve: () => void }[] = [];
  const sink: SmtpSink = {
    port: 0, url: '', messages: [], count: 0, dropAfter: null, rejectRecipients: new Set(),
    waitFor(n, timeoutMs = 15000) {
      if (sink.count >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`SMTP sink got ${sink.count} of ${n} messages`)), timeoutMs);
        waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 50 * 1024 * 1024,
    onRcptTo(address, _session, cb) {
      if (sink.rejectRecipients.has(address.address.toLowerCase())) return cb(Object.assign(new Error('no such user'), { responseCode: 550 }));
      cb();
    },
    onData(stream, session, cb) {
      if (sink.dropAfter !== null && sink.dropAfter <= 0) {
        // Break the connection before answering: the client cannot know whether we took the message.
        stream.resume();
        const conns = (server as unknown as { connections: Set<{ session: unknown; _socket: { destroy(): void } }> }).connections;
        for (const conn of conns) if (conn.session === session) conn._socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => { if (parse) chunks.push(c); });
      stream.on('end', () => {
        void (async () => {
          if (parse) sink.messages.push(await simpleParser(Buffer.concat(chunks)));
          sink.count++;
          if (sink.dropAfter !== null) sink.dropAfter--;
          for (const w of waiters.filter((x) => sink.count >= x.n)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
          cb();
        })();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sink.port = (server.server.address() as AddressInfo).port;
  sink.url = `smtp://127.0.0.1:${sink.port}`;
  return sink;
}

/** A local HTTP server answering like Twilio's Messages API; keeps the requests. */
export interface FakeTwilio {
  url: string;
  requests: { path: string; authorization: string | undefined; form: URLSearchParams }[];
  /** Status to answer (201 by default). */
  status: number;
  close(): Promise<void>;
}

export async function startFakeTwilio(): Promise<FakeTwilio> {
  const fake: FakeTwilio = { url: '', requests: [], status: 201, close: () => new Promise((r) => server.close(() => r())) };
  let n = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      fake.requests.push({ path: req.url ?? '', authorization: req.headers.authorization, form: new URLSearchParams(body) });
      res.writeHead(fake.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(fake.status < 300 ? { sid: `SM${String(++n).padStart(32, '0')}`, status: 'queued' } : { code: 21211, message: 'invalid To' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
