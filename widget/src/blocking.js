/* Blocking: keep marked scripts and embeds inert until their category is consented, then release them. */
function allowed(cat, svc) {
  var ch = S.choice;
  if (!cat) return true;
  if (!ch || !ch.c[cat]) return false;
  return !(svc && ch.x && ch.x[svc] === false);
}

/* Release marked scripts in document order; a sync external script finishes before the next one runs. */
function release() {
  var queue = qsa('script[type="text/plain"][data-category]').filter(function (el) {
    return allowed(el.getAttribute('data-category'), el.getAttribute('data-service'));
  });
  qsa('[data-category][data-src],[data-category][data-href]').forEach(function (el) {
    if (!allowed(el.getAttribute('data-category'), el.getAttribute('data-service'))) return;
    var src = el.getAttribute('data-src'), href = el.getAttribute('data-href');
    el.removeAttribute('data-src');
    el.removeAttribute('data-href');
    if (src) el.src = src;
    if (href) el.href = href;
  });
  (function next() {
    var old = queue.shift();
    if (!old) return;
    var s = D.createElement('script');
    [].forEach.call(old.attributes, function (a) {
      if (a.name != 'type' && a.name != 'data-type') s.setAttribute(a.name, a.value);
    });
    s.type = old.getAttribute('data-type') || 'text/javascript';
    if (old.nonce) s.nonce = old.nonce;
    var wait = s.src && !old.hasAttribute('async') && !old.hasAttribute('defer');
    if (wait) s.onload = s.onerror = next;
    else s.text = old.text;
    old.parentNode.replaceChild(s, old);
    if (!wait) next();
  })();
}
