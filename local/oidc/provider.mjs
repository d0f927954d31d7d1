// The local stack's OpenID provider: node-oidc-provider (OpenID Certified), configured like iGOT's Keycloak
// realm as far as Karmayogi Engage can tell (docs/sign-in.md). local/stack.py starts it:
//
//   node local/oidc/provider.mjs     with its settings in the environment:
//     OIDC_ISSUER      http://127.0.0.1:<port>           (it listens on that host and port)
//     OIDC_JWKS        the private signing key set (RS256), made once in .local/ by local/dev_keys.py
//     OIDC_CLIENTS     [{client_id, client_secret, redirect_uris, post_logout_redirect_uris}] (the pages' client)
//     OIDC_DEV_CLIENT  {client_id, client_secret}: `make token`'s client (the dev-token grant below, nothing else)
//     OIDC_ACCOUNTS    [{sub, name, roles, org_id}]: the seeded demo learners and admins (local/dev_routes.py)
//     OIDC_API_AUDIENCE  the audience of access tokens for the API (KARMAYOGI_OIDC_API_AUDIENCE)
//     OIDC_COOKIE_KEY  signs the provider's own cookies
//
// Accounts carry Keycloak's claim shapes: realm_access.roles and org_id, in the ID token as the realm's mappers
// put them there. The sign-in page lists the demo people (no passwords: a local stack only); consent is implied
// for our first-party client. PKCE is required of every client. Access tokens for the API are JWTs (RS256,
// aud = the API audience).
//
// `make token SUB= ROLE= ORG=`: the dev client asks the token endpoint with the grant type
// urn:karmayogi:params:oauth:grant-type:dev-token and sub, roles, org_id; the answer is an access token for the
// API with those claims, as the platform's mobile app would hold one. Only the dev client may use that grant.
import http from 'node:http';
import { URLSearchParams } from 'node:url';

import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (local/stack.py sets it)`);
  return value;
};

const ISSUER = env('OIDC_ISSUER');
const API_AUDIENCE = process.env.OIDC_API_AUDIENCE || 'karmayogi-engage';
const DEV_GRANT = 'urn:karmayogi:params:oauth:grant-type:dev-token';
const API_RESOURCE = 'urn:karmayogi:engage-api'; // resource indicator (RFC 8707) of the API; its tokens' aud is API_AUDIENCE
const ACCOUNTS = new Map(JSON.parse(env('OIDC_ACCOUNTS')).map((a) => [a.sub, a]));
const DEV_CLIENT = JSON.parse(env('OIDC_DEV_CLIENT'));
const ROLES = new Set(['learner', 'mdo_admin', 'national_admin']);

function claimsOf(account) {
  return {
    sub: account.sub,
    name: account.name,
    realm_access: { roles: account.roles },
    ...(account.org_id ? { org_id: account.org_id } : {}),
  };
}

const apiServer = {
  scope: 'api',
  audience: API_AUDIENCE,
  accessTokenFormat: 'jwt',
  accessTokenTTL: 8 * 3600,
  jwt: { sign: { alg: 'RS256' } },
};

const configuration = {
  clients: [
    ...JSON.parse(env('OIDC_CLIENTS')).map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...c,
    })),
    {
      client_id: DEV_CLIENT.client_id,
      client_secret: DEV_CLIENT.client_secret,
      grant_types: [DEV_GRANT],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: JSON.parse(env('OIDC_JWKS')),
  cookies: { keys: [env('OIDC_COOKIE_KEY')] },
  pkce: { required: () => true },
  claims: { openid: ['sub', 'realm_access', 'org_id'], profile: ['name'] },
  conformIdTokenClaims: false, // the roles and org in the ID token, as Keycloak's mappers put them
  scopes: ['openid', 'profile', 'api'],
  async findAccount(_ctx, id) {
    const account = ACCOUNTS.get(id);
    if (!account) return undefined;
    return { accountId: id, claims: async () => claimsOf(account) };
  },
  // First-party client: consent is implied (as Keycloak's "Consent required: off").
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile');
    grant.addOIDCClaims(['sub', 'name', 'realm_access', 'org_id']);
    await grant.save();
    return grant;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // the pages' client asks for no resource (its access token is only for userinfo); a client that asks for
      // API_RESOURCE gets a JWT for the API
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== API_RESOURCE) throw new Provider.errors.InvalidTarget();
        return apiServer;
      },
    },
  },
  formats: {
    customizers: {
      // The dev-token grant's access token: the requested person, with Keycloak's claim shapes.
      async jwt(ctx, token, jwt) {
        const dev = ctx?.oidc?.entities?.DevToken;
        if (dev) {
          jwt.payload.sub = dev.sub;
          jwt.payload.realm_access = { roles: dev.roles };
          if (dev.org_id) jwt.payload.org_id = dev.org_id;
          jwt.payload.azp = token.clientId;
        } else if (token.accountId && ACCOUNTS.has(token.accountId)) {
          const { realm_access: realm, org_id: org } = claimsOf(ACCOUNTS.get(token.accountId));
          jwt.payload.realm_access = realm;
          if (org) jwt.payload.org_id = org;
        }
      },
    },
  },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600 },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', `<p>${esc(out.error)}: ${esc(out.error_description || '')}</p>`);
  },
};

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)}</title></head><body><main><h1>${esc(title)}</h1>${body}</main></body></html>`;
}

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;

