/* Google Consent Mode v2: commands are queued in dataLayer the way gtag.js does it (an `arguments` object). */
function gtag() {
  (W.dataLayer = W.dataLayer || []).push(arguments);
}

/* Before any tag: all seven signals denied except security_storage, waiting for the update. */
function consentDefault() {
  gtag('consent', 'default', { ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied',
    analytics_storage: 'denied', functionality_storage: 'denied', personalization_storage: 'denied',
    security_storage: 'granted', wait_for_update: CFG.w });
}

/* By the configured map: a signal is granted when a category mapped to it is consented. */
function consentUpdate() {
  var p = {}, cat;
  for (cat in CFG.cm) {
    CFG.cm[cat].forEach(function (sig) { p[sig] = p[sig] == 'granted' || S.choice && S.choice.c[cat] ? 'granted' : 'denied'; });
  }
  gtag('consent', 'update', p);
}
