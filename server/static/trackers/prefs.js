/* Demo preferences script: remembers the visitor's currency in a preferences cookie. */
(function () {
  var m = document.cookie.match(/(?:^|; )lumiere_prefs=([^;]*)/);
  if (!m) document.cookie = 'lumiere_prefs=currency%3DEUR;max-age=31536000;path=/;samesite=lax';
  var el = document.getElementById('currency');
  if (el) el.textContent = 'Prices in EUR (remembered)';
  fetch('/demo/collect?k=preferences', { keepalive: true });
})();
