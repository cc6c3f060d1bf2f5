/* Boot: apply a stored choice at once or show the banner; expose window.crumb. */
function apply(choice) {
  hideAll();
  if (CFG.cm) gtagConsent('update', consentModeParams(choice));
  release();
}

function choose(cats, method) {
  apply(decide(cats, method));
}

var crumb = (W.crumb = {
  consent: function () { return S.choice; },
  acceptAll: function () { choose(CFG.c.reduce(function (o, c) { o[c.id] = true; return o; }, {}), 'accept_all'); },
  rejectAll: function () { choose({}, 'reject_all'); },
  accept: function (ids, method) {
    var cats = {};
    [].concat(ids).forEach(function (id) { cats[id] = true; });
    choose(cats, method || 'custom');
  },
  withdraw: function () { withdrawChoice(); showBanner(); },
  show: function () { showPrefs(); },
  on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); }
});

S.gpc = gpcOn();
consentModeDefault();
loadChoice();

function boot() {
  if (S.choice) apply(S.choice);
  else showBanner();
}

if (D.body) boot(); else D.addEventListener('DOMContentLoaded', boot);
