/* Boot: Consent Mode default and auto-blocking before any other script runs; at DOMContentLoaded apply the
 * stored choice or show the banner. window.crumb is the page's API. */

/* Apply the current choice in the page: banner away, refused categories' cookies deleted, the rest released. */
function settle(prev) {
  var refused = [];
  CFG.c.forEach(function (c) {
    if (!allowed(c.id)) refused = refused.concat(c.k);
    c.sv.forEach(function (s) { if (!allowed(c.id, s.id)) refused = refused.concat(s.k); });
  });
  dropCookies(refused);
  if (S.choice) {
    hideAll();
    release();
    if (prev) emit('change', S.choice);
    emit('consent', S.choice);
  }
}

/* A choice applies at once; then it is sent, and kept in localStorage until the server acknowledges it. */
function choose(cats, method, services) {
  var prev = decide(cats, method, services), p = { choice: S.choice, lang: S.lang, k: Math.random() };
  lsSet(PENDING, p);
  if (CFG.cm) consentUpdate();
  settle(prev);
  send(p);
}

var crumb = (W.crumb = {
  consent: function () { return S.choice; },
  acceptAll: function () { crumb.accept(CFG.c.map(function (c) { return c.id; }), 'accept_all'); },
  rejectAll: function () { crumb.accept([], 'reject_all'); },
  /** @param {string|Array<string>} ids @param {string=} method @param {Object<string, boolean>=} services */
  accept: function (ids, method, services) {
    var cats = {};
    [].concat(ids).forEach(function (id) { cats[id] = 1; });
    choose(cats, method || 'custom', services);
  },
  withdraw: function () {
    forget();
    if (CFG.cm) consentUpdate();
    settle();
    emit('withdraw', null);
    showBanner();
  },
  show: showPrefs,
  on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); }
});

if (CFG.cm) consentDefault();
autoBlock();
loadChoice();
if (CFG.cm && S.choice) consentUpdate();

function boot() {
  S.b = 1;
  if (S.choice) settle();
  else {
    release();
    showBanner();
  }
}

if (D.readyState == 'loading') D.addEventListener('DOMContentLoaded', boot); else boot();
