/**
 * A small Python unpickler for the pickles PyTorch writes (`torch.save`, TorchScript's `data.pkl`).
 *
 * It executes nothing: a `GLOBAL` (`module.name`) is looked up in a table the caller gives
 * (`resolveGlobal`), and anything not in it becomes an inert {@link PyGlobal}; calling or
 * instantiating one (`REDUCE`, `NEWOBJ`) only records the call as a {@link PyObject}. So a
 * checkpoint can never run code here, whatever it contains — unlike Python's `pickle.load`.
 *
 * Opcodes: every opcode of protocols 0–5 that PyTorch or Python's pickler emit for the values a
 * checkpoint holds (dicts, lists, tuples, ints, floats, strings, bytes, booleans, None, globals,
 * persistent ids, memo). Unknown opcodes fail with their byte and offset. No npm package was
 * kept up well enough to depend on (`pickleparser` had two releases on one day, `jpickle` is
 * unmaintained), and torch needs `persistent_load`, which few of them offer.
 */

/** A Python global (`module.name`) that the caller did not map to a value. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object made by calling or instantiating a {@link PyGlobal}; `state` is what BUILD set. */
export class PyObject {
  state: unknown = undefined;
  constructor(
    readonly cls: PyGlobal,
    readonly args: readonly unknown[],
  ) {}
}

/** A Python tuple (kept apart from lists: torch's persistent ids and call arguments are tuples). */
export class PyTuple extends Array<unknown> {}

/** Thrown when bytes are not a pickle this reader can read; the message names the offset. */
export class PickleError extends Error {}

export interface UnpickleOptions {
  /** Maps `module`, `name` to a value (a function is called by REDUCE); undefined → {@link PyGlobal}. */
  resolveGlobal?(module: string, name: string): unknown;
  /** `persistent_load`: torch stores tensor storages out of band, named by a tuple. */
  persistentLoad?(pid: unknown): unknown;
}

/** A callable that a resolved global may be: REDUCE calls it with the argument tuple. */
export type PyCallable = (...args: unknown[]) => unknown;

const decoder = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Reads one pickle from `bytes` at `start`; returns the value and the offset after its STOP. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}, start = 0): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;

  const fail = (message: string): never => {
    throw new PickleError(`pickle at byte ${pos}: ${message}`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`truncated (needs ${n} more bytes, file ends at ${bytes.length})`);
  };
  const u8 = () => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = () => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated text argument');
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const pop = () => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const mark = marks.pop();
    if (mark === undefined) fail('no MARK to pop to');
    return stack.splice(mark!);
  };
  const top = () => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const global = (module: string, name: string) => options.resolveGlobal?.(module, name) ?? new PyGlobal(module, name);
  const call = (fn: unknown, args: unknown[]) => {
    if (typeof fn === 'function') return (fn as PyCallable)(...args);
    if (fn instanceof PyGlobal) return new PyObject(fn, args);
    return fail(`cannot call ${describe(fn)}`);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    for (let i = 0; i + 1 < items.length; i += 2) {
      if (target instanceof Map) target.set(items[i], items[i + 1]);
      else fail(`SETITEM on ${describe(target)}`);
    }
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (Array.isArray(target)) target.push(...items);
    else fail(`APPEND on ${describe(target)}`);
  };
  const tuple = (items: unknown[]) => PyTuple.from(items) as PyTuple;
  const str = (raw: Uint8Array) => {
    try {
      return decoder.decode(raw);
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  const signedLittleEndian = (raw: Uint8Array): number | bigint => {
    if (raw.length === 0) return 0;
    let value = 0n;
    for (let i = raw.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]!);
    if (raw[raw.length - 1]! & 0x80) value -= 1n << BigInt(raw.length * 8);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };

  for (;;) {
    const opAt = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLittleEndian(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(signedLittleEndian(take(u32())));
        break;
      case 0x49: {
        // INT (text): "I01\n" / "I00\n" are protocol 0's booleans
        const text = line();
        stack.push(text === '01' ? true : text === '00' ? false : Number.parseInt(text, 10));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number.parseInt(line().replace(/L$/, ''), 10));
        break;
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number.parseFloat(line()));
        break;
      case 0x58: // BINUNICODE
        stack.push(str(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(take(u64())));
        break;
      case 0x54: // BINSTRING (Python 2 str)
        stack.push(latin1.decode(take(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()));
        break;
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x53: {
        // STRING (text, quoted repr)
        const text = line();
        stack.push(text.slice(1, -1));
        break;
      }
      case 0x56: // UNICODE (raw-unicode-escape text)
        stack.push(line());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const item = pop();
        appendItems(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const dict = new Map();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) fail(`ADDITEMS on ${describe(set)}`);
        for (const item of items) (set as Set<unknown>).add(item);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!Array.isArray(args)) fail(`REDUCE arguments are ${describe(args)}, not a tuple`);
        stack.push(call(fn, args as unknown[]));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args as unknown[]));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args as unknown[]));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state) or obj.__dict__.update(state)
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        // A dict subclass's state is its instance attributes (an OrderedDict state dict's
        // `_metadata`), not items: dropped, so they never look like weights.
        else if (obj instanceof Map) break;
        else if (typeof obj === 'object' && obj !== null && 'setState' in obj) (obj as { setState(s: unknown): void }).setState(state);
        else fail(`BUILD on ${describe(obj)}`);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('a persistent id, but no persistent_load was given');
        stack.push(options.persistentLoad!(pid));
        break;
      }
      case 0x50: // PERSID (text)
        if (!options.persistentLoad) fail('a persistent id, but no persistent_load was given');
        stack.push(options.persistentLoad!(line()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number.parseInt(line(), 10), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET (text)
        const key = op === 0x68 ? u8() : op === 0x6a ? u32() : Number.parseInt(line(), 10);
        if (!memo.has(key)) fail(`memo key ${key} was never stored`);
        stack.push(memo.get(key));
        break;
      }
      default:
        pos = opAt;
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

function describe(value: unknown): string {
  if (value instanceof PyGlobal) return value.qualifiedName;
  if (value instanceof PyObject) return `an instance of ${value.cls.qualifiedName}`;
  if (value === null) return 'None';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Map) return 'a dict';
  return typeof value;
}
