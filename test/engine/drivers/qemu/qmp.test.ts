import { readFileSync } from 'node:fs';
import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MAX_QMP_LINE, QmpClient, type QmpEvent } from '../../../../src/engine/drivers/qemu/qmp.js';
import {
  DriverRefusedError,
  DriverReplyError,
  DriverUnreachableError,
} from '../../../../src/engine/errors.js';

const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "capabilities": ["oob"]}}';

/** A scripted QEMU monitor on the other end of a stream: answers each command with `reply(cmd)`. */
function fakeMonitor(reply: (command: { execute: string; id: string }) => string[]) {
  const toClient = new PassThrough();
  const fromClient = new PassThrough();
  const stream = Duplex.from({ readable: toClient, writable: fromClient });
  let buffer = '';
  fromClient.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const command = JSON.parse(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      for (const line of reply(command)) toClient.write(`${line}\r\n`);
    }
  });
  toClient.write(`${GREETING}\r\n`);
  return {
    stream,
    send: (line: string) => toClient.write(`${line}\r\n`),
    /** Bytes as they come, no line end. */
    write: (text: string) => toClient.write(text),
    end: () => toClient.end(),
  };
}

const nanReply = readFileSync(
  new URL('fixtures/qemu_query_migrate_active_blockmigration_lp1585533_RAW_invalid-nan.txt', import.meta.url),
  'utf8',
)
  .split('\n')
  .find((l) => l.startsWith('{'))!;

describe('QmpClient', () => {
  it('negotiates capabilities, matches replies to commands by id and passes events on', async () => {
    const monitor = fakeMonitor((c) =>
      c.execute === 'query-status'
        ? [
            '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "MIGRATION", "data": {"status": "active"}}',
            JSON.stringify({ return: { running: true, status: 'running' }, id: c.id }),
          ]
        : [JSON.stringify({ return: {}, id: c.id })],
    );
    const client = await QmpClient.connect(monitor.stream, { label: 'fake' });
    expect(client.version).toBe('10.0.2');
    const events: QmpEvent[] = [];
    client.onEvent((e) => events.push(e));
    expect(await client.execute('query-status')).toEqual({ running: true, status: 'running' });
    expect(events).toEqual([{ event: 'MIGRATION', data: { status: 'active' } }]);
    client.close();
  });

  it("turns QEMU's error reply into DriverRefusedError with QEMU's words", async () => {
    const monitor = fakeMonitor((c) =>
      c.execute === 'qmp_capabilities'
        ? [JSON.stringify({ return: {}, id: c.id })]
        : [
            JSON.stringify({
              error: { class: 'GenericError', desc: 'There is a migration in progress' },
              id: c.id,
            }),
          ],
    );
    const client = await QmpClient.connect(monitor.stream, { label: 'fake' });
    await expect(client.execute('migrate', { uri: 'tcp:127.0.0.1:1' })).rejects.toThrow(
      new DriverRefusedError('QEMU at fake refused migrate: There is a migration in progress'),
    );
    client.close();
  });

  it('fails only the command whose reply is invalid JSON (the real -nan reply), and keeps going', async () => {
    let calls = 0;
    const monitor = fakeMonitor((c) => {
      if (c.execute === 'query-migrate' && calls++ === 0)
        return [nanReply.replace('"libvirt-186200"', `"${c.id}"`)];
      return [JSON.stringify({ return: { status: 'active' }, id: c.id })];
    });
    const client = await QmpClient.connect(monitor.stream, { label: 'fake' });
    await expect(client.execute('query-migrate')).rejects.toBeInstanceOf(DriverReplyError);
    expect(await client.execute('query-migrate')).toEqual({ status: 'active' });
    client.close();
  });

  it('rejects what is pending when the monitor goes away (quit may reset the socket)', async () => {
    const monitor = fakeMonitor((c) =>
      c.execute === 'qmp_capabilities' ? [JSON.stringify({ return: {}, id: c.id })] : [],
    );
    const client = await QmpClient.connect(monitor.stream, { label: 'fake' });
    const pending = client.execute('quit');
    monitor.end();
    await expect(pending).rejects.toBeInstanceOf(DriverUnreachableError);
    expect(client.isOpen).toBe(false);
  });

  it('fails only that connection, typed, on a line past the limit (a 64 MiB line is never buffered)', async () => {
    const flooding = fakeMonitor((c) =>
      c.execute === 'qmp_capabilities' ? [JSON.stringify({ return: {}, id: c.id })] : [],
    );
    const calm = fakeMonitor((c) => [JSON.stringify({ return: { status: 'active' }, id: c.id })]);
    const victim = await QmpClient.connect(flooding.stream, { label: 'hv1:flood.qmp' });
    const other = await QmpClient.connect(calm.stream, { label: 'hv1:calm.qmp' });
    let closedWith: unknown;
    victim.onClose((err) => {
      closedWith = err;
    });
    const pending = victim.execute('query-migrate');
    const refused = expect(pending).rejects.toThrow(
      new DriverReplyError(
        `QMP at hv1:flood.qmp sent a line longer than ${MAX_QMP_LINE} characters: not a QEMU monitor reply; connection dropped`,
      ),
    );
    const chunk = 'x'.repeat(64 * 1024);
    // The client drops the stream at the first chunk past the limit; the rest is never read.
    for (let sent = 0; sent < 64 * 1024 * 1024 && victim.isOpen; sent += chunk.length) {
      flooding.write(chunk);
      await new Promise((r) => setImmediate(r));
    }
    await refused;
    expect(closedWith).toBeInstanceOf(DriverReplyError);
    expect(victim.isOpen).toBe(false);
    expect(await other.execute('query-migrate')).toEqual({ status: 'active' });
    other.close();
  });

  it('reads a reply just under the limit that arrives in many small chunks', async () => {
    const big = 'y'.repeat(MAX_QMP_LINE - 100);
    const toClient = new PassThrough();
    const fromClient = new PassThrough();
    const stream = Duplex.from({ readable: toClient, writable: fromClient });
    fromClient.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        const { execute, id } = JSON.parse(line) as { execute: string; id: string };
        const reply = `${JSON.stringify({ return: execute === 'qmp_capabilities' ? {} : big, id })}\r\n`;
        for (let i = 0; i < reply.length; i += 1024) toClient.write(reply.slice(i, i + 1024));
      }
    });
    toClient.write(`${GREETING}\r\n`);
    const client = await QmpClient.connect(stream, { label: 'fake' });
    expect(await client.execute('query-big')).toBe(big);
    client.close();
  });

  it('refuses something that is not a QMP monitor', async () => {
    const toClient = new PassThrough();
    const stream = Duplex.from({ readable: toClient, writable: new PassThrough() });
    toClient.write('SSH-2.0-OpenSSH_9.2\r\n{"hello": 1}\r\n');
    await expect(QmpClient.connect(stream, { label: 'fake' })).rejects.toBeInstanceOf(DriverReplyError);
  });
});
