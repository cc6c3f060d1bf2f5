/* Consent state: read the stored choice, decide if it is current, persist it and send it to the consent log. */
var PENDING = 'crumb:' + CFG.s;
/* choice: the current, valid choice; stale: an outdated one, only to pre-fill the preferences; b: booted. */
var S = { choice: null, stale: null, gpc: !!(CFG.g && navigator.globalPrivacyControl) };
var listeners = {};
var SCRIPT = D.currentScript;
var LOG = Promise.resolve();
var API = (CFG.a || (SCRIPT && SCRIPT.src ? new URL(SCRIPT.src).origin : '')) + '/api/' + CFG.s + '/consent';

/* Listeners registered with crumb.on(name), then a `crumb:<name>` DOM event on document. */
function emit(name, detail) {
  (listeners[name] || []).forEach(function (fn) { try { fn(detail); } catch (e) {} });
  D.dispatchEvent(new CustomEvent('crumb:' + name, { detail: detail }));
}

/* The token is itsdangerous' "payload.time.signature"; the payload is base64url ASCII JSON we can read. */
function readToken(token) {
  try {
    var p = JSON.parse(atob(token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/')));
    p.id = p.i;
    return p.s == CFG.s && p;
  } catch (e) {}
}

/* The pending choice (not yet acknowledged) wins over the cookie. A choice made under another policy version
 * or older than the lifetime counts as no choice; GPC refuses the sale/sharing categories it pre-fills. */
function loadChoice() {
  var p = lsGet(PENDING) || {}, token = getCookie(CFG.n), ch = !p.d && (p.choice || token && readToken(token));
  if (p.d) call('DELETE', p, 404);
  if (ch && ch.v == CFG.v && now() - ch.t < CFG.l * 86400) {
    S.choice = ch;
    if (p.choice) send(p);
  } else if (ch) {
    S.stale = ch;
    CFG.c.forEach(function (k) { if (S.gpc && k.o) ch.c[k.id] = 0; });
  }
}

/** @param {Object<string, number>} cats @param {string} method @param {Object<string, boolean>=} services */
function decide(cats, method, services) {
  var c = {}, prev = S.choice;
  CFG.c.forEach(function (k) { c[k.id] = !!(k.r || cats[k.id]); });
  S.choice = { id: prev ? prev.id : '', c: c, x: services, v: CFG.v, t: now(), m: method, g: S.gpc ? 1 : 0 };
  S.stale = null;
  return prev;
}

/* Requests to the log go one at a time, in the order the visitor acted. A pending choice or withdrawal `p`
 * leaves localStorage once the server has answered for good: 2xx, or `final` (never acceptable, e.g. a choice
 * under a replaced policy). Otherwise it stays and is re-sent on the next page view. */
function call(method, p, final, body) {
  var res = LOG.then(function () {
    var token = getCookie(CFG.n) || p.w, h = { 'Content-Type': 'application/json' };
    if (token) h.Authorization = 'Bearer ' + token;
    return fetch(API, { method: method, credentials: 'include', keepalive: true, headers: h, body: body });
  }).then(function (r) {
    var q = lsGet(PENDING);
    if ((r.ok || r.status == final) && q && q.k == p.k) lsSet(PENDING);
    return r.ok && r.json();
  });
  return LOG = res.catch(function () {});
}

function send(p) {
  var ch = p.choice;
  call('POST', p, 422, JSON.stringify({ categories: ch.c, services: ch.x, policy_version: ch.v, language: p.lang,
    method: ch.m, gpc: !!ch.g })).then(function (res) {
    if (res && S.choice == ch) {
      setCookie(CFG.n, res.token, CFG.l * 86400);
      ch.id = res.consent_id;
    }
  });
}

/* Withdrawal: forgotten here at once, then logged like a choice (kept and re-sent until confirmed). */
function forget() {
  var p = { d: 1, w: getCookie(CFG.n), k: Math.random() };
  S.stale = S.choice;
  S.choice = null;
  setCookie(CFG.n, '', 0);
  lsSet(PENDING, p);
  call('DELETE', p, 404);
}
