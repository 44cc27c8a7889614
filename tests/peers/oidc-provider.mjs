// An OpenID Connect provider on loopback for the test suite (oauth2-mock-server), made strict
// where the suite needs it: codes are single use and must have been issued, and each code
// carries the identity asked for with `login_hint` (sub|email|email_verified|name).
//   node oidc-provider.mjs PORT
import { OAuth2Server } from 'oauth2-mock-server';

const port = Number(process.argv[2]);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.issuer.url = `http://localhost:${port}`;

const identityOfCode = new Map();
const identityOfAccessToken = new Map();

function identityFromHint(hint) {
  const [sub, email, verified, name] = (hint ?? 'johndoe|johndoe@example.com|true|John Doe').split('|');
  return { sub, email, email_verified: verified === 'true', name };
}

server.service.on('beforeAuthorizeRedirect', (redirect, req) => {
  const code = redirect.url.searchParams.get('code');
  if (code) identityOfCode.set(code, identityFromHint(req.query.login_hint));
});

server.service.on('beforeTokenSigning', (token, req) => {
  const identity = identityOfCode.get(req.body?.code);
  if (identity) Object.assign(token.payload, identity);
});

server.service.on('beforeResponse', (response, req) => {
  const code = req.body?.code;
  if (req.body?.grant_type !== 'authorization_code') return;
  const identity = identityOfCode.get(code);
  if (!identity) {
    response.statusCode = 400;
    response.body = { error: 'invalid_grant', error_description: 'unknown or used code' };
    return;
  }
  identityOfCode.delete(code);
  identityOfAccessToken.set(response.body.access_token, identity);
});

server.service.on('beforeUserinfo', (response, req) => {
  const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  const identity = identityOfAccessToken.get(token);
  if (identity) response.body = identity;
  else {
    response.statusCode = 401;
    response.body = { error: 'invalid_token' };
  }
});

await server.start(port, '127.0.0.1');
console.log(`oidc provider on ${server.issuer.url}`);
