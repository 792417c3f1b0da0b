// A real OAuth 2 authorization server for the auth interop tests (tests/interop/oauth.py):
// npm `oauth2-mock-server` on 127.0.0.1 and a free port, with two generated signing keys (RS256
// kid "rs-1", ES256 kid "es-1"; tokens are signed with them in turn). Serves
// /.well-known/openid-configuration, /.well-known/oauth-authorization-server (RFC 8414, the same
// document plus registration_endpoint), /jwks, /token, /authorize and /register (RFC 7591: any
// metadata accepted, a fresh public client_id returned), and POST /_test/keys (a new signing key).
//
// Access tokens carry what the MCP authorization spec asks of a real server:
//   aud   = the token request's `resource` (RFC 8707), for the authorization code grant the
//           `resource` of the token request or else of the /authorize request; absent if none
//   scope = the requested scope (authorization code: the scope asked at /authorize)
//   sub   = client_credentials: the request's `sub` parameter, else the client id;
//           authorization code: the /authorize request's `login_hint`, else "johndoe"
// and client_id. The token response's `scope` matches the token's.
//
// Usage: node oauth_server.mjs [--no-rfc8414] [--no-register] [--port N] [--client ID:SECRET]
//                               [--ttl SECONDS]
//   --no-rfc8414: only the OpenID discovery document (a resource server must fall back to it)
//   --no-register: no /register route and no registration_endpoint
//   --port N: listen on N instead of a free port (an "authorization server down at start" test
//             starts it late on the port the proxy was told)
//   --client ID:SECRET: a confidential client (the proxy towards its upstream, issue 10). /token
//             answers a request authenticated with HTTP Basic (RFC 6749 §2.3.1, both parts
//             form-urlencoded) only when id and secret match (else 401 invalid_client); its
//             tokens carry a unique `jti`. POST /exchange is RFC 8693 token exchange for this
//             client (the library has no such grant; documented extension below).
//   --ttl SECONDS: lifetime (`exp`, `expires_in`) of the tokens issued to that client
//             [default: 3600]
// Prints one JSON line on stdout once listening: {"issuer": URL, "keys": [private JWKs]} (the
// tests sign their own hostile tokens with these keys). Stops on SIGTERM/SIGINT.
// Not here: the tests, the hostile tokens (oauth.py).

import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';

const here = dirname(new URL(import.meta.url).pathname);
const cacheDir = process.env.SHADOWCAT_CACHE_DIR ?? join(here, '..', '..', '.cache');
const entry = join(cacheDir, 'node', 'node_modules', 'oauth2-mock-server', 'dist', 'index.mjs');
const { OAuth2Server, Events } = await import(pathToFileURL(entry).href);

const args = process.argv.slice(2);
const valued = new Map();
for (const name of ['--port', '--client', '--ttl']) {
  const at = args.indexOf(name);
  if (at >= 0) valued.set(name, args.splice(at, 2)[1]);
}
const flags = new Set(args);
const unknown = [...flags].filter((flag) => !['--no-rfc8414', '--no-register'].includes(flag));
if (unknown.length > 0) {
  process.stderr.write(`oauth_server: unknown arguments ${unknown.join(' ')}\n`);
  process.exit(2);
}
const serveRfc8414 = !flags.has('--no-rfc8414');
const serveRegister = !flags.has('--no-register');
const port = Number(valued.get('--port') ?? 0);
const [confidentialId, confidentialSecret] = (valued.get('--client') ?? ':').split(/:(.*)/s);
const ttl = Number(valued.get('--ttl') ?? 3600);

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256', { kid: 'rs-1' });
await server.issuer.keys.generate('ES256', { kid: 'es-1' });

// What /authorize was asked, by the code it issued: the token request of the code grant only
// carries the code (and, from RFC 8707 clients, the resource).
const grants = new Map();
const single = (value) => (typeof value === 'string' ? value : undefined);

server.service.on(Events.BeforeAuthorizeRedirect, (redirect, req) => {
  const code = redirect.url.searchParams.get('code');
  if (code === null) return;
  grants.set(code, {
    scope: single(req.query.scope),
    resource: single(req.query.resource),
    sub: single(req.query.login_hint) ?? 'johndoe',
  });
});

// The HTTP Basic credentials of a request: [id, secret] (RFC 6749 §2.3.1), or undefined.
function basicOf(req) {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!basic) return undefined;
  const pair = Buffer.from(basic[1], 'base64').toString('utf8');
  const at = pair.indexOf(':');
  if (at < 0) return undefined;
  const decode = (text) => decodeURIComponent(text.replace(/\+/g, ' '));
  return [decode(pair.slice(0, at)), decode(pair.slice(at + 1))];
}

// Whether a request authenticates as the confidential client (--client).
function isConfidential(req) {
  const basic = basicOf(req);
  return confidentialId !== '' && basic !== undefined && basic[0] === confidentialId
    && basic[1] === confidentialSecret;
}

function clientIdOf(req) {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (basic) return decodeURIComponent(Buffer.from(basic[1], 'base64').toString('utf8').split(':')[0]);
  return single(req.body?.client_id);
}

