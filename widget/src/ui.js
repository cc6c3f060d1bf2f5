/* Banner and preferences UI in an open shadow root: site CSS cannot reach it and its CSS cannot leak out.
 * Both layers are <dialog>s: the preferences (and the banner with ui.modal) open modal, in the top layer.
 * UI.b banner, UI.p preferences; UI.r / UI.q: where focus was before the banner / the preferences opened. */
var UI = {};

/* <html lang>, then the browser's languages, then the site default; "de-AT" falls back to "de". */
function pickLang() {
  var want = (D.documentElement.lang + ',' + navigator.languages).toLowerCase().replace(/([a-z]+)-[^,]*/g, '$&,$1');
  return want.split(',').filter(function (l) { return HTML.hasOwnProperty(l); })[0] || CFG.dl;
}

S.lang = pickLang();

function mount() {
  if (UI.root) return;
  var host = D.createElement('div'), root = host.attachShadow({ mode: 'open' }), sheet = new CSSStyleSheet();
  host.id = 'crumb-host';
  sheet.replaceSync(CSS);
  root.adoptedStyleSheets = [sheet];
  root.innerHTML = HTML[S.lang];
  D.body.appendChild(host);
  root.addEventListener('click', onClick);
  root.addEventListener('change', onChange);
  UI.root = root;
  UI.b = el('.crumb-banner');
  UI.p = el('.crumb-prefs');
  /* Escape or the close button: focus goes back to the opener (the banner's own button is restored natively). */
  UI.p.addEventListener('close', function () { if (!UI.b.open) refocus([UI.q, UI.r]); });
}

function el(sel) {
  return UI.root.querySelector(sel);
}

function onClick(e) {
  var a = e.target.closest('[data-a]');
  var fn = a && { accept: crumb.acceptAll, reject: crumb.rejectAll, prefs: showPrefs, save: save, close: hidePrefs,
    withdraw: crumb.withdraw }[a.getAttribute('data-a')];
  if (fn) fn();
}

/* A category switch sets its services; a category is on while any of its services is on. */
function onChange(e) {
  var t = e.target, c = t.getAttribute('data-c'), p = t.getAttribute('data-p');
  if (c) qsa('[data-p="' + c + '"]', UI.root).forEach(function (s) { s.checked = t.checked; });
  if (p) {
    el('[data-c="' + p + '"]').checked = qsa('[data-p="' + p + '"]', UI.root).some(function (s) { return s.checked; });
  }
}

function active() {
  return UI.root.activeElement || D.activeElement;
}

/* Focus goes back to the first element of `list` still on screen, else to the page. */
function refocus(list) {
  var a = UI.root.activeElement;
  if (a) a.blur();
  list.some(function (x) { return x && x.checkVisibility() && !x.focus(); });
}

function showBanner() {
  mount();
  var a = active();
  UI.p.close();
  el('.crumb-fab').hidden = true;
  el('.crumb-gpc').hidden = !S.gpc;
  if (!UI.root.contains(a)) UI.r = a;
  if (CFG.ui.modal) UI.b.open || UI.b.showModal();
  else UI.b.open = true;
  /* Take focus only when the page has none (or it was ours): never pull a visitor out of a form. */
  if (!a || a == D.body || UI.root.contains(a) || CFG.ui.modal) UI.b.focus();
}

function hideAll() {
  if (!D.body || !UI.root && !CFG.ui.fab) return;
  mount();
  var back = UI.p.open ? [UI.q, UI.r] : [UI.r];
  UI.p.close();
  UI.b.close();
  el('.crumb-fab').hidden = !CFG.ui.fab;
  refocus(back);
}

function showPrefs() {
  mount();
  var ch = S.choice || S.stale, x = (ch && ch.x) || {}, rec = el('.crumb-rec');
  CFG.c.forEach(function (c) {
    var on = !!(c.r || (ch ? ch.c[c.id] : c.d && !(S.gpc && c.o)));
    el('[data-c="' + c.id + '"]').checked = on;
    c.sv.forEach(function (s) { el('[data-s="' + s.id + '"]').checked = on && x[s.id] !== 0 && x[s.id] !== false; });
  });
  ch = S.choice;
  rec.hidden = !(ch && ch.id);
  if (!rec.hidden) {
    el('code').textContent = ch.id;
    el('time').textContent = new Date(ch.t * 1000).toLocaleString(S.lang);
    el('[target]').href = API + '/receipt?format=html';
  }
  if (!UI.p.open) {
    UI.q = active();
    UI.p.showModal();
  }
  UI.p.focus();
}

function hidePrefs() {
  UI.p.close();
}

function save() {
  var ids = [], x = {};
  qsa('[data-c]', UI.root).forEach(function (i) { if (i.checked) ids.push(i.getAttribute('data-c')); });
  qsa('[data-s]', UI.root).forEach(function (i) { x[i.getAttribute('data-s')] = i.checked; });
  crumb.accept(ids, 'custom', x);
}

/* The top modal layer keeps Tab inside itself (a native modal would let focus slip out to the browser). */
D.addEventListener('keydown', function (e) {
  var box = e.key == 'Tab' && UI.root && (UI.p.open ? UI.p : el(':modal')), f, i;
  if (!box) return;
  f = qsa('a[href],button,input:not([disabled]),summary', box).filter(function (x) { return x.checkVisibility(); });
  i = f.indexOf(UI.root.activeElement) + (e.shiftKey ? -1 : 1);
  e.preventDefault();
  f[i < 0 ? f.length - 1 : i % f.length].focus();
});

/* Any site element with data-crumb-open reopens the preferences (delegated: works for late content). */
D.addEventListener('click', function (e) {
  if (e.target.closest && e.target.closest('[data-crumb-open]')) {
    e.preventDefault();
    showPrefs();
  }
});
