// Replyke's published client (@replyke/core, pinned by package-lock.json) against a running
// Doorway, as a browser app uses it: its own Redux store and auth thunks, bundled with esbuild
// (the package's ESM build uses extensionless imports Node cannot load as is), its shared
// axios instance pointed at Doorway, and a cookie jar standing in for the browser's.
//   node run.mjs BASE_URL PROJECT_ID EMAIL
// Walks sign-up → request-new-access-token (twice: the refresh token rotates through the
// cookie) → sign-out → request-new-access-token (signed out) → sign-in. Prints one line per
// step; exits non-zero on the first failure. (@replyke/core 6.0.4 has no password-recovery or
// verification calls, and its changePassword thunk sends no access token, so those routes are
// tested from Rust.)
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';

const [base, projectId, email] = process.argv.slice(2);
if (!base || !projectId || !email) {
  console.error('usage: node run.mjs BASE_URL PROJECT_ID EMAIL');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const core = '@replyke/core/dist/esm';

// Bundle the client's own modules: the store it creates and the thunks its useAuth hook dispatches.
const work = mkdtempSync(join(tmpdir(), 'replyke-client-'));
const bundle = join(work, 'replyke-core.mjs');
await build({
  stdin: {
    contents: [
      `export { store } from '${core}/store/index.js';`,
      `export { default as api } from '${core}/config/axios.js';`,
      `export * from '${core}/store/slices/authThunks.js';`,
    ].join('\n'),
    resolveDir: here,
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  outfile: bundle,
  // CommonJS dependencies of axios require Node's built-ins at run time.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning',
});
const client = await import(pathToFileURL(bundle).href);
rmSync(work, { recursive: true, force: true });
const { store, api } = client;

// The shared axios instance every auth call goes through: point it at Doorway.
api.defaults.baseURL = base;

// The browser's cookie jar for Doorway's origin: kept from Set-Cookie, sent only on requests
// made with credentials (withCredentials), and only under the cookie's path.
const jar = new Map();
api.interceptors.request.use((config) => {
  const path = new URL(config.url, base).pathname;
  const cookies = [...jar].filter(([, c]) => path.startsWith(c.path)).map(([name, c]) => `${name}=${c.value}`);
  if (config.withCredentials && cookies.length) config.headers.set('Cookie', cookies.join('; '));
  return config;
});
const remember = (response) => {
  for (const line of response?.headers?.['set-cookie'] ?? []) {
    const [pair, ...attributes] = line.split(';').map((s) => s.trim());
    const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
    const path = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
    const maxAge = attributes.find((a) => a.toLowerCase().startsWith('max-age='))?.slice(8);
    if (value === '' || maxAge === '0') jar.delete(name);
    else jar.set(name, { value, path });
  }
};
api.interceptors.response.use(
  (response) => (remember(response), response),
  (error) => (remember(error.response), Promise.reject(error)),
);

const authUserKeys = [
  'id', 'email', 'username', 'name', 'avatar', 'bio', 'location', 'birthdate', 'metadata', 'suspensions',
  'reputation', 'createdAt', 'updatedAt', 'projectId', 'foreignId', 'role', 'isVerified', 'isActive', 'lastActive',
];
const password = 'correct horse battery';

async function step(name, thunk) {
  const action = await store.dispatch(thunk);
  if (action.meta.requestStatus !== 'fulfilled') {
    throw new Error(`${name}: the client's thunk was rejected: ${JSON.stringify(action.payload ?? action.error)}`);
  }
  console.log(`ok ${name}`);
  return action.payload;
}

function checkUser(user) {
  assert.deepEqual(Object.keys(user), authUserKeys, 'the user is an AuthUser');
  assert.equal(user.email, email);
  assert.equal(user.projectId, projectId);
  assert.equal(user.role, 'visitor');
  assert.equal(user.isActive, true);
  assert.equal(typeof user.isVerified, 'boolean');
  assert.deepEqual(user.suspensions, []);
  assert.deepEqual(user.metadata, { plan: 'free' });
  assert.ok(!JSON.stringify(user).includes('secure'), 'no secure metadata');
}

const signedUp = await step(
  'sign-up',
  client.signUpWithEmailAndPasswordThunk({
    projectId,
    email,
    password,
    name: ' Ada Lovelace ',
    username: 'Ada',
    metadata: { plan: 'free' },
    secureMetadata: { internal: 'secure-value' },
  }),
);
let auth = store.getState().auth;
checkUser(auth.user);
assert.equal(auth.user.name, 'Ada Lovelace');
assert.equal(auth.user.username, 'ada');
assert.equal(auth.accessToken, signedUp.accessToken);
assert.equal(store.getState().user.user.id, auth.user.id, 'the user slice has the user too');
const firstRefresh = jar.get('replyke-refresh-jwt')?.value;
assert.equal(firstRefresh, signedUp.refreshToken, 'the refresh cookie holds the refresh token');

for (const round of [1, 2]) {
  const before = jar.get('replyke-refresh-jwt')?.value;
  const accessToken = await step(`request-new-access-token ${round}`, client.requestNewAccessTokenThunk({ projectId }));
  auth = store.getState().auth;
  assert.equal(auth.accessToken, accessToken);
  checkUser(auth.user);
  const after = jar.get('replyke-refresh-jwt')?.value;
  assert.ok(after && after !== before, 'the refresh cookie rotated');
}

await step('sign-out', client.signOutThunk({ projectId }));
auth = store.getState().auth;
assert.equal(auth.user, null);
assert.equal(auth.accessToken, null);
assert.equal(jar.has('replyke-refresh-jwt'), false, 'sign-out cleared the cookie');

// Signed out, the client's start-up refresh finds no session: Replyke's signed-out answer.
await step('request-new-access-token (signed out)', client.requestNewAccessTokenThunk({ projectId }));
assert.equal(store.getState().auth.user, null);

const signedIn = await step('sign-in', client.signInWithEmailAndPasswordThunk({ projectId, email, password }));
auth = store.getState().auth;
checkUser(auth.user);
assert.equal(auth.user.id, signedUp.user.id);
assert.equal(auth.refreshToken, signedIn.refreshToken);
assert.equal(jar.get('replyke-refresh-jwt')?.value, signedIn.refreshToken);
await step('request-new-access-token after sign-in', client.requestNewAccessTokenThunk({ projectId }));

// A wrong password is refused by the server, and the client says so.
const refused = await store.dispatch(
  client.signInWithEmailAndPasswordThunk({ projectId, email, password: 'not the password' }),
);
assert.equal(refused.meta.requestStatus, 'rejected');
console.log('ok sign-in with a wrong password is rejected');
console.log('replyke client: all steps passed');
