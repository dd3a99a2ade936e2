// A real OpenID Provider for the tests: panva's oidc-provider (OpenID Certified), on loopback.
//
// One process is one provider; the tests start two: the families' broker of strong
// identification and an organisation's identity provider for its workers. Everything comes from
// the environment (tests/oidc_support.py sets it):
//
//   OP_PORT       port on 127.0.0.1
//   OP_CLIENTS    JSON list of oidc-provider client metadata
//   OP_ACCOUNTS   JSON object: login -> claims (sub is the login); any other login signs in
//                 with no claims but sub
//   OP_CLAIMS     JSON object: scope -> claim names (beyond openid's sub)
//   OP_API        optional: an API's resource indicator (audience); access tokens for it are
//                 JWTs signed by the provider's keys
//   OP_KEYS       JSON list of private JWKs (signing keys; the first signs)
//
// The sign-in is oidc-provider's own development interaction (any password); consent is not
// asked (the first-party client's grant is made on the fly), as a broker does.
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OP_ACCOUNTS || '{}');
const claimsByScope = JSON.parse(process.env.OP_CLAIMS || '{}');
const api = process.env.OP_API || '';
// Claims of the account copied into JWT access tokens (e.g. email), as an organisation's
// provider does so that an API can tell who the token is for.
const tokenClaims = JSON.parse(process.env.OP_TOKEN_CLAIMS || '[]');

const configuration = {
  clients: JSON.parse(process.env.OP_CLIENTS),
  jwks: { keys: JSON.parse(process.env.OP_KEYS) },
  cookies: { keys: ['a-cookie-key-for-the-test-provider-only'] },
  claims: { openid: ['sub'], ...claimsByScope },
  scopes: ['openid', ...Object.keys(claimsByScope), ...(api ? ['api'] : [])],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...(accounts[id] || {}) };
      },
    };
  },
  async extraTokenClaims(ctx, token) {
    const account = accounts[token.accountId] || {};
    return Object.fromEntries(tokenClaims.filter((name) => name in account).map((name) => [name, account[name]]));
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    if (api) grant.addResourceScope(api, 'api');
    await grant.save();
    return grant;
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: Boolean(api),
      defaultResource: () => api || undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== api) throw new Error('unknown resource');
        return { scope: 'api', audience: api, accessTokenFormat: 'jwt', accessTokenTTL: 600 };
      },
    },
  },
  pkce: { required: () => true },
  ttl: { AccessToken: 600, IdToken: 600, AuthorizationCode: 60, Session: 3600, Interaction: 600, Grant: 3600 },
};

const provider = new Provider(issuer, configuration);
for (const event of ['server_error', 'end_session.error', 'grant.error', 'authorization.error']) {
  provider.on(event, (ctx, error) => {
    process.stdout.write(`${event}: ${error.message} ${error.error_detail || ''}\n`);
  });
}
provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
