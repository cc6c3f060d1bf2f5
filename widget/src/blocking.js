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

/* The rule of a refused category or service matching `url`. A pattern is a host, matching it and its
 * subdomains (the builder drops a leading `*.`), optionally followed by a path prefix. */
function refusedRule(url) {
  var u, i, r, p, j, h;
  try { u = new URL(url, location.href); } catch (e) { return; }
  for (i = 0; i < RULES.length; i++) {
    r = RULES[i]; p = r[0]; j = p.indexOf('/'); h = j < 0 ? p : p.slice(0, j);
    if ((u.hostname == h || u.hostname.slice(-h.length - 1) == '.' + h) &&
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

/* An element just inserted. With a refused URL from the parser, a script becomes text/plain (released in
 * order later), anything else loses its src. Elements the site marked itself are left as they are. Returns
 * whether a marked element arrived after boot (to release it or give it its placeholder at once). */
function check(el) {
  var src = attr(el, 'src'), cat = el.hasAttribute('data-category'), r = !cat && src && refusedRule(src);
  if (r) {
    if (el.tagName == 'SCRIPT') {
      if (el.type) SA.call(el, 'data-type', el.type);
      SA.call(el, 'type', 'text/plain');
      mark(el, r);
    } else {
      el.removeAttribute('src');
      hold(el, src);
    }
  }
  return S.b && !!(r || cat);
}

/* Auto-blocking: the widget runs first, so it sees every element the parser or code inserts after it. */
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
  new MutationObserver(function (records) {
    var found = 0;
    records.forEach(function (m) {
      [].forEach.call(m.addedNodes, function (n) {
        if (n.querySelectorAll) [n].concat(qsa('[src],[data-category]', n)).forEach(function (el) { found |= check(el); });
      });
    });
    if (found) release();
  }).observe(D.documentElement, { childList: true, subtree: true });
}

/* An element with data-category and data-src/data-href: load it once allowed, until then an iframe shows a
 * placeholder the size of the embed naming provider and category, with a button granting exactly that. */
function embed(el) {
  var src = attr(el, 'data-src'), href = attr(el, 'data-href'), cat = attr(el, 'data-category'), ph = el.crumbPh;
  var t = CFG.t[S.lang], m = D.createElement('div'), b, v, ch;
  if (!src && !href) return;
  if (allowedEl(el)) {
    el.removeAttribute('data-src');
    el.removeAttribute('data-href');
    if (ph) ph.replaceWith(el);
    SA.call(el, src ? 'src' : 'href', src || href);
  } else if (el.tagName == 'IFRAME' && !ph) {
    ph = el.crumbPh = D.createElement('div');
    b = D.createElement('button');
    /* Category titles and service names are in the banner markup already: read them from there. */
    m.innerHTML = HTML[S.lang];
    v = { category: m.querySelector('[for=crumb-c-' + cat + ']').textContent, service: new URL(src, location.href).hostname };
    if ((ch = m.querySelector('[data-s="' + attr(el, 'data-service') + '"]'))) v.service = ch.parentNode.textContent;
    ph.className = 'crumb-ph';
    ph.style.cssText = 'display:grid;place-content:center;text-align:center;background:#eee;width:' + el.offsetWidth +
      'px;height:' + el.offsetHeight + 'px';
    ph.textContent = fill(t.p, v);
    b.type = 'button';
    b.textContent = fill(t.b, v);
    b.onclick = function () {
      ch = S.choice;
      crumb.accept(CFG.c.filter(function (c) { return c.id == cat || ch && ch.c[c.id]; }).map(function (c) { return c.id; }),
        'custom', ch && ch.x);
    };
    ph.appendChild(b);
    el.replaceWith(ph);
    HELD.push(el);
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
