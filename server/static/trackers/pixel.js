/* Fake marketing pixel for the demo shop: sets an _fbp-style cookie and sends its own hit. */
(function () {
  if (!/(?:^|; )_fbp=/.test(document.cookie)) {
    document.cookie = '_fbp=fb.1.' + Date.now() + '.' + Math.floor(Math.random() * 1e9) + ';max-age=7776000;path=/;samesite=lax';
  }
  fetch('/demo/collect?k=marketing&p=' + encodeURIComponent(location.pathname), { keepalive: true });
})();