// make token: a dev-only grant for the dev client, with the person's claims.
provider.registerGrantType(DEV_GRANT, async (ctx) => {
  const { client, params } = ctx.oidc;
  if (client.clientId !== DEV_CLIENT.client_id) {
    ctx.status = 400;
    ctx.body = { error: 'unauthorized_client', error_description: 'only the dev client may use this grant' };
    return;
  }
  const roles = String(params.roles || 'learner').split(',').map((r) => r.trim()).filter(Boolean);
  if (!params.sub || roles.some((r) => !ROLES.has(r))) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'sub is required; roles are learner, mdo_admin, national_admin' };
    return;
  }
  ctx.oidc.entity('DevToken', { sub: params.sub, roles, org_id: params.org_id || undefined });
  const token = new provider.ClientCredentials({ client, scope: 'api' });
  token.resourceServer = new provider.ResourceServer(API_RESOURCE, apiServer);
  const value = await token.save();
  ctx.body = { access_token: value, token_type: 'Bearer', expires_in: token.expiration, scope: 'api' };
}, ['sub', 'roles', 'org_id']);

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 8192) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

// The sign-in page: the demo people, one button each (the e2e tests click data-testid="login-<sub>").
async function interaction(req, res) {
  const [, , uid, action] = req.url.split('?')[0].split('/');
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      const sub = form.get('sub');
      if (!ACCOUNTS.has(sub)) {
        res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(page('Sign in', '<p>Pick one of the listed people.</p>'));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
      return;
    }
    if (req.method === 'POST' && action === 'abort') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'sign-in cancelled' },
        { mergeWithLastSubmission: false });
      return;
    }
    const people = [...ACCOUNTS.values()].map((a) => `<li><form method="post" action="/interaction/${esc(uid)}/login">
<input type="hidden" name="sub" value="${esc(a.sub)}"><button type="submit" data-testid="login-${esc(a.sub)}">Sign in as ${esc(a.name)}</button>
<small>${esc(a.roles.join(', '))}${a.org_id ? ` · ${esc(a.org_id)}` : ''}</small></form></li>`).join('\n');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(page('iGOT Karmayogi (local) – sign in', `<p>Local development provider: pick a demo person.</p><ul>${people}</ul>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit" data-testid="cancel">Cancel</button></form>`));
  } catch (error) {
    res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page('Sign-in error', `<p>${esc(error.message)}</p>`));
  }
}

const callback = provider.callback();
const { hostname, port } = new URL(ISSUER);
http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res);
  } else {
    callback(req, res);
  }
}).listen(Number(port), hostname, () => {
  console.log(`oidc-provider listening on ${ISSUER}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
