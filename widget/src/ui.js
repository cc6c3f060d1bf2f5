/* Banner and preferences UI, rendered in a shadow root so site CSS cannot reach it. */
var UI = {};

function pickLang() {
  var want = [D.documentElement.lang].concat(navigator.languages || []);
  for (var i = 0; i < want.length; i++) {
    var l = (want[i] || '').toLowerCase();
    if (HTML[l]) return l;
    if (HTML[l.split('-')[0]]) return l.split('-')[0];
  }
  return CFG.dl;
}

function mount() {
  if (UI.root) return UI.root;
  var host = D.createElement('div');
  host.id = 'crumb-host';
  var root = host.attachShadow({ mode: 'open' });
  var sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  root.adoptedStyleSheets = [sheet];
  S.lang = pickLang();
  root.innerHTML = HTML[S.lang];
  D.body.appendChild(host);
  root.addEventListener('click', function (e) {
    var a = e.target.closest('[data-a]');
    if (!a) return;
    var act = a.getAttribute('data-a');
    if (act == 'accept') crumb.acceptAll();
    else if (act == 'reject') crumb.rejectAll();
    else if (act == 'prefs') showPrefs();
    else if (act == 'save') save();
    else if (act == 'close') hidePrefs();
  });
  UI.root = root;
  return root;
}

function el(sel) {
  return UI.root.querySelector(sel);
}

function showBanner() {
  mount();
  el('.crumb-banner').hidden = false;
}

function hideAll() {
  if (!UI.root) return;
  el('.crumb-banner').hidden = true;
  el('.crumb-prefs').hidden = true;
  el('.crumb-fab').hidden = !CFG.ui.fab;
}

function showPrefs() {
  mount();
  var ch = S.choice || S.stale;
  qsa('input[data-c]', UI.root).forEach(function (i) {
    var cat = i.getAttribute('data-c');
    i.checked = i.disabled || !!(ch ? ch.c[cat] : CFG.c.filter(function (c) { return c.id == cat; })[0].d);
  });
  el('.crumb-prefs').hidden = false;
}

function hidePrefs() {
  el('.crumb-prefs').hidden = true;
}

function save() {
  var cats = {};
  qsa('input[data-c]', UI.root).forEach(function (i) { cats[i.getAttribute('data-c')] = i.checked; });
  crumb.accept(Object.keys(cats).filter(function (k) { return cats[k]; }), 'custom');
}
