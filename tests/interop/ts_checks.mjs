// The check list of mcp_checks.py, run by the official TypeScript SDK client
// (@modelcontextprotocol/sdk) over SSEClientTransport (legacy HTTP+SSE) or
// StreamableHTTPClientTransport. Prints one JSON line {"results": [{name, ok, detail}]}; every
// check runs even when an earlier one failed (except after a failed connect).
//
// Usage: node ts_checks.mjs '<spec json>' (spec: transport, url, sdk = the SDK's directory, and
// the server profile: echoPrefix, requiredTools, progressTool/Args/Steps, requiredResources,
// prompt/promptArgs/promptMustContain, samplingTool or null). The SDK is imported by path: this
// file lives outside the node_modules tree it comes from.
// Not here: starting servers (the pytest side does that).

import { pathToFileURL } from 'node:url';

const STEP_TIMEOUT_MS = 20000;
const CONCURRENT_CALLS = 20;
const SAMPLED_TEXT = 'sampled by the interop test';

const spec = JSON.parse(process.argv[2]);
const esm = (path) => import(pathToFileURL(`${spec.sdk}/dist/esm/${path}`).href);
const { Client } = await esm('client/index.js');
const { SSEClientTransport } = await esm('client/sse.js');
const { StreamableHTTPClientTransport } = await esm('client/streamableHttp.js');
const types = await esm('types.js');

const results = [];
async function check(name, body) {
  let timer;
  try {
    await Promise.race([
      body(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
      }),
    ]);
    results.push({ name, ok: true });
    return true;
  } catch (error) {
    results.push({ name, ok: false, detail: String(error?.stack ?? error).slice(0, 600) });
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const textOf = (result) => {
  const block = (result.content ?? []).find((c) => c.type === 'text');
  assert(block, `no text content in ${JSON.stringify(result)}`);
  return block.text;
};

const client = new Client(
  { name: 'shadowcat-interop-ts', version: '1.0.0' },
  { capabilities: { sampling: {} } },
);
let toolsChanged;
const toolsChangedSeen = new Promise((resolve) => { toolsChanged = resolve; });
client.setNotificationHandler(types.ToolListChangedNotificationSchema, async () => toolsChanged());
client.setRequestHandler(types.CreateMessageRequestSchema, async () => ({
  role: 'assistant',
  model: 'interop-test-model',
  content: { type: 'text', text: SAMPLED_TEXT },
}));

const url = new URL(spec.url);
const transport = spec.transport === 'sse'
  ? new SSEClientTransport(url)
  : new StreamableHTTPClientTransport(url);

const connected = await check('initialize', async () => {
  await client.connect(transport);
  const info = client.getServerVersion();
  assert(info?.name, `empty serverInfo: ${JSON.stringify(info)}`);
});

if (connected) {
  await check('ping', () => client.ping());

  await check('tools/list', async () => {
    const names = new Set((await client.listTools()).tools.map((t) => t.name));
    const missing = spec.requiredTools.filter((t) => !names.has(t));
    assert(missing.length === 0, `tools missing: ${missing}`);
  });

  await check('tools/call echo', async () => {
    const message = 'hello through shadowcat: ünïcødé ✓';
    const text = textOf(await client.callTool({ name: 'echo', arguments: { message } }));
    assert(text === spec.echoPrefix + message, `echo answered ${JSON.stringify(text)}`);
  });

  await check('tools/call unknown tool is an error', async () => {
    try {
      const result = await client.callTool({ name: 'no-such-tool-shadowcat', arguments: {} });
      assert(result.isError, `unknown tool answered as a success: ${JSON.stringify(result)}`);
    } catch (error) {
      assert(error instanceof types.McpError, `not an MCP error: ${error}`);
    }
  });

  await check(`${CONCURRENT_CALLS} concurrent calls on one session`, async () => {
    const messages = Array.from({ length: CONCURRENT_CALLS }, (_, i) => `concurrent-${i}-${'x'.repeat(i)}`);
    const answers = await Promise.all(
      messages.map((message) => client.callTool({ name: 'echo', arguments: { message } })),
    );
    const wrong = messages.filter((m, i) => textOf(answers[i]) !== spec.echoPrefix + m);
    assert(wrong.length === 0, `${wrong.length} answers wrong`);
  });

  await check('progress notifications before the result', async () => {
    const progress = [];
    const result = await client.callTool(
      { name: spec.progressTool, arguments: spec.progressArgs },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    const seen = [...progress];
    assert(!result.isError, JSON.stringify(result));
    // SSEClientTransport dispatches every event of one network read synchronously, and the SDK's
    // Protocol runs notification handlers a microtask later but responses at once: a progress
    // event arriving in the same read as the result is dropped by the client itself. Seen the
    // same against server-everything's own `sse` mode with no proxy in between, so over this
    // transport the last step may be missing; everything before it must be there, in order.
    const least = spec.transport === 'sse' ? spec.progressSteps - 1 : spec.progressSteps;
    assert(seen.length >= least && seen.length <= spec.progressSteps, `progress seen: ${seen}`);
    assert(seen.every((v, i) => i === 0 || v > seen[i - 1]), `progress out of order: ${seen}`);
  });

  await check('resources/list + read', async () => {
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    assert(uris.length > 0, 'no resources listed');
    const missing = spec.requiredResources.filter((u) => !uris.includes(u));
    assert(missing.length === 0, `resources missing: ${missing}`);
    const uri = spec.requiredResources[0] ?? uris[0];
    const contents = (await client.readResource({ uri })).contents;
    assert(contents.length > 0 && contents.some((c) => c.text || c.blob), `${uri}: empty contents`);
  });

  await check('prompts/list + get', async () => {
    const names = (await client.listPrompts()).prompts.map((p) => p.name);
    assert(names.includes(spec.prompt), `prompt ${spec.prompt} not in ${names}`);
    const prompt = await client.getPrompt({ name: spec.prompt, arguments: spec.promptArgs });
    const texts = prompt.messages.map((m) => m.content?.text ?? '');
    assert(texts.some((t) => t.includes(spec.promptMustContain)), JSON.stringify(prompt));
  });

  if (spec.samplingTool) {
    await check('sampling round trip (server->client request)', async () => {
      const names = new Set((await client.listTools()).tools.map((t) => t.name));
      if (!names.has(spec.samplingTool)) await toolsChangedSeen;
      const result = await client.callTool({ name: spec.samplingTool, arguments: { prompt: 'hi', maxTokens: 5 } });
      assert(!result.isError, JSON.stringify(result));
      assert(textOf(result).includes(SAMPLED_TEXT), JSON.stringify(result));
    });
  }
}

await check('close', async () => {
  if (spec.transport !== 'sse' && transport.sessionId) await transport.terminateSession();
  await client.close();
});
process.stdout.write(`${JSON.stringify({ results })}\n`);
process.exit(0);
