/* Integrations: Global Privacy Control and Google Consent Mode v2. */
function gpcOn() {
  return !!(CFG.g && navigator.globalPrivacyControl === true);
}

function gtagConsent(cmd, params) {
  if (!CFG.cm) return;
  var dl = (W.dataLayer = W.dataLayer || []);
  dl.push(['consent', cmd, params]);
}

function consentModeParams(choice) {
  var p = {};
  for (var cat in CFG.cm) CFG.cm[cat].forEach(function (sig) { p[sig] = choice && choice.c[cat] ? 'granted' : 'denied'; });
  return p;
}

function consentModeDefault() {
  var p = { ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied', analytics_storage: 'denied',
    functionality_storage: 'denied', personalization_storage: 'denied', security_storage: 'granted', wait_for_update: CFG.w };
  gtagConsent('default', p);
}
