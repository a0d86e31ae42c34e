// kiln serve driven by the official openai npm package (pinned in
// package.json, installed by scripts/install-deps.sh with npm ci).
//
// Usage: node openai_client.mjs BASE_URL MODEL_NAME
//
// The model is mkmodel's random-weight model with the byte tokenizer
// (token id = byte value), so the text is garbage: every check is about
// behaviour (same answers for equivalent requests, shapes, cuts, errors),
// never about what the text says. Greedy (temperature 0) answers make
// requests comparable. Prints PASS/FAIL per check; exits 1 if any failed.
import OpenAI from 'openai';

const [baseURL, MODEL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0,
                            timeout: 120000 });
let failed = 0, total = 0;

function check(name, cond, detail) {
  total++;
  if (!cond) failed++;
  console.log(`${cond ? 'PASS' : 'FAIL'} ${name}` +
              (cond ? '' : `: ${JSON.stringify(detail)?.slice(0, 1500)}`));
}

// Runs fn, which must throw the client's APIError with this status (and
// code and param when given).
async function expectError(name, fn, status, code, param) {
  try {
    const r = await fn();
    check(name, false, { answered: r });
  } catch (e) {
    check(name, e instanceof OpenAI.APIError && e.status === status &&
          (code === undefined || e.code === code) &&
          (param === undefined || e.param === param),
          { cls: e?.constructor?.name, status: e?.status, code: e?.code,
            param: e?.param, message: e?.message });
    return e;
  }
}

const greedy = { model: MODEL, temperature: 0, max_tokens: 12 };
const chat = (messages, extra = {}) =>
  client.chat.completions.create({ ...greedy, messages, ...extra });
const complete = (prompt, extra = {}) =>
  client.completions.create({ ...greedy, prompt, ...extra });
const utf8 = (bytes) => new TextDecoder().decode(Uint8Array.from(bytes));
const SYS = [{ role: 'system', content: 'Be brief.' },
             { role: 'user', content: 'Write add(a, b).' }];

async function models() {
  const page = await client.models.list();
  check('models.list: the served model', page.data.length === 1 &&
        page.data[0].id === MODEL && page.data[0].object === 'model',
        page.data);
  const m = await client.models.retrieve(MODEL);
  check('models.retrieve: the model by id', m.id === MODEL &&
        m.object === 'model' && typeof m.created === 'number', m);
  const e = await expectError('models.retrieve: unknown id is NotFoundError',
    () => client.models.retrieve('no-such-model'), 404, 'model_not_found');
  check('models.retrieve: 404 is the NotFoundError subclass',
        e instanceof OpenAI.NotFoundError, e?.constructor?.name);
}

async function basicChat() {
  const r = await chat(SYS);
  const c = r.choices[0];
  check('chat: shape', r.object === 'chat.completion' &&
        r.id.startsWith('chatcmpl-') && r.model === MODEL &&
        c.index === 0 && c.message.role === 'assistant' &&
        typeof c.message.content === 'string' &&
        ['stop', 'length'].includes(c.finish_reason) && c.logprobs === null,
        r);
  const want = Buffer.byteLength('<|system|>\nBe brief.\n<|user|>\n' +
                                 'Write add(a, b).\n<|assistant|>\n');
  check('chat: usage counts the rendered prompt', r.usage.prompt_tokens ===
        want && r.usage.total_tokens === want + r.usage.completion_tokens,
        r.usage);
  return r;
}

async function nChoices() {
  const r = await chat(SYS, { n: 3, temperature: 1, seed: 5 });
  check('n=3: three choices, indexed', r.choices.length === 3 &&
        r.choices.every((c, i) => c.index === i), r.choices);
  const r6 = await chat(SYS, { temperature: 1, seed: 6 });
  check('n=3: choice 1 of seed 5 is choice 0 of seed 6',
        r6.choices[0].message.content === r.choices[1].message.content,
        [r6.choices[0], r.choices[1]]);
}