// Fired for the access token first, then (authorization code grant) for the ID token.
server.service.on(Events.BeforeTokenSigning, (token, req) => {
  if (req.shadowcatAccessTokenSigned) return;
  req.shadowcatAccessTokenSigned = true;
  const body = req.body ?? {};
  const clientId = clientIdOf(req);
  let claims;
  if (body.grant_type === 'authorization_code') {
    const grant = grants.get(body.code) ?? {};
    grants.delete(body.code);
    claims = { sub: grant.sub ?? 'johndoe', scope: grant.scope ?? single(body.scope),
               aud: single(body.resource) ?? grant.resource };
  } else {
    claims = { sub: single(body.sub) ?? clientId ?? 'anonymous', scope: single(body.scope),
               aud: single(body.resource) ?? single(body.aud) };
  }
  Object.assign(token.payload, claims, { client_id: clientId });
  if (isConfidential(req)) {
    token.payload.exp = token.payload.iat + ttl;
    token.payload.jti = randomUUID();
  }
  for (const name of ['aud', 'scope', 'client_id']) {
    if (token.payload[name] === undefined) delete token.payload[name];
  }
  req.shadowcatScope = token.payload.scope;
});

server.service.on(Events.BeforeResponse, (response, req) => {
  if (basicOf(req) !== undefined && confidentialId !== '' && !isConfidential(req)) {
    response.statusCode = 401;
    response.body = { error: 'invalid_client' };
    return;
  }
  if (response.statusCode !== 200) return;
  if (isConfidential(req)) response.body.expires_in = ttl;
  if (req.shadowcatScope === undefined) delete response.body.scope;
  else response.body.scope = req.shadowcatScope;
});

server.service.on(Events.BeforeWellKnownOpenIdConfiguration, (response) => {
  if (serveRegister) response.body.registration_endpoint = `${server.issuer.url}/register`;
  response.body.scopes_supported = ['mcp:tools', 'mcp:admin'];
});

if (serveRfc8414) {
  server.service.addRoute('GET', '/.well-known/oauth-authorization-server', (req, res) => {
    server.service.openidConfigurationHandler(req, res);
  });
}

if (serveRegister) {
  server.service.addRoute('POST', '/register', (req, res) => {
    const metadata = typeof req.body === 'object' && req.body !== null ? req.body : {};
    const client = {
      ...metadata,
      client_id: `registered-${randomUUID()}`,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      token_endpoint_auth_method: 'none',
    };
    res.writeHead(201, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(client));
  });
}

// Test control: a new RS256 signing key (kid from the JSON body), published in /jwks from now on
// and used in turn for /token; answers its private JWK (key rotation tests).
server.service.addRoute('POST', '/_test/keys', async (req, res) => {
  const kid = typeof req.body?.kid === 'string' ? req.body.kid : `rs-${randomUUID()}`;
  const jwk = await server.issuer.keys.generate('RS256', { kid });
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(jwk));
});

// RFC 8693 token exchange for the confidential client, an extension of this launcher (the library
// has no such grant): POST /exchange with HTTP Basic client authentication, grant_type
// urn:ietf:params:oauth:grant-type:token-exchange, a subject_token of type
// urn:ietf:params:oauth:token-type:access_token that this server signed (checked against its own
// keys, `exp` included), optional requested_token_type (only access_token), audience, resource,
// scope. The issued access token (signed like /token's) carries sub = the subject's `sub`,
// act = {sub: client id} (RFC 8693 §4.1), aud = audience or resource, scope (the requested one,
// else the subject token's: RFC 8693 leaves the default to the server), client_id, a unique
// jti, and lives --ttl seconds. Errors as RFC 8693 §2.2.2 / RFC 6749 §5.2; a subject whose `sub`
// is "no-exchange" is refused with invalid_grant (the refusal test's caller).
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const jose = await import(pathToFileURL(join(cacheDir, 'node', 'node_modules', 'jose', 'dist', 'webapi', 'index.js')).href);
const exchangeError = (res, status, error, description) => {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ error, error_description: description }));
};
server.service.addRoute('POST', '/exchange', async (req, res) => {
  if (!isConfidential(req)) return exchangeError(res, 401, 'invalid_client');
  const body = typeof req.body === 'object' && req.body !== null ? req.body : {};
  if (body.grant_type !== EXCHANGE) return exchangeError(res, 400, 'unsupported_grant_type');
  if (body.subject_token_type !== ACCESS_TOKEN || typeof body.subject_token !== 'string'
      || (body.requested_token_type !== undefined && body.requested_token_type !== ACCESS_TOKEN)) {
    return exchangeError(res, 400, 'invalid_request');
  }
  let subject;
  try {
    const keys = jose.createLocalJWKSet({ keys: server.issuer.keys.toJSON(false) });
    subject = (await jose.jwtVerify(body.subject_token, keys, { issuer: server.issuer.url })).payload;
  } catch (error) {
    return exchangeError(res, 400, 'invalid_grant', String(error?.code ?? error));
  }
  if (subject.sub === 'no-exchange') return exchangeError(res, 400, 'invalid_grant');
  const claims = { sub: subject.sub, act: { sub: confidentialId }, aud: single(body.audience) ?? single(body.resource),
                   scope: single(body.scope) ?? subject.scope, client_id: confidentialId, jti: randomUUID() };
  for (const name of ['aud', 'scope']) if (claims[name] === undefined) delete claims[name];
  const token = await server.issuer.buildToken({ scopesOrTransform: (_h, payload) => Object.assign(payload, claims),
                                                 expiresIn: ttl });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ access_token: token, issued_token_type: ACCESS_TOKEN, token_type: 'Bearer',
                           expires_in: ttl }));
});

await server.start(port, '127.0.0.1');
// The library names a loopback issuer `http://localhost:PORT`; the tests want the address itself.
server.issuer.url = `http://127.0.0.1:${server.address().port}`;

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`${JSON.stringify({ issuer: server.issuer.url, keys: server.issuer.keys.toJSON(true) })}\n`);
