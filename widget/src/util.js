/* Small DOM, cookie and storage helpers shared by every widget part. */
/** @typedef {{id: string, c: Object<string, number>, x: (Object<string, number>|undefined), v: string, t: number, m: string, g: number}} Choice */
var D = document, W = window;

function qsa(sel, root) {
  return [].slice.call((root || D).querySelectorAll(sel));
}

function getCookie(name) {
  var parts = D.cookie.split('; ');
  for (var i = 0; i < parts.length; i++) {
    var eq = parts[i].indexOf('=');
    if (parts[i].slice(0, eq) == name) return parts[i].slice(eq + 1);
  }
  return null;
}

function setCookie(name, value, maxAge, domain) {
  D.cookie = name + '=' + value + ';path=/;max-age=' + maxAge + ';samesite=lax' +
    (domain ? ';domain=' + domain : '') + (location.protocol == 'https:' ? ';secure' : '');
}

/* localStorage can throw (private mode, disabled storage): every access goes through here. */
function lsGet(key) {
  try { return JSON.parse(localStorage.getItem(key)); } catch (e) { return null; }
}

function lsSet(key, value) {
  try {
    if (value == null) localStorage.removeItem(key); else localStorage.setItem(key, JSON.stringify(value));
  } catch (e) {}
}

function now() {
  return Math.floor(Date.now() / 1000);
}

function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] != null ? vars[k] : m; });
}
