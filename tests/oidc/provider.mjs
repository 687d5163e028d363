// A real OpenID provider for the tests (oidc-provider from npm, a certified
// implementation), on loopback. tests/api/sso_login.rs starts one per test with
//   node provider.mjs <callback URL>
// and reads "listening <port>" from stdout. Logins need no form: the interaction endpoint
// logs in the account named by `login_hint` and grants what the client asked for, so a
// test drives the whole authorization code flow with an HTTP client.
//
// Test hooks (loopback only, as the whole provider):
//   POST /test/roles   {"<email>": ["role", ...]}   the `roles` claim of an account
//   POST /test/rotate                                 a new signing key replaces the old one
//   POST /test/tamper  {"aud"?, "nonce"?, "exp"?}     the next token response's ID token is
//                                                     signed again with these claims changed
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const callback = process.argv[2];
const roles = {};
let tamper = null;

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
}

let key = await newKey();
let issuer = '';
let provider = null;

function build() {
  const p = new Provider(issuer, {
    clients: [{
      client_id: 'crm',
      client_secret: 'crm-client-secret',
      redirect_uris: [callback],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    jwks: { keys: [key] },
    cookies: { keys: ['test-only-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['given_name', 'family_name', 'roles'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id, email: id, email_verified: true, given_name: 'Sso', family_name: 'User',
            roles: roles[id] ?? [],
          };
        },
      };
    },
  });
  p.proxy = false;
  return p;
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : {};
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    return provider.interactionFinished(req, res, { login: { accountId: params.login_hint } },
      { mergeWithLastSubmission: false });
  }
  const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const missing = prompt.details.missingOIDCClaims;
  if (missing) grant.addOIDCClaims(missing);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

// Signs the token response's ID token again with `tamper`'s claims.
function tampering(res, changes) {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    (async () => {
      const parsed = JSON.parse(chunk.toString());
      const claims = jose.decodeJwt(parsed.id_token);
      Object.assign(claims, changes);
      const signer = await jose.importJWK(key, 'RS256');
      parsed.id_token = await new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
        .sign(signer);
      const text = JSON.stringify(parsed);
      res.setHeader('content-length', Buffer.byteLength(text));
      end(text, ...rest);
    })().catch((e) => { console.error(e); end(chunk, ...rest); });
    return res;
  };
}

const server = http.createServer(async (req, res) => {
  try {
    const path = new URL(req.url, 'http://x').pathname;
    if (path.startsWith('/interaction/')) return await interaction(req, res);
    if (req.method === 'POST' && path === '/test/roles') {
      Object.assign(roles, await body(req));
      return res.end('ok');
    }
    if (req.method === 'POST' && path === '/test/rotate') {
      key = await newKey();
      provider = build();
      return res.end(key.kid);
    }
    if (req.method === 'POST' && path === '/test/tamper') {
      tamper = await body(req);
      return res.end('ok');
    }
    if (path === '/token' && tamper) {
      tampering(res, tamper);
      tamper = null;
    }
    return provider.callback()(req, res);
  } catch (e) {
    console.error(e);
    res.statusCode = 500;
    res.end(String(e));
  }
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build();
  process.stdout.write(`listening ${server.address().port}\n`);
  // The harness reads that one line only: everything else goes to stderr.
  process.stdout.on('error', () => {});
  console.log = console.info = (...args) => console.error(...args);
});
