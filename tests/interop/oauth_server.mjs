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
// Usage: node oauth_server.mjs [--no-rfc8414] [--no-register]
//   --no-rfc8414: only the OpenID discovery document (a resource server must fall back to it)
//   --no-register: no /register route and no registration_endpoint
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

const flags = new Set(process.argv.slice(2));
const unknown = [...flags].filter((flag) => !['--no-rfc8414', '--no-register'].includes(flag));
if (unknown.length > 0) {
  process.stderr.write(`oauth_server: unknown arguments ${unknown.join(' ')}\n`);
  process.exit(2);
}
const serveRfc8414 = !flags.has('--no-rfc8414');
const serveRegister = !flags.has('--no-register');

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
  for (const name of ['aud', 'scope', 'client_id']) {
    if (token.payload[name] === undefined) delete token.payload[name];
  }
  req.shadowcatScope = token.payload.scope;
});

server.service.on(Events.BeforeResponse, (response, req) => {
  if (response.statusCode !== 200) return;
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

await server.start(0, '127.0.0.1');
// The library names a loopback issuer `http://localhost:PORT`; the tests want the address itself.
server.issuer.url = `http://127.0.0.1:${server.address().port}`;

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`${JSON.stringify({ issuer: server.issuer.url, keys: server.issuer.keys.toJSON(true) })}\n`);
