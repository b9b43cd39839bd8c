/**
 * The PostgreSQL client as the store uses it: a pool of node-postgres
 * (`npm:pg`) connections behind a tagged template — ``await db`SELECT ...
 * WHERE id = ${id}` `` sends `$1` with `id` as a parameter, never as text —
 * with transactions, timeouts on connecting and on every statement, and the
 * database's clock in ms (leases are measured on it).
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
import { errorMessage, log } from "../../log.ts";

/** A row as the driver returns it (BIGINT as text: read with `Number()`). */
export type Row = Record<string, unknown>;

/** A piece of SQL with its parameters, to nest in another (``${dbNow()}``). */
export class Fragment {
  /** Use {@linkcode sqlFragment}, {@linkcode raw} or {@linkcode valuesList}. */
  constructor(readonly strings: readonly string[], readonly values: readonly unknown[]) {}
}

/** Runs a query written as a tagged template; nested {@linkcode Fragment}s are inlined. */
export type Query = (strings: TemplateStringsArray, ...values: unknown[]) => Promise<Row[]>;

/** A transaction's (or the pool's) way to query. */
export interface Tx extends Query {
  /** Runs `text` as it is, with no parameters (the schema's migrations: several statements). */
  unsafe(text: string): Promise<void>;
}

/** The pool. */
export interface Db extends Tx {
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  begin<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Closes every connection (waiting for queries running, up to `timeoutSec`). */
  end(options?: { timeoutSec?: number }): Promise<void>;
}

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** `postgres://user@host:port/db`; the standard PG* variables (PGPASSWORD, ...) fill in what it leaves out. */
  url: string;
  /** TLS to the server: required, verifying its certificate (against `caFile`, if given) unless `rejectUnauthorized` is false. Default: off. */
  tls?: { caFile?: string; rejectUnauthorized: boolean };
  /** Most connections at once. Default: 4. */
  max?: number;
  /** Give up connecting after this many seconds. Default: 10. */
  connectTimeoutSec?: number;
  /** Give up on a statement after this many seconds (client and server side). Default: 30. */
  statementTimeoutSec?: number;
}

/** A fragment from a tagged template, to nest in a query. */
export function sqlFragment(strings: TemplateStringsArray, ...values: unknown[]): Fragment {
  return new Fragment(strings, values);
}

/** SQL text inlined as it is. Only for text written here, never for values. */
export function raw(text: string): Fragment {
  return new Fragment([text], []);
}

/** `($1, $2), ($3, $4), ...`: a VALUES list of `rows`, each value a parameter. */
export function valuesList(rows: readonly (readonly unknown[])[]): Fragment {
  if (rows.length === 0) throw new RangeError("an empty VALUES list");
  const strings: string[] = [];
  const values: unknown[] = [];
  let pending = "(";
  rows.forEach((row, r) => {
    if (r > 0) pending += ", (";
    row.forEach((value, c) => {
      if (c > 0) pending += ", ";
      strings.push(pending);
      pending = "";
      values.push(value);
    });
    pending += ")";
  });
  strings.push(pending);
  return new Fragment(strings, values);
}

/** The database's clock, in ms since the epoch. */
export function dbNow(): Fragment {
  return raw("(extract(epoch from clock_timestamp()) * 1000)::bigint");
}

/** `strings`/`values` with nested fragments inlined, as `$n` text and its parameters. */
export function compile(
  strings: readonly string[],
  values: readonly unknown[],
): { text: string; values: unknown[] } {
  const out: unknown[] = [];
  const walk = (s: readonly string[], v: readonly unknown[]): string => {
    let text = s[0]!;
    for (let i = 0; i < v.length; i++) {
      const value = v[i];
      text += value instanceof Fragment ? walk(value.strings, value.values) : `$${out.push(value)}`;
      text += s[i + 1]!;
    }
    return text;
  };
  const text = walk(strings, values);
  return { text, values: out };
}

/** Opens a pool (lazily: nothing connects until the first query). */
export function connect(options: ConnectOptions): Db {
  const tls = options.tls;
  const statementMs = (options.statementTimeoutSec ?? 30) * 1000;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 4,
    connectionTimeoutMillis: (options.connectTimeoutSec ?? 10) * 1000,
    idleTimeoutMillis: 60_000,
    query_timeout: statementMs,
    statement_timeout: statementMs,
    keepAlive: true,
    ssl: tls === undefined ? false : {
      rejectUnauthorized: tls.rejectUnauthorized,
      ...(tls.caFile ? { ca: Deno.readTextFileSync(tls.caFile) } : {}),
    },
  });
  // An idle connection the server closed: the pool drops it; the next query reconnects.
  pool.on("error", (err) => {
    log("store").debug("An idle PostgreSQL connection failed: {error}", {
      error: errorMessage(err),
    });
  });
  const db = _queryOf((text, values) => pool.query(text, values)) as Db;
  db.begin = async <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    // A connection lost mid-transaction fails its query; without a listener
    // the client's own "error" event would be an uncaught exception.
    const onError = (err: Error) => broken = err;
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const result = await fn(_queryOf((text, values) => client.query(text, values)));
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch((e) =>
        broken = e instanceof Error ? e : new Error(String(e))
      );
      throw err;
    } finally {
      client.off("error", onError);
      // A connection that failed (or whose ROLLBACK did) is not given back to the pool.
      client.release(broken ?? false);
    }
  };
  db.end = async (o = {}) => {
    const ending = pool.end();
    const timeoutMs = (o.timeoutSec ?? 5) * 1000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      ending,
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]).finally(() => clearTimeout(timer));
  };
  return db;
}

function _queryOf(
  run: (text: string, values: unknown[]) => Promise<{ rows: Row[] }>,
): Tx {
  const query = (async (strings: TemplateStringsArray, ...values: unknown[]) => {
    const { text, values: params } = compile(strings, values);
    return (await run(text, params)).rows;
  }) as Tx;
  query.unsafe = async (text: string) => {
    await run(text, []);
  };
  return query;
}
