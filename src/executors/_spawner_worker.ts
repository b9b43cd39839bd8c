/**
 * The program of the `Spawner`'s worker thread, and the messages it
 * exchanges with the main thread. They travel in arrays, both ways: the
 * messages of one turn of the event loop in one `postMessage`, in order.
 * @module
 */
import type { SpawnSpec } from "./_spawner.ts";

/** The last bytes of one stream, as the worker sends them. */
export interface TailBytes {
  bytes: Uint8Array;
  /** True when earlier bytes were dropped. */
  truncated: boolean;
}

export type SpawnMessage = { op: "spawn"; key: number } & SpawnSpec;

export type ToWorker = SpawnMessage | { op: "close" };

export type FromWorker =
  | { key: number; op: "spawned"; pid: number }
  | { key: number; op: "spawn-error"; code: 126 | 127; message: string }
  /** `output` when both streams had ended by then (most children): no "output" follows. */
  | {
    key: number;
    op: "exited";
    code: number;
    signal: Deno.Signal | null;
    output?: { stdout: TailBytes; stderr: TailBytes };
  }
  | { key: number; op: "output"; stdout: TailBytes; stderr: TailBytes }
  | { key: number; op: "failed"; message: string }
  /** `posixSpawn`: children start with posix_spawn (false: Deno.Command through setsid). */
  | { op: "ready"; posixSpawn: boolean }
  | { op: "closed" };

/**
 * Starts a child per `spec` from the calling thread (blocking it until the
 * child has exec'd): the child, or why it could not start. Used by the worker
 * and by `_run.ts` alike; shipped to the worker as source text, so globals only.
 */
