/* Consent state: read the stored choice, decide if it is current, persist it and send it to the API. */
var PENDING = 'crumb:' + CFG.s;
var S = { choice: null, stale: null, gpc: false };
var listeners = {};
var SCRIPT = D.currentScript;
var API = (CFG.a || (SCRIPT && SCRIPT.src ? new URL(SCRIPT.src).origin : '')) + '/api/' + CFG.s + '/consent';

function emit(name, detail) {
  (listeners[name] || []).forEach(function (fn) { try { fn(detail); } catch (e) {} });
  if (name == 'consent') D.dispatchEvent(new CustomEvent('crumb:consent', { detail: detail }));
}

/* The token is itsdangerous' "payload.time.signature"; the payload is base64url JSON we can read. */
function readToken(token) {
  try {
    var b = token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    var p = JSON.parse(decodeURIComponent(escape(atob(b))));
    return p.s == CFG.s ? { id: p.i, c: p.c, x: p.x, v: p.v, t: p.t, m: p.m, g: p.g } : null;
  } catch (e) {
    return null;
  }
}

function current(choice) {
  return choice && choice.v == CFG.v && now() - choice.t < CFG.l * 86400;
}

function loadChoice() {
  var pending = lsGet(PENDING);
  var token = getCookie(CFG.n);
  var choice = (pending && pending.choice) || (token && readToken(token));
  if (current(choice)) S.choice = choice;
  else S.stale = choice || null;
  if (pending) send(pending);
}

/** @param {Object<string, boolean>} cats @param {string} method @param {Object<string, boolean>=} services */
function decide(cats, method, services) {
  var c = {};
  CFG.c.forEach(function (cat) { c[cat.id] = cat.r || cats[cat.id] ? 1 : 0; });
  var prev = S.choice;
  var choice = { id: prev ? prev.id : '', c: c, x: services, v: CFG.v, t: now(), m: method, g: S.gpc ? 1 : 0 };
  S.choice = choice;
  S.stale = null;
  var pending = { choice: choice, lang: S.lang || CFG.dl };
  lsSet(PENDING, pending);
  emit(prev ? 'change' : 'consent', choice);
  if (prev) emit('consent', choice);
  send(pending);
  return choice;
}

function body(pending) {
  var ch = pending.choice, cats = {};
  for (var k in ch.c) cats[k] = !!ch.c[k];
  return JSON.stringify({ categories: cats, services: ch.x, policy_version: ch.v, language: pending.lang, method: ch.m, gpc: !!ch.g });
}

function authHeaders() {
  var token = getCookie(CFG.n), h = { 'Content-Type': 'application/json' };
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

/* Send a choice until the server acknowledges it: kept in localStorage and re-sent on later views. */
function send(pending) {
  return fetch(API, { method: 'POST', credentials: 'include', keepalive: true, headers: authHeaders(), body: body(pending) })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (res) {
      setCookie(CFG.n, res.token, CFG.l * 86400);
      if (S.choice && S.choice.t == pending.choice.t) { S.choice.id = res.consent_id; }
      var still = lsGet(PENDING);
      if (still && still.choice.t == pending.choice.t) lsSet(PENDING, null);
      return res;
    })
    .catch(function () {});
}

function withdrawChoice() {
  var h = authHeaders();
  S.stale = S.choice;
  S.choice = null;
  lsSet(PENDING, null);
  fetch(API, { method: 'DELETE', credentials: 'include', keepalive: true, headers: h }).catch(function () {});
  setCookie(CFG.n, '', 0);
  emit('withdraw', null);
}
