/* Blocking: marked scripts and embeds, and auto-blocked tracker URLs, stay inert until their category
 * (and service) is consented; then they are released. Required categories are always allowed. */
/* RULES: [host pattern, category, service?]; HELD: elements holding a URL, pixels never inserted too. */
var RULES = [], HELD = [], QUEUE = [], busy;

function allowed(cat, svc) {
  var ch = S.choice, x = ch && ch.x;
  return !cat || CFG.c.some(function (k) { return k.id == cat && k.r; }) ||
    !!(ch && ch.c[cat] && !(svc && x && x[svc] == 0));
}

function allowedEl(el) {
  return allowed(attr(el, 'data-category'), attr(el, 'data-service'));
}

/* The rule of a refused category or service matching `url`. A pattern is `host` or `*.host` (the host and
 * its subdomains), optionally followed by a path prefix. */
function refusedRule(url) {
  var u, i, r, p, j, h, any;
  try { u = new URL(url, location.href); } catch (e) { return; }
  for (i = 0; i < RULES.length; i++) {
    r = RULES[i]; p = r[0]; j = p.indexOf('/'); h = j < 0 ? p : p.slice(0, j); any = h[0] == '*';
    if (any) h = h.slice(2);
    if ((u.hostname == h || any && u.hostname.slice(-h.length - 1) == '.' + h) &&
        (j < 0 || !u.pathname.indexOf(p.slice(j))) && !allowed(r[1], r[2])) return r;
  }
}

function mark(el, r) {
  SA.call(el, 'data-category', r[1]);
  if (r[2]) SA.call(el, 'data-service', r[2]);
}

/* Hold a refused URL in data-src instead of loading it, like a marked embed (a script without src and text
 * does nothing when inserted; setting its src later runs it). */
function hold(el, url) {
  var r = refusedRule(url);
  if (r) {
    mark(el, r);
    SA.call(el, 'data-src', url);
    HELD.push(el);
  }
  return r;
}

/* Auto-blocking: the widget runs first, so it sees every script, iframe or image set up after it. */
function autoBlock() {
  CFG.c.forEach(function (c) {
    c.h.forEach(function (p) { RULES.push([p, c.id]); });
    c.sv.forEach(function (s) { s.h.forEach(function (p) { RULES.push([p, c.id, s.id]); }); });
  });
  [HTMLScriptElement, HTMLIFrameElement, HTMLImageElement].forEach(function (C) {
    var d = Object.getOwnPropertyDescriptor(C.prototype, 'src');
    Object.defineProperty(C.prototype, 'src', {
      get: d.get, configurable: true, set: function (v) { if (!hold(this, v)) d.set.call(this, v); }
    });
  });
  Element.prototype.setAttribute = function (n, v) {
    if (!(/^src$/i.test(n) && hold(this, v))) SA.call(this, n, v);
  };
  /* A tracker script in the HTML itself: made text/plain before it runs, then released like a marked one. */
  new MutationObserver(function (records) {
    records.forEach(function (m) {
      [].forEach.call(m.addedNodes, function (el) {
        var r = el.tagName == 'SCRIPT' && !el.hasAttribute('data-category') && el.src && refusedRule(el.src);
        if (r) {
          if (el.type) SA.call(el, 'data-type', el.type);
          SA.call(el, 'type', 'text/plain');
          mark(el, r);
        }
      });
    });
  }).observe(D.documentElement, { childList: true, subtree: true });
}

/* An element with data-category and data-src/data-href: loaded once allowed. */
function embed(el) {
  var src = attr(el, 'data-src'), href = attr(el, 'data-href');
  if ((src || href) && allowedEl(el)) {
    el.removeAttribute('data-src');
    el.removeAttribute('data-href');
    SA.call(el, src ? 'src' : 'href', src || href);
  }
}

/* Release everything now allowed. Marked scripts run in document order, each as a new live script with all
 * its attributes (the nonce too; data-type becomes type); a sync external one loads before the next runs. */
function release() {
  HELD.concat(qsa('[data-category][data-src],[data-category][data-href]')).forEach(embed);
  qsa('script[type="text/plain"][data-category]').forEach(function (el) {
    if (!el.crumbQ && allowedEl(el)) QUEUE.push(el.crumbQ = el);
  });
  if (!busy) next();
}

function next() {
  var old = busy = QUEUE.shift(), s = D.createElement('script'), wait;
  if (!old) return;
  [].forEach.call(old.attributes, function (a) { SA.call(s, a.name, a.value); });
  SA.call(s, 'type', attr(old, 'data-type') || 'text/javascript');
  s.nonce = old.nonce;
  s.text = old.text;
  wait = s.src && !old.hasAttribute('async');
  if (wait) s.onload = s.onerror = next;
  old.replaceWith(s);
  if (!wait) next();
}