export function spawnChild(
  spec: SpawnSpec,
): { child: Deno.ChildProcess } | { code: 126 | 127; message: string } {
  try {
    const child = new Deno.Command(spec.cmd, {
      args: spec.args,
      clearEnv: true,
      env: spec.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: spec.detached,
    }).spawn();
    return { child };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { code: 127, message: "command not found" };
    if (error instanceof Deno.errors.PermissionDenied) {
      return { code: 126, message: "permission denied" };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { code: 126, message: `cannot execute: ${message}` };
  }
}

/** Where a child's output goes as it is read: stdout (1) or stderr (2); `bytes` is valid during the call only. */
export type OnOutput = (stream: 1 | 2, bytes: Uint8Array) => void;

/** A child as the worker watches it, however it was started. */
export interface WorkerChild {
  pid: number;
  status: Promise<{ code: number; signal: Deno.Signal | null }>;
  /** True once both stdout and stderr ended (or reading them was stopped). */
  readonly ended: boolean;
  /** Resolves when {@linkcode ended} becomes true. */
  whenEnded: Promise<void>;
  /** Stops reading what is still open (a grandchild may hold the pipes); idempotent. */
  stop(): void;
}

/**
 * Starts children with libc's posix_spawn and POSIX_SPAWN_SETSID: a new
 * session (so a timeout kills the whole tree) without `setsid`'s second exec
 * or the fork that Deno's `detached` forces. Pipes and exits are watched by
 * one `poll` (on Deno's blocking pool) over the pipes and a pidfd per child,
 * so no thread waits on any one child. Like `Deno.Command`: stdin is
 * /dev/null, the signal mask is empty and every signal has its default action
 * (Deno ignores SIGPIPE). Undefined where it cannot work (not Linux, no FFI
 * permission, no pidfd): the caller spawns with `Deno.Command` instead.
 * Shipped as source text like {@linkcode spawnerWorker}: globals only.
 */
export function ffiSpawner():
  | {
    spawn(
      spec: SpawnSpec,
      onOutput: OnOutput,
    ): { child: WorkerChild } | { code: 126 | 127; message: string };
    /** Unloads libc again (tests; the worker keeps it for its life). */
    close(): void;
  }
  | undefined {
  if (Deno.build.os !== "linux") return undefined;
  let lib;
  try {
    lib = Deno.dlopen("libc.so.6", {
      posix_spawn: {
        parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
        result: "i32",
      },
      posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
      posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
      posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
      posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
      posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
      posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
      posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
      posix_spawn_file_actions_addopen: {
        parameters: ["buffer", "i32", "buffer", "i32", "u32"],
        result: "i32",
      },
      sigemptyset: { parameters: ["buffer"], result: "i32" },
      sigfillset: { parameters: ["buffer"], result: "i32" },
      pipe2: { parameters: ["buffer", "i32"], result: "i32" },
      fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
      write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
      poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
      pidfd_open: { parameters: ["i32", "u32"], result: "i32" },
      waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
      getpid: { parameters: [], result: "i32" },
    });
  } catch {
    return undefined; // no FFI permission, or no glibc
  }
  const c = lib.symbols;
  const O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000, F_SETFL = 4, WNOHANG = 1, POLLIN = 1;
  const SETSIGDEF = 0x04, SETSIGMASK = 0x08, SETSID = 0x80;
  const ENOENT = 2, EACCES = 13, ENOEXEC = 8;
  const SIGNALS = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
  ];
  const u8 = (a: Int32Array) => new Uint8Array(a.buffer);
  const enc = new TextEncoder();
  const cstr = (text: string) => enc.encode(text + "\0");
  // C strings packed into one buffer: one encode and one pointer for all of
  // them (a string per variable of the environment was a third of a spawn).
  const packed = (items: string[]) => {
    const block = enc.encode(items.length === 0 ? "" : items.join("\0") + "\0");
    const offsets: number[] = [];
    for (let i = 0, start = 0; i < block.length; i++) {
      if (block[i] === 0) {
        offsets.push(start);
        start = i + 1;
      }
    }
    return { block, offsets };
  };
  // NULL-terminated char*[] into `p`; `p.block` must stay referenced while it is used.
  const pointers = (p: { block: Uint8Array; offsets: number[] }) => {
    const out = new BigUint64Array(p.offsets.length + 1);
    if (p.offsets.length === 0) return out;
    const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(p.block)));
    for (let i = 0; i < p.offsets.length; i++) out[i] = base + BigInt(p.offsets[i]!);
    return out;
  };
  // A NUL would end one C string and start the next: refused, as Deno.Command does.
  const nul = (text: string) => text.includes("\0");
  // The environments children get, packed: executors pass the same few again
  // and again. Undefined for one with a NUL (checked once, when first packed).
  const envs = new Map<string, { block: Uint8Array; offsets: number[] }>();
  const packedEnv = (env: Record<string, string>) => {
    const items = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const key = items.join("\0");
    let p = envs.get(key);
    if (p === undefined) {
      if (items.some(nul)) return undefined;
      if (envs.size >= 16) envs.clear();
      envs.set(key, p = packed(items));
    }
    return p;
  };
  // Only the read end is non-blocking: the child's end must block when the pipe is full.
  const pipe = (): [number, number] | undefined => {
    const fds = new Int32Array(2);
    if (c.pipe2(u8(fds), O_CLOEXEC) !== 0) return undefined;
    c.fcntl(fds[0]!, F_SETFL, O_NONBLOCK);
    return [fds[0]!, fds[1]!];
  };
  // A pidfd is what says a child exited; without one (Linux < 5.3) do not use this.
  const own = c.pidfd_open(c.getpid(), 0);
  if (own < 0) return undefined;
  c.close(own);
  const wake = pipe();
  if (wake === undefined) return undefined;
  c.fcntl(wake[1], F_SETFL, O_NONBLOCK); // a full wake pipe already wakes the poll

  const attr = new Uint8Array(1024);
  const noSignals = new Uint8Array(128);
  const allSignals = new Uint8Array(128);
  c.posix_spawnattr_init(attr);
  c.sigemptyset(noSignals);
  c.sigfillset(allSignals);
  c.posix_spawnattr_setsigmask(attr, noSignals);
  c.posix_spawnattr_setsigdefault(attr, allSignals);
  c.posix_spawnattr_setflags(attr, SETSID | SETSIGMASK | SETSIGDEF);
  const devNull = cstr("/dev/null");

  // fd -> what to do when it is readable (or hung up).
  const watched = new Map<number, () => void>();
  let polling = false;
  const scratch = new Uint8Array(65536);
  const loop = async () => {
    polling = true;
    try {
      while (watched.size > 0) {
        const fds = [wake[0], ...watched.keys()];
        const set = new Int32Array(fds.length * 2);
        fds.forEach((fd, i) => {
          set[i * 2] = fd;
          set[i * 2 + 1] = POLLIN; // events; revents in the upper half
        });
        // A timeout, so that a thread never stays in poll after the worker ends.
        const n = await c.poll(u8(set), BigInt(fds.length), 1000);
        if (n <= 0) continue;
        while (c.read(wake[0], scratch, BigInt(scratch.length)) > 0) { /* drained */ }
        for (let i = 1; i < fds.length; i++) {
          if ((set[i * 2 + 1]! >>> 16) !== 0) watched.get(fds[i]!)?.();
        }
      }
    } finally {
      polling = false;
    }
  };
  const watch = (fd: number, ready: () => void) => {
    watched.set(fd, ready);
    if (polling) c.write(wake[1], new Uint8Array(1), 1n); // poll again, with this fd
    else loop();
  };
  const unwatch = (fd: number) => {
    watched.delete(fd);
    c.close(fd);
  };

  // Reads `fd` into `onOutput` until its end or `stop()`, then calls `done` once.
  // At most 4 reads a wake-up: a child writing without pause does not hold
  // the worker; poll says again that the rest is there.
  const reader = (fd: number, take: (bytes: Uint8Array) => void, done: () => void) => {
    let open = true;
    const end = () => {
      open = false;
      unwatch(fd);
      done();
    };
    watch(fd, () => {
      for (let reads = 0; open && reads < 4; reads++) {
        const n = Number(c.read(fd, scratch, BigInt(scratch.length)));
        if (n > 0) take(scratch.subarray(0, n));
        else if (n < 0) return; // EAGAIN (a hang-up reads as 0)
        else end();
      }
    });
    return () => open && end();
  };

  const spawn = (
    spec: SpawnSpec,
    onOutput: OnOutput,
  ): { child: WorkerChild } | { code: 126 | 127; message: string } => {
    const run = spec.session ?? { cmd: spec.cmd, args: spec.args };
    const envp = packedEnv(spec.env);
    if (nul(run.cmd) || run.args.some(nul) || envp === undefined) {
      return { code: 126, message: "cannot execute: nul byte found in provided data" };
    }
    const out = pipe();
    const err = out && pipe();
    if (out === undefined || err === undefined) {
      if (out) { for (const fd of out) c.close(fd); }
      return { code: 126, message: "cannot execute: no pipe for its output" };
    }
    const actions = new Uint8Array(256);
    c.posix_spawn_file_actions_init(actions);
    c.posix_spawn_file_actions_addopen(actions, 0, devNull, 0, 0);
    c.posix_spawn_file_actions_adddup2(actions, out[1], 1);
    c.posix_spawn_file_actions_adddup2(actions, err[1], 2);
    const path = cstr(run.cmd);
    const argv = packed([run.cmd, ...run.args]);
    const pid = new Int32Array(1);
    const rc = c.posix_spawn(
      u8(pid),
      path,
      actions,
      attr,
      new Uint8Array(pointers(argv).buffer),
      new Uint8Array(pointers(envp).buffer),
    );
    c.posix_spawn_file_actions_destroy(actions);
    c.close(out[1]);
    c.close(err[1]);
    if (rc !== 0) {
      c.close(out[0]);
      c.close(err[0]);
      if (rc === ENOENT) return { code: 127, message: "command not found" };
      if (rc === EACCES) return { code: 126, message: "permission denied" };
      return {
        code: 126,
        message: `cannot execute: ${rc === ENOEXEC ? "exec format error" : `errno ${rc}`}`,
      };
    }
    const child = pid[0]!;
    const exit = Promise.withResolvers<{ code: number; signal: Deno.Signal | null }>();
    const pidfd = c.pidfd_open(child, 0);
    const reap = () => {
      const st = new Int32Array(1);
      if (c.waitpid(child, u8(st), WNOHANG) !== child) return false;
      const w = st[0]!;
      const sig = w & 0x7f;
      exit.resolve(
        sig === 0
          ? { code: (w >> 8) & 0xff, signal: null }
          : { code: 128 + sig, signal: (SIGNALS[sig - 1] ?? "SIGKILL") as Deno.Signal },
      );
      return true;
    };
    let open = 2;
    const ended = Promise.withResolvers<void>();
    const done = () => --open === 0 && ended.resolve();
    // Watched before the pidfd: an exit and the end of its output seen in one
    // poll are handled in that order, so the exit finds the output complete.
    const stopOut = reader(out[0], (bytes) => onOutput(1, bytes), done);
    const stopErr = reader(err[0], (bytes) => onOutput(2, bytes), done);
    if (pidfd < 0) {
      // Cannot happen once pidfd_open worked for this process; poll the exit.
      const timer = setInterval(() => reap() && clearInterval(timer), 20);
    } else {
      watch(pidfd, () => {
        if (reap()) unwatch(pidfd);
      });
    }
    return {
      child: {
        pid: child,
        status: exit.promise,
        get ended() {
          return open === 0;
        },
        whenEnded: ended.promise,
        stop() {
          stopOut();
          stopErr();
        },
      },
    };
  };
  const close = () => {
    c.close(wake[0]);
    c.close(wake[1]);
    lib.close();
  };
  return { spawn, close };
}

