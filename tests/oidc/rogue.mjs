// A misbehaving OpenID Provider for the tests: it answers like a provider over real HTTP, but
// the test says beforehand what the next answers get wrong (POST /_next with a JSON body), so
// that what a conforming provider never sends can be sent: an ID token for another audience,
// another client's azp, another issuer, an expired one, one signed by a key not in the JWKS, a
// userinfo answer about someone else, malformed and error answers of the token endpoint.
//
//   OP_PORT   port on 127.0.0.1
//   OP_KEYS   JSON list of three private RSA JWKs: [published, rotated-to, never published]
//
// /_next body (every key optional):
//   claims        claims of the person (in the ID token and userinfo alike)
//   id_token      claims to override in the ID token (null removes one)
//   userinfo      claims to override in the userinfo answer
//   sign_with     0, 1 or 2: which key signs the ID token (default: the current one)
//   token_status, token_body        the token endpoint's answer instead of the tokens
//   userinfo_status, userinfo_body  the userinfo endpoint's answer instead of the claims
// POST /_rotate {"key": n}: the JWKS now publishes key n only (default 1), and key n signs.
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';

const port = Number(process.env.OP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const privateKeys = JSON.parse(process.env.OP_KEYS);
const keys = await Promise.all(privateKeys.map((jwk) => importJWK(jwk, 'RS256')));
const publicJwk = ({ kty, n, e, kid }) => ({ kty, n, e, kid, use: 'sig', alg: 'RS256' });
let current = 0;
let next = {};
const codes = new Map();
const accessTokens = new Map();

const b64url = (buffer) => buffer.toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

function apply(claims, overrides) {
  const result = { ...claims };
  for (const [name, value] of Object.entries(overrides || {})) {
    if (value === null) delete result[name];
    else result[name] = value;
  }
  return result;
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/userinfo`,
        jwks_uri: `${issuer}/jwks`,
        end_session_endpoint: `${issuer}/session/end`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_post'],
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (url.pathname === '/jwks') {
      return send(res, 200, { keys: [publicJwk(privateKeys[current])] });
    }
    if (url.pathname === '/_next' && req.method === 'POST') {
      next = JSON.parse(await body(req));
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/_sign' && req.method === 'POST') {
      // A JWT of the test's choosing, signed by one of the keys (an access token to refuse).
      const { claims, key = current } = JSON.parse(await body(req));
      const token = await new SignJWT({ iss: issuer, iat: now(), exp: now() + 300, ...claims })
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: privateKeys[key].kid })
        .sign(keys[key]);
      return send(res, 200, { token });
    }
    if (url.pathname === '/_rotate' && req.method === 'POST') {
      current = JSON.parse(await body(req) || '{}').key ?? 1;
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/authorize') {
      const params = Object.fromEntries(url.searchParams);
      const code = b64url(randomBytes(24));
      codes.set(code, { params, scenario: next });
      const target = new URL(params.redirect_uri);
      target.searchParams.set('code', code);
      target.searchParams.set('state', params.state);
      res.writeHead(302, { Location: target.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const form = Object.fromEntries(new URLSearchParams(await body(req)));
      const grant = codes.get(form.code);
      codes.delete(form.code);
      if (!grant) return send(res, 400, { error: 'invalid_grant' });
      const { params, scenario } = grant;
      if (scenario.token_status) {
        return send(res, scenario.token_status, scenario.token_body ?? '', 'application/json');
      }
      const challenge = b64url(createHash('sha256').update(form.code_verifier || '').digest());
      if (form.client_id !== params.client_id || challenge !== params.code_challenge
          || form.redirect_uri !== params.redirect_uri) {
        return send(res, 400, { error: 'invalid_grant', error_description: 'grant request is invalid' });
      }
      const accessToken = b64url(randomBytes(32));
      accessTokens.set(accessToken, scenario);
      const atHash = b64url(createHash('sha256').update(accessToken).digest().subarray(0, 16));
      const claims = apply({
        iss: issuer,
        sub: 'rogue-subject',
        aud: params.client_id,
        exp: now() + 300,
        iat: now(),
        auth_time: now(),
        nonce: params.nonce,
        at_hash: atHash,
        ...(scenario.claims || {}),
      }, scenario.id_token);
      const signer = scenario.sign_with ?? current;
      const idToken = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: privateKeys[signer].kid })
        .sign(keys[signer]);
      return send(res, 200, {
        access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: idToken,
      });
    }
    if (url.pathname === '/userinfo') {
      const token = (req.headers.authorization || '').replace(/^Bearer /, '');
      const scenario = accessTokens.get(token);
      if (!scenario) return send(res, 401, { error: 'invalid_token' });
      if (scenario.userinfo_status) {
        return send(res, scenario.userinfo_status, scenario.userinfo_body ?? '');
      }
      return send(res, 200, apply({ sub: 'rogue-subject', ...(scenario.claims || {}) }, scenario.userinfo));
    }
    return send(res, 404, { error: 'not_found' });
  } catch (error) {
    return send(res, 500, { error: 'server_error', error_description: String(error) });
  }
});

server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${issuer}\n`));