async function streaming(whole) {
  const stream = await chat(SYS, { stream: true,
                                   stream_options: { include_usage: true } });
  let text = '', role = null, finish = null, usage = null, chunks = 0;
  for await (const ch of stream) {
    chunks++;
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) {
      role = role ?? c.delta.role;
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  check('stream: deltas join to the whole answer', chunks > 1 &&
        role === 'assistant' && text === whole.choices[0].message.content &&
        finish === whole.choices[0].finish_reason,
        { text, want: whole.choices[0].message.content, finish });
  check('stream: usage in the last chunk', usage &&
        usage.completion_tokens === whole.usage.completion_tokens, usage);
}

async function contentParts(whole) {
  const r = await chat([
    { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
    { role: 'user', content: [{ type: 'text', text: 'Write ' },
                              { type: 'text', text: 'add(a, b).' }] }]);
  check('content parts: text parts joined, the same answer',
        r.choices[0].message.content === whole.choices[0].message.content &&
        r.usage.prompt_tokens === whole.usage.prompt_tokens,
        [r.choices[0], r.usage]);
  await expectError('content parts: an image part is refused',
    () => chat([{ role: 'user', content: [
      { type: 'text', text: 'what is this?' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }]
    }]), 400, 'unsupported_value', 'messages');
}

async function developerRole(whole) {
  const r = await chat([{ role: 'developer', content: 'Be brief.' },
                        SYS[1]]);
  check('developer role: answered as the system role',
        r.choices[0].message.content === whole.choices[0].message.content &&
        r.usage.prompt_tokens === whole.usage.prompt_tokens, r.choices[0]);
}

function logprobsSane(entries, top) {
  return entries.every((t) => t.logprob <= 0 && t.top_logprobs.length ===
    top && t.top_logprobs.every((a, i) => a.logprob <= 0 &&
      (i === 0 || a.logprob <= t.top_logprobs[i - 1].logprob)) &&
    t.top_logprobs.reduce((s, a) => s + Math.exp(a.logprob), 0) <= 1 + 1e-5);
}

async function chatLogprobs(whole) {
  const r = await chat(SYS, { logprobs: true, top_logprobs: 3 });
  const lp = r.choices[0].logprobs?.content ?? [];
  const bytes = lp.flatMap((t) => t.bytes);
  check('chat logprobs: one entry per token, bytes join to the content',
        lp.length > 0 && lp.length <= r.usage.completion_tokens &&
        utf8(bytes) === r.choices[0].message.content &&
        r.choices[0].message.content === whole.choices[0].message.content,
        { lp: lp.slice(0, 3), content: r.choices[0].message.content });
  check('chat logprobs: top_logprobs sorted, <= 0, sum <= 1',
        logprobsSane(lp, 3), lp.slice(0, 3));
  check('chat logprobs: greedy picks the most likely token',
        lp.every((t) => t.token === t.top_logprobs[0].token &&
                 Math.abs(t.logprob - t.top_logprobs[0].logprob) < 1e-6),
        lp.slice(0, 3));
  // the model's distribution: the same whatever the temperature
  const hot = await chat(SYS, { logprobs: true, top_logprobs: 3,
                                temperature: 1.5, top_p: 0.5, seed: 1 });
  const first = hot.choices[0].logprobs.content[0];
  check('chat logprobs: before temperature and top_p (the first token\'s ' +
        'alternatives do not change)', JSON.stringify(first.top_logprobs) ===
        JSON.stringify(lp[0].top_logprobs), [first, lp[0]]);
  // streamed: the same entries, chunk by chunk
  const stream = await chat(SYS, { logprobs: true, top_logprobs: 3,
                                   stream: true });
  const streamed = [];
  for await (const ch of stream)
    for (const c of ch.choices) streamed.push(...(c.logprobs?.content ?? []));
  check('chat logprobs: streamed chunks carry the same entries',
        JSON.stringify(streamed) === JSON.stringify(lp),
        { streamed: streamed.length, whole: lp.length });
  await expectError('chat logprobs: top_logprobs 21 is refused',
    () => chat(SYS, { logprobs: true, top_logprobs: 21 }), 400,
    'invalid_value', 'top_logprobs');
  await expectError('chat logprobs: top_logprobs without logprobs',
    () => chat(SYS, { top_logprobs: 2 }), 400, 'invalid_value',
    'top_logprobs');
}

async function completionLogprobs() {
  const r = await complete('def f(x):', { logprobs: 2 });
  const l = r.choices[0].logprobs;
  const n = l?.tokens?.length ?? 0;
  check('completions logprobs: tokens, token_logprobs, top_logprobs, ' +
        'text_offset', n > 0 && l.token_logprobs.length === n &&
        l.top_logprobs.length === n && l.text_offset.length === n &&
        l.text_offset[0] === 0 &&
        l.text_offset.every((o, i) => i === 0 || o === l.text_offset[i - 1] + 1),
        l);
  check('completions logprobs: up to logprobs + 1 alternatives, the ' +
        'sampled token the likeliest (greedy)', n > 0 &&
        l.top_logprobs.every((d, i) => Object.keys(d).length >= 1 &&
          Object.keys(d).length <= 3 &&
          Math.max(...Object.values(d)) <= l.token_logprobs[i] + 1e-6 &&
          l.token_logprobs[i] <= 0), l.top_logprobs.slice(0, 3));
}

async function arrayPrompts() {
  const a = await complete('def add(a, b):\n');
  const b = await complete('import os\n');
  const r = await complete(['def add(a, b):\n', 'import os\n'], { n: 2 });
  check('array prompt: n choices per prompt, prompt by prompt',
        r.choices.length === 4 && r.choices.every((c, i) => c.index === i) &&
        r.choices[0].text === a.choices[0].text &&
        r.choices[1].text === a.choices[0].text &&
        r.choices[2].text === b.choices[0].text &&
        r.choices[3].text === b.choices[0].text,
        r.choices.map((c) => c.text));
  check('array prompt: usage counts every prompt', r.usage.prompt_tokens ===
        a.usage.prompt_tokens + b.usage.prompt_tokens, r.usage);
  const one = await complete(['import os\n']);
  check('array prompt: an array of one string', one.choices.length === 1 &&
        one.choices[0].text === b.choices[0].text, one.choices);
  const ids = [...Buffer.from('import os\n')];
  const t = await complete(ids);
  check('array prompt: token ids (byte tokenizer)', t.choices[0].text ===
        b.choices[0].text && t.usage.prompt_tokens === ids.length, t.choices);
  const tt = await complete([ids, [...Buffer.from('def add(a, b):\n')]]);
  check('array prompt: arrays of token ids', tt.choices.length === 2 &&
        tt.choices[0].text === b.choices[0].text &&
        tt.choices[1].text === a.choices[0].text, tt.choices);
  await expectError('array prompt: a token id outside the vocabulary',
    () => complete([1, 2, 99999]), 400, 'invalid_value', 'prompt');
  await expectError('array prompt: an empty array', () => complete([]),
    400, 'invalid_value', 'prompt');
}

async function stops() {
  // sampled (seeded): greedy text of a random model repeats one byte
  const opts = { max_tokens: 40, temperature: 1, seed: 7 };
  const r = await complete('x = [1, 2, 3]\n', opts);
  const text = r.choices[0].text;
  // an ASCII character past the first: a stop the model's bytes hold
  const at = [...text].findIndex((ch, i) => i > 0 && ch >= ' ' && ch <= '~');
  if (at < 0) {
    check('stop: the greedy text has an ASCII character to stop at', false,
          text);
    return;
  }
  const stop = [...text][at];
  const s = await complete('x = [1, 2, 3]\n', { ...opts, stop });
  check('stop: the text ends before the stop, finish_reason stop',
        s.choices[0].text === text.slice(0, text.indexOf(stop)) &&
        s.choices[0].finish_reason === 'stop', { text, stop, got: s.choices[0] });
  const c = await chat(SYS, opts);
  const ctext = c.choices[0].message.content;
  const cstop = [...ctext].find((ch, i) => i > 0 && ch >= ' ' && ch <= '~');
  const cs = await chat(SYS, { ...opts, stop: ['\u0001\u0002', cstop] });
  check('stop: chat, an array of stops', cstop !== undefined &&
        cs.choices[0].message.content ===
        ctext.slice(0, ctext.indexOf(cstop)) &&
        cs.choices[0].finish_reason === 'stop', { ctext, cstop, got: cs });
}

async function errors() {
  await expectError('tools with tool_choice "required": unsupported',
    () => chat(SYS, { tools: [{ type: 'function', function: { name: 'f',
                      parameters: { type: 'object', properties: {} } } }],
                      tool_choice: 'required' }), 400,
    'unsupported_parameter', 'tools');
  await expectError('tool_choice "required" alone: unsupported',
    () => chat(SYS, { tool_choice: 'required' }), 400,
    'unsupported_parameter', 'tool_choice');
  await expectError('response_format json_object: unsupported',
    () => chat(SYS, { response_format: { type: 'json_object' } }), 400,
    'unsupported_parameter', 'response_format');
  const ok = await chat(SYS, { tools: [], tool_choice: 'none',
                               response_format: { type: 'text' },
                               presence_penalty: 0, frequency_penalty: 0 });
  check('no-op values (tools: [], tool_choice "none", text format, ' +
        'penalties 0) are accepted', ok.choices.length === 1, ok);
  await expectError('echo: true: unsupported',
    () => complete('a', { echo: true }), 400, 'unsupported_parameter', 'echo');
  // best_of (docs/SERVE.md): the official client's field reaches kiln;
  // fewer than n is refused
  const opts = { max_tokens: 4, temperature: 1, seed: 3 };
  const best = await complete('a', { ...opts, best_of: 3 });
  const all3 = await complete('a', { ...opts, n: 3 });
  check('best_of 3 with n 1: one of the three samples, usage of all three',
        best.choices.length === 1 &&
        all3.choices.some((c) => c.text === best.choices[0].text) &&
        best.usage.completion_tokens === all3.usage.completion_tokens,
        [best, all3]);
  await expectError('best_of 1 with n 2: invalid_value',
    () => complete('a', { best_of: 1, n: 2 }), 400, 'invalid_value',
    'best_of');
  await expectError('suffix: unsupported',
    () => complete('a', { suffix: '}' }), 400, 'unsupported_parameter',
    'suffix');
  const fine = await complete('a', { echo: false, best_of: 1, suffix: '' });
  check('echo false, best_of 1, empty suffix are accepted',
        fine.choices.length === 1, fine);
  // JSON.stringify writes 2**64 as the integer 18446744073709552000
  await expectError('an integer beyond 64 bits: invalid_value on its field',
    () => chat(SYS, { seed: 2 ** 64 }), 400, 'invalid_value', 'seed');
  await expectError('\\u0000 in a message: unsupported_value on messages',
    () => chat([{ role: 'user', content: 'a\u0000b' }]), 400,
    'unsupported_value', 'messages');
  const e = await expectError('a bad value is BadRequestError',
    () => chat(SYS, { temperature: 3 }), 400, 'invalid_value', 'temperature');
  check('400 is the BadRequestError subclass',
        e instanceof OpenAI.BadRequestError, e?.constructor?.name);
  await expectError('a tool message: unsupported_value',
    () => chat([{ role: 'tool', tool_call_id: 'x', content: 'r' }]), 400,
    'unsupported_value', 'messages');
}

try {
  await models();
  const whole = await basicChat();
  await nChoices();
  await streaming(whole);
  await contentParts(whole);
  await developerRole(whole);
  await chatLogprobs(whole);
  await completionLogprobs();
  await arrayPrompts();
  await stops();
  await errors();
} catch (e) {
  check('no unexpected exception', false, `${e?.stack ?? e}`);
}
console.log(`${total} checks, ${failed} failed`);
process.exit(failed ? 1 : 0);