/** The worker's program as source text: {@linkcode spawnerWorker} given both ways to spawn. */
export const SPAWNER_WORKER_SOURCE =
  `(${spawnerWorker.toString()})(${spawnChild.toString()}, ${ffiSpawner.toString()});`;

/**
 * The worker's whole program. It is shipped as source text (`toString()`), so
 * that it works from `deno bundle` and `deno compile` output without a separate
 * file: it may use only globals (`self`, `Deno`, `Promise`, ...) and its
 * parameter, never an import or any identifier from this module. Types are
 * fine: they are erased.
 */
export function spawnerWorker(spawnHere: typeof spawnChild, posix: typeof ffiSpawner): void {
  // posix_spawn with a new session where it works; Deno.Command (through setsid) elsewhere.
  const posixSpawn = posix();
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<ToWorker[]>) => void) | null;
    postMessage(messages: FromWorker[]): void;
  };
  // What this turn says, sent once its synchronous work and promise jobs ran.
  let outbox: FromWorker[] = [];
  const flush = () => {
    const batch = outbox;
    outbox = [];
    scope.postMessage(batch);
  };
  const send = (m: FromWorker) => {
    if (outbox.push(m) === 1) queueMicrotask(flush);
  };

  // The last `capacity` bytes of a stream: the same algorithm as TailBuffer.push.
  const newTail = (capacity: number) => {
    const buf = new Uint8Array(capacity);
    let len = 0;
    let total = 0;
    return {
      push(chunk: Uint8Array): void {
        total += chunk.length;
        if (chunk.length >= capacity) {
          buf.set(chunk.subarray(chunk.length - capacity));
          len = capacity;
          return;
        }
        const keep = Math.min(len, capacity - chunk.length);
        buf.copyWithin(0, len - keep, len);
        buf.set(chunk, keep);
        len = keep + chunk.length;
      },
      take(): TailBytes {
        return { bytes: buf.slice(0, len), truncated: total > len };
      },
    };
  };

  // Reads `stream` into `take` until it ends or is cancelled (what was read is kept).
  const drain = (stream: ReadableStream<Uint8Array>, take: (bytes: Uint8Array) => void) => {
    const reader = stream.getReader();
    const done = (async () => {
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          take(value);
        }
      } catch {
        // A cancelled or broken pipe ends the capture; what was read is kept.
      } finally {
        reader.releaseLock();
      }
    })();
    return { done, cancel: () => reader.cancel().catch(() => {}) };
  };

  // A Deno.Command child, watched as posixSpawn's children are.
  const spawnWithCommand = (
    spec: SpawnSpec,
    onOutput: OnOutput,
  ): { child: WorkerChild } | { code: 126 | 127; message: string } => {
    const started = spawnHere(spec);
    if (!("child" in started)) return started;
    const { child } = started;
    const drains = [
      drain(child.stdout, (bytes) => onOutput(1, bytes)),
      drain(child.stderr, (bytes) => onOutput(2, bytes)),
    ];
    let ended = false;
    const whenEnded = Promise.all(drains.map((d) => d.done)).then(() => {
      ended = true;
    });
    return {
      child: {
        pid: child.pid,
        status: child.status.then((s) => ({ code: s.code, signal: s.signal })),
        get ended() {
          return ended;
        },
        whenEnded,
        stop: () => drains.forEach((d) => d.cancel()),
      },
    };
  };

  const spawn = (spec: SpawnSpec, onOutput: OnOutput) =>
    posixSpawn ? posixSpawn.spawn(spec, onOutput) : spawnWithCommand(spec, onOutput);

  const run = async (m: SpawnMessage) => {
    const out = newTail(m.tailBytes);
    const err = newTail(m.tailBytes);
    const started = spawn(m, (stream, bytes) => (stream === 1 ? out : err).push(bytes));
    if (!("child" in started)) {
      send({ key: m.key, op: "spawn-error", ...started });
      return;
    }
    const { child } = started;
    send({ key: m.key, op: "spawned", pid: child.pid });
    const { code, signal } = await child.status;
    const output = () => ({ stdout: out.take(), stderr: err.take() });
    // Most children's output has ended by their exit: one message says both.
    if (child.ended) {
      send({ key: m.key, op: "exited", code, signal, output: output() });
      return;
    }
    send({ key: m.key, op: "exited", code, signal });
    // A grandchild may hold the pipes open: read at most drainGraceMs longer.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<void>((resolve) => timer = setTimeout(resolve, m.drainGraceMs));
    await Promise.race([child.whenEnded, expired]);
    clearTimeout(timer);
    child.stop();
    send({ key: m.key, op: "output", ...output() });
  };

  send({ op: "ready", posixSpawn: posixSpawn !== undefined });
  scope.onmessage = (e) => {
    for (const m of e.data) {
      // Every earlier spawn has already reported its pid: spawning is synchronous.
      if (m.op === "close") {
        send({ op: "closed" });
        continue;
      }
      run(m).catch((error) => {
        const message = error instanceof Error ? error.message : String(error);
        send({ key: m.key, op: "failed", message });
      });
    }
  };
}
