// The official OpenAI and Anthropic Node SDKs against Portico's LLM
// gateway, changed only in their base URL and key. Run by test/sdk/go
// (TestNodeSDKs), which starts the mock providers and Portico and passes:
//   PORTICO_BASE  the LLM API's URL (http://127.0.0.1:<port>/ai)
//   PORTICO_KEY   a consumer's Portico key
//   EXPECT        {"text", "tool": {"name", "args"}, "usage": {"in", "out", "cached"}}
//   MODELS        the aliases to call, one per provider format
// Each check prints "ok <name>" or "FAIL <name>: <why>"; the exit status
// is 1 when one failed.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.PORTICO_BASE;
const key = process.env.PORTICO_KEY;
const want = JSON.parse(process.env.EXPECT);
const models = JSON.parse(process.env.MODELS);
let failed = false;

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
  }
}

function equal(got, expected, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(expected);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

async function rejects(promise, cls, status, what) {
  try {
    await promise;
  } catch (e) {
    if (!(e instanceof cls) || e.status !== status) {
      throw new Error(`${what}: got ${e && e.constructor && e.constructor.name} ${e && e.status}, want ${cls.name} ${status}`);
    }
    return;
  }
  throw new Error(`${what}: no error`);
}

const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
const anthropicTools = [{ name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }];
const messages = [{ role: 'user', content: 'What is the weather?' }];

const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0 });

for (const model of models) {
  await check(`openai/${model}/create`, async () => {
    const r = await openai.chat.completions.create({ model, messages, tools });
    const m = r.choices[0].message;
    equal(m.content, want.text, 'content');
    equal(m.tool_calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [[want.tool.name, JSON.parse(want.tool.args)]], 'tool calls');
    equal(r.choices[0].finish_reason, 'tool_calls', 'finish reason');
    equal([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.prompt_tokens_details.cached_tokens], [want.usage.in, want.usage.out, want.usage.cached], 'usage');
  });
  await check(`openai/${model}/stream`, async () => {
    const stream = openai.chat.completions.stream({ model, messages, tools, stream_options: { include_usage: true } });
    let deltas = 0;
    stream.on('content', () => deltas++);
    const r = await stream.finalChatCompletion();
    const m = r.choices[0].message;
    equal(m.content, want.text, 'content');
    equal(m.tool_calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [[want.tool.name, JSON.parse(want.tool.args)]], 'tool calls');
    equal([r.usage.prompt_tokens, r.usage.completion_tokens], [want.usage.in, want.usage.out], 'usage');
    if (deltas < 2) throw new Error(`the content came in ${deltas} delta(s): not streamed`);
  });
  await check(`anthropic/${model}/create`, async () => {
    const r = await anthropic.messages.create({ model, max_tokens: 200, messages, tools: anthropicTools });
    equal(r.content.map((b) => b.type), ['text', 'tool_use'], 'blocks');
    equal(r.content[0].text, want.text, 'text');
    equal([r.content[1].name, r.content[1].input], [want.tool.name, JSON.parse(want.tool.args)], 'tool use');
    equal(r.stop_reason, 'tool_use', 'stop reason');
    equal([r.usage.input_tokens + (r.usage.cache_read_input_tokens || 0), r.usage.output_tokens, r.usage.cache_read_input_tokens || 0],
      [want.usage.in, want.usage.out, want.usage.cached], 'usage');
  });
  await check(`anthropic/${model}/stream`, async () => {
    const stream = anthropic.messages.stream({ model, max_tokens: 200, messages, tools: anthropicTools });
    let deltas = 0;
    stream.on('text', () => deltas++);
    const r = await stream.finalMessage();
    equal(r.content[0].text, want.text, 'text');
    equal([r.content[1].name, r.content[1].input], [want.tool.name, JSON.parse(want.tool.args)], 'tool use');
    equal(r.stop_reason, 'tool_use', 'stop reason');
    equal([r.usage.input_tokens + (r.usage.cache_read_input_tokens || 0), r.usage.output_tokens], [want.usage.in, want.usage.out], 'usage');
    if (deltas < 2) throw new Error(`the text came in ${deltas} delta(s): not streamed`);
  });
}

await check('openai/errors', async () => {
  const stranger = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'not-a-key', maxRetries: 0 });
  await rejects(stranger.chat.completions.create({ model: models[0], messages }), OpenAI.AuthenticationError, 401, 'wrong key');
  await rejects(openai.chat.completions.create({ model: 'no-such-model', messages }), OpenAI.NotFoundError, 404, 'unknown model');
  await rejects(openai.chat.completions.create({ model: 'busy', messages }), OpenAI.RateLimitError, 429, 'every deployment at its limit');
});
await check('anthropic/errors', async () => {
  const stranger = new Anthropic({ baseURL: base, apiKey: 'not-a-key', maxRetries: 0 });
  await rejects(stranger.messages.create({ model: models[0], max_tokens: 10, messages }), Anthropic.AuthenticationError, 401, 'wrong key');
  await rejects(anthropic.messages.create({ model: 'no-such-model', max_tokens: 10, messages }), Anthropic.NotFoundError, 404, 'unknown model');
  await rejects(anthropic.messages.create({ model: 'busy', max_tokens: 10, messages }), Anthropic.RateLimitError, 429, 'every deployment at its limit');
});
await check('openai/embeddings', async () => {
  // The SDK asks for base64 and decodes it: passed through to OpenAI's,
  // translated for Gemini.
  for (const model of ['gpt', 'gemini']) {
    const r = await openai.embeddings.create({ model, input: ['hello', 'hello world'] });
    equal(r.data.map((d) => Array.from(d.embedding)), [[0.25, -0.5, 0.125], [0.25, -0.5, 0.125]], `${model} embeddings`);
  }
});
await check('openai/fallback', async () => {
  const r = await openai.chat.completions.create({ model: 'fallback', messages });
  equal(r.choices[0].message.content, want.text, 'content after the fallback');
});
await check('anthropic/fallback', async () => {
  const r = await anthropic.messages.create({ model: 'fallback', max_tokens: 10, messages });
  equal(r.content[0].text, want.text, 'text after the fallback');
});

process.exit(failed ? 1 : 0);
