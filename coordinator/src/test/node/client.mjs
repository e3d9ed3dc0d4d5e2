// Drives Caravan's OpenAI-compatible HTTP API with the official openai client (OpenAiClientIT runs it).
//   node client.mjs BASE_URL MODEL PROMPT
// Prints one JSON object with what each call returned; the Java side asserts on it.
import OpenAI from 'openai';

const [baseURL, model, prompt] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'not-needed', maxRetries: 0, timeout: 120_000 });
const out = {};

// the model list
const models = await client.models.list();
out.models = models.data.map((m) => ({ id: m.id, object: m.object, owned_by: m.owned_by }));

// a completion, greedy, with log-probabilities
const c = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0, logprobs: 2 });
out.completion = {
  id: c.id, object: c.object, text: c.choices[0].text, finish_reason: c.choices[0].finish_reason, usage: c.usage,
  tokens: c.choices[0].logprobs.tokens, token_logprobs: c.choices[0].logprobs.token_logprobs,
  top_logprobs: c.choices[0].logprobs.top_logprobs, text_offset: c.choices[0].logprobs.text_offset,
};

// the same, streamed, with the usage chunk
{
  let text = '', chunks = 0, finish = null, usage = null, emptyChoices = 0;
  const s = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true } });
  for await (const chunk of s) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) { emptyChoices++; continue; }
    text += chunk.choices[0].text;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  out.completionStream = { text, chunks, finish_reason: finish, usage, emptyChoices };
}

// a stop string
const stopped = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0, stop: ['loved', 'zzz'] });
out.stopped = { text: stopped.choices[0].text, finish_reason: stopped.choices[0].finish_reason };

// chat, greedy, with log-probabilities (stories260K has no chat template: ChatML, as llama.cpp falls back to)
const messages = [{ role: 'user', content: prompt }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 2 });
out.chat = {
  id: chat.id, object: chat.object, role: chat.choices[0].message.role, content: chat.choices[0].message.content,
  finish_reason: chat.choices[0].finish_reason, usage: chat.usage,
  logprobs: chat.choices[0].logprobs.content.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes, top: t.top_logprobs.map((x) => x.token) })),
};

// chat streamed, with the usage chunk; the raw chunks are kept for the transcript
{
  let content = '', roles = [], finish = null, usage = null, raw = [];
  const s = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } });
  for await (const chunk of s) {
    raw.push(chunk);
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    const d = chunk.choices[0].delta;
    if (d.role) roles.push(d.role);
    if (d.content) content += d.content;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  out.chatStream = { content, roles, finish_reason: finish, usage, chunks: raw };
}

// seeded sampling with the server's defaults for everything else, twice
const seeded = [];
for (let i = 0; i < 2; i++) {
  const r = await client.completions.create({ model, prompt, max_tokens: 24, seed: 4242 });
  seeded.push(r.choices[0].text);
}
out.seeded = seeded;

// errors, as the client's own classes
async function failure(call) {
  try {
    await call();
    return { name: 'none' };
  } catch (e) {
    return { name: e.constructor.name, status: e.status, type: e.type ?? null, code: e.code ?? null, param: e.param ?? null, message: e.error?.message ?? e.message };
  }
}
out.unknownModel = await failure(() => client.chat.completions.create({ model: 'gpt-4o', messages }));
out.twoChoices = await failure(() => client.completions.create({ model, prompt, n: 2 }));
out.wrongType = await failure(() => client.completions.create({ model, prompt, temperature: 'hot' }));
out.tooManyLogprobs = await failure(() => client.chat.completions.create({ model, messages, logprobs: true, top_logprobs: 21 }));

console.log(JSON.stringify(out));
